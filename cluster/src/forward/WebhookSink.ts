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
 * does not take the rest of its batch to the dead letters.
 */
import { BatchWriteError } from "@bramble/actor-storage"
import { Effect, Redacted } from "effect"
import { createHmac } from "node:crypto"
import { VERSION } from "../Version.js"
import { type ForwardItem, idempotencyKey } from "./ForwardItem.js"
import type { ForwardSink } from "./ForwardSink.js"
import { httpPost } from "./HttpPost.js"

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
}

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
  const secrets = [
    ...(options.secret === undefined ? [] : [Redacted.value(options.secret)]),
    ...Object.values(options.headers).flatMap((v) => Redacted.isRedacted(v) ? [Redacted.value(v)] : [])
  ]
  return {
    name: options.name,
    describe,
    write: (batch) =>
      Effect.suspend(() => {
        if (batch.length === 0) return Effect.void
        const body = webhookBody(batch)
        return httpPost({ url: options.url, body, headers: webhookHeaders(body, options), timeoutMs: options.timeoutMs, secrets }).pipe(
          Effect.mapError((f) =>
            new BatchWriteError({ reason: f.reason, sink: describe, detail: f.detail, status: f.status, rejected: [], acknowledged: 0 })
          )
        )
      })
  }
}
