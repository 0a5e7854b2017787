/**
 * Any HTTP endpoint as a forward sink: JSON batches POSTed to a URL,
 *
 *   {"items": [{"id": "READINGS:42", "stream": "READINGS", "seq": 42,
 *               "subject": "readings.3.greenhouse-1.env", "kind": "reading", "data": {…}}]}
 *
 * `data` is the reading, window result or alarm as Bramble's protocol defines it. `id`
 * (stream + sequence) is the idempotency key: delivery is at-least-once, so a receiver that
 * must not count an item twice remembers the ids it has seen. With a secret, every request
 * carries `X-Bramble-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`.
 *
 * A 4xx refuses the batch without saying which item is at fault, so the batch is halved
 * until the refused items are alone (actors/storage `writeDurably`): one malformed item
 * does not take the rest of its batch to the dead letters. A 401 or 403 is not about the
 * items but about the target's credentials (an `Authorization` header, the signing
 * secret): the batch is held and retried (`Misconfigured`) with a message naming the
 * settings to check, and the secrets are read again before the next attempt, so a fixed
 * secret file resumes delivery without a restart.
 */
import { BatchWriteError } from "@bramble/actor-storage"
import { VERSION } from "@bramble/protocol"
import { Effect, Redacted } from "effect"
import { createHmac } from "node:crypto"
import { type ForwardItem, idempotencyKey } from "./ForwardItem.js"
import type { ForwardSink } from "./ForwardSink.js"
import { httpPost, isCredentialRefusal } from "./HttpPost.js"

/** The signature header (the value is `sha256=<hex>`). */
export const SIGNATURE_HEADER = "X-Bramble-Signature"

/** One item of a webhook batch. */
export interface WebhookItem {
  readonly id: string
  readonly stream: string
  readonly seq: number
  readonly subject: string
  readonly kind: ForwardItem["kind"]
  readonly data: ForwardItem["data"]
}

/** The JSON body of a batch. */
export const webhookBody = (batch: ReadonlyArray<ForwardItem>): string =>
  JSON.stringify({
    items: batch.map((item): WebhookItem => ({
      id: idempotencyKey(item),
      stream: item.stream,
      seq: item.seq,
      subject: item.subject,
      kind: item.kind,
      data: item.data
    }))
  })

/** `sha256=<hex>`: HMAC-SHA256 of the body's UTF-8 bytes with `secret`. */
export const webhookSignature = (body: string, secret: string): string =>
  `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`

export interface WebhookSinkOptions {
  /** The forward target's name. */
  readonly name: string
  readonly url: string
  readonly timeoutMs: number
  /** Extra headers (configured values and those read from the environment). */
  readonly headers: Readonly<Record<string, Redacted.Redacted<string> | string>>
  readonly secret: Redacted.Redacted<string> | undefined
  readonly source: string
  /** The settings that make the credentials (`forward[1].headersEnv.Authorization (HOOK_AUTH)`),
   * for the message when the receiver refuses them. */
  readonly credentialSettings?: string
  /** Reads the secret and headers again (`webhookSecrets`), after the receiver refused them. */
  readonly reloadSecrets?: Effect.Effect<WebhookSecrets, { readonly message: string }>
}

/** A webhook target's signing secret and headers. */
export interface WebhookSecrets {
  readonly secret: Redacted.Redacted<string> | undefined
  readonly headers: Readonly<Record<string, Redacted.Redacted<string> | string>>
}

/** The operator's message when the receiver refuses the target's credentials. */
export const credentialRefusalMessage = (options: Pick<WebhookSinkOptions, "name" | "credentialSettings">, status: number | undefined, answer: string): string =>
  `the receiver of webhook target ${options.name} refused its credentials (HTTP ${status}): check ${options.credentialSettings ?? "its headers and signing secret"}. ` +
  `The batch is held, not dead-lettered, and retried until they are accepted; the receiver said: ${answer}`

/** The headers of one request for `body`. */
export const webhookHeaders = (body: string, options: Pick<WebhookSinkOptions, "headers" | "secret" | "name">): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(options.headers)) headers[name] = Redacted.isRedacted(value) ? Redacted.value(value) : value
  headers["content-type"] = "application/json"
  headers["user-agent"] = `bramble/${VERSION} (forward ${options.name})`
  if (options.secret !== undefined) headers[SIGNATURE_HEADER] = webhookSignature(body, Redacted.value(options.secret))
  return headers
}

/** The webhook sink of one forward target. */
export const makeWebhookSink = (options: WebhookSinkOptions): ForwardSink => {
  // The origin only: webhook URLs often carry a secret in their path or query (Slack, Discord).
  const describe = `webhook ${new URL(options.url).origin} (${options.source})`
  let current: WebhookSecrets = { secret: options.secret, headers: options.headers }
  // Every secret ever read stays one to scrub.
  const secrets = new Set<string>()
  const remember = (s: WebhookSecrets) => {
    if (s.secret !== undefined) secrets.add(Redacted.value(s.secret))
    for (const v of Object.values(s.headers)) if (Redacted.isRedacted(v)) secrets.add(Redacted.value(v))
  }
  remember(current)
  const reload = Effect.suspend(() =>
    options.reloadSecrets === undefined ? Effect.void : Effect.ignore(Effect.map(options.reloadSecrets, (fresh) => {
      remember(fresh)
      current = fresh
    }))
  )
  return {
    name: options.name,
    describe,
    write: (batch) =>
      Effect.suspend(() => {
        if (batch.length === 0) return Effect.void
        const body = webhookBody(batch)
        const headers = webhookHeaders(body, { name: options.name, ...current })
        return httpPost({ url: options.url, body, headers, timeoutMs: options.timeoutMs, secrets: [...secrets] }).pipe(
          Effect.catch((f) =>
            Effect.andThen(
              isCredentialRefusal(f) ? reload : Effect.void,
              Effect.fail(
                new BatchWriteError({
                  reason: f.reason,
                  sink: describe,
                  detail: isCredentialRefusal(f) ? credentialRefusalMessage(options, f.status, f.detail) : f.detail,
                  status: f.status,
                  rejected: [],
                  acknowledged: 0
                })
              )
            )
          )
        )
      })
  }
}
