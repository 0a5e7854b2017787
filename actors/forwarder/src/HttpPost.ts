/**
 * One HTTP POST of a forward target, with Node's own `fetch` (no client library), and how
 * its outcome maps onto the sink contract: 2xx accepted; 5xx, 408, 425, 429, a network
 * error or no answer in time are worth retrying; a refused credential (401, 403 — and what
 * else a receiver's API says about its credentials, ThingsBoard's 404 for a token that names
 * no device) and a redirect (the URL is wrong) are the operator's to fix, so the data is
 * held and retried (`Misconfigured`, like a database refusing Bramble's token in
 * actors/storage InfluxBatchSink); any other 4xx (400, 413, 422…) refuses these items for
 * good. Raw exceptions are wrapped here, once. Secrets (a ThingsBoard token is
 * part of the URL) are cut out of anything kept from the answer, and the URL is never put
 * into a message.
 */
import type { BatchWriteReason } from "@bramble/actor-storage"
import { Effect } from "effect"

/** A POST that was not accepted. */
export interface HttpFailure {
  readonly reason: BatchWriteReason
  readonly status: number | undefined
  /** The start of the receiver's answer (e.g. `{"error":"bad ts"}`), or what went wrong
   * without one (`connect ECONNREFUSED 127.0.0.1:8080 (ECONNREFUSED)`). */
  readonly detail: string
}

export interface HttpPost {
  readonly url: string
  readonly body: string
  readonly headers: Readonly<Record<string, string>>
  readonly timeoutMs: number
  /** Strings never to repeat (tokens, secrets). */
  readonly secrets?: ReadonlyArray<string>
  /** Statuses that blame the request's credentials rather than its items (default 401, 403). */
  readonly credentialStatuses?: ReadonlySet<number>
}

/** How much of a refusal's body is kept (dead letters, logs). */
export const BODY_EXCERPT_CHARS = 500

const RETRYABLE_4XX = new Set([408, 425, 429])

/** Statuses by which any HTTP receiver refuses the request's credentials, not its content. */
export const CREDENTIAL_STATUSES: ReadonlySet<number> = new Set([401, 403])

/**
 * What a status means for the data: `credentialStatuses` are the receiver's way of saying
 * the target's settings are wrong (held, `Misconfigured`); a receiver's API may add its own
 * (ThingsBoard's 404 for an unknown device token).
 */
export const classifyStatus = (status: number, credentialStatuses: ReadonlySet<number> = CREDENTIAL_STATUSES): BatchWriteReason | "Accepted" => {
  if (status >= 200 && status < 300) return "Accepted"
  if (status >= 500 || RETRYABLE_4XX.has(status)) return "Unavailable"
  if (credentialStatuses.has(status)) return "Misconfigured"
  if (status >= 400) return "Rejected"
  return "Misconfigured"
}

/** Whether `failure` is the receiver refusing the target's credentials (not a redirect). */
export const isCredentialRefusal = (failure: HttpFailure): boolean =>
  failure.reason === "Misconfigured" && failure.status !== undefined && failure.status >= 400

/** Remove every secret from `text`. */
export const scrub = (text: string, secrets: ReadonlyArray<string> = []): string => {
  let out = text
  for (const secret of secrets) {
    if (secret.length > 0) {
      out = out.split(secret).join("[redacted]")
      const encoded = encodeURIComponent(secret)
      if (encoded !== secret) out = out.split(encoded).join("[redacted]")
    }
  }
  return out
}

/** The start of a response body, on one line. */
export const excerpt = (text: string, secrets?: ReadonlyArray<string>): string => {
  const line = scrub(text, secrets).replace(/\s+/g, " ").trim()
  return line.length > BODY_EXCERPT_CHARS ? `${line.slice(0, BODY_EXCERPT_CHARS)}…` : line
}

const networkDetail = (error: unknown, timeoutMs: number): HttpFailure => {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } }
  if (e?.name === "TimeoutError" || e?.name === "AbortError") {
    return { reason: "Timeout", status: undefined, detail: `no answer within ${timeoutMs} ms` }
  }
  const code = e?.cause?.code
  const why = e?.cause?.message ?? e?.message ?? String(error)
  return { reason: "Unavailable", status: undefined, detail: code === undefined ? why : `${why} (${code})` }
}

/**
 * POST `body`; succeeds on 2xx. Interrupting it aborts the request.
 *
 * The time limit is Effect's, not `AbortSignal.any([signal, AbortSignal.timeout(ms)])`: in
 * Node 20 the composite holds its timeout signal weakly, a GC can collect it before it fires
 * (nodejs/node#57736), and a receiver that never answered then held its batch for good.
 * Timing out interrupts the request, which aborts `signal`.
 */
export const httpPost = (request: HttpPost): Effect.Effect<void, HttpFailure> =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(request.url, {
        method: "POST",
        headers: request.headers,
        body: request.body,
        redirect: "manual",
        signal
      })
      // Read the body either way, so the connection can be reused.
      const text = await response.text().catch(() => "")
      return { status: response.status, text }
    },
    catch: (error) => networkDetail(error, request.timeoutMs)
  }).pipe(
    Effect.timeoutOrElse({
      duration: request.timeoutMs,
      orElse: () => Effect.fail<HttpFailure>({ reason: "Timeout", status: undefined, detail: `no answer within ${request.timeoutMs} ms` })
    }),
    Effect.flatMap(({ status, text }) => {
      const meaning = classifyStatus(status, request.credentialStatuses)
      if (meaning === "Accepted") return Effect.void
      const body = excerpt(text, request.secrets)
      return Effect.fail<HttpFailure>({
        reason: meaning,
        status,
        detail: status >= 300 && status < 400 ? "the URL redirects; configure the final URL" : body === "" ? "(empty body)" : body
      })
    })
  )
