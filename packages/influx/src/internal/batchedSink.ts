/**
 * What both wire paths share: encode and check every point before anything is sent, split
 * into batches, send them one after another, each within the timeout, and stop at the
 * first failure. A call completes only when the server has acknowledged every batch; the
 * sink keeps nothing once the call returns, so a database outage holds no memory here.
 */
import { Duration, Effect, Result } from "effect"
import type { InfluxSink } from "../InfluxSink.js"
import type { SinkPoint } from "../SinkPoint.js"
import { toLineProtocol } from "../SinkPoint.js"
import { type RejectedPoint, SinkWriteError, type SinkWriteReason } from "../SinkWriteError.js"

/** Why one request failed, before the sink adds who it is and what was already written. */
export interface RequestFailure {
  readonly reason: SinkWriteReason
  readonly detail: string
  readonly status: number | undefined
  readonly rejected: ReadonlyArray<RejectedPoint>
  readonly cause: unknown
}

export const requestFailure = (
  reason: SinkWriteReason,
  detail: string,
  extra?: { readonly status?: number | undefined; readonly rejected?: ReadonlyArray<RejectedPoint>; readonly cause?: unknown }
): RequestFailure => ({
  reason,
  detail,
  status: extra?.status,
  rejected: extra?.rejected ?? [],
  cause: extra?.cause
})

export interface BatchedSinkOptions {
  readonly describe: string
  readonly batchSize: number
  readonly timeout: Duration.Duration
  /** Sends one batch; `offset` is the index of its first line in the `write` call. */
  readonly send: (lines: ReadonlyArray<string>, offset: number) => Effect.Effect<void, RequestFailure>
  readonly ping: Effect.Effect<void, RequestFailure>
  /** Credentials to cut out of anything the server says back (a proxy may quote them). */
  readonly secrets?: ReadonlyArray<string>
}

/** Replace every occurrence of a secret (and its base64 form, as in Basic auth) in `text`. */
const scrub = (text: string, secrets: ReadonlyArray<string>): string => {
  let out = text
  for (const secret of secrets) {
    if (secret.length < 4) continue
    for (const form of [secret, Buffer.from(secret).toString("base64")]) out = out.split(form).join("[redacted]")
  }
  return out
}

export const makeBatchedSink = (options: BatchedSinkOptions): InfluxSink["Service"] => {
  const { batchSize, describe, timeout } = options
  const secrets = options.secrets ?? []
  const toError = (failure: RequestFailure, acknowledged: number) =>
    new SinkWriteError({
      reason: failure.reason,
      sink: describe,
      detail: scrub(failure.detail, secrets),
      status: failure.status,
      rejected: secrets.length === 0 ? failure.rejected : failure.rejected.map((r) => ({ ...r, message: scrub(r.message, secrets) })),
      acknowledged,
      // The raw cause may hold the server's unscrubbed answer: keep it only without secrets.
      cause: secrets.length === 0 ? failure.cause : undefined
    })
  // Interrupting the request aborts it (its AbortSignal fires), so a timed-out request
  // does not linger holding a socket.
  const withinTimeout = <A>(effect: Effect.Effect<A, RequestFailure>) =>
    Effect.timeoutOrElse(effect, {
      duration: timeout,
      orElse: () =>
        Effect.fail(requestFailure("Timeout", `no answer within ${Duration.format(timeout)}`))
    })

  const write = Effect.fn("InfluxSink.write")(function*(points: ReadonlyArray<SinkPoint>) {
    yield* Effect.annotateCurrentSpan({ "sink": describe, "points": points.length })
    const lines: Array<string> = []
    const refused: Array<RejectedPoint> = []
    points.forEach((point, index) => {
      const line = toLineProtocol(point)
      if (Result.isSuccess(line)) lines.push(line.success)
      else refused.push({ index, line: undefined, message: line.failure.join("; ") })
    })
    if (refused.length > 0) {
      return yield* toError(
        requestFailure(
          "Rejected",
          `${refused.length} of ${points.length} point(s) cannot be written exactly; nothing was sent (first: point ${refused[0]?.index}: ${refused[0]?.message})`,
          { rejected: refused }
        ),
        0
      )
    }
    for (let offset = 0; offset < lines.length; offset += batchSize) {
      const batch = lines.slice(offset, offset + batchSize)
      yield* withinTimeout(options.send(batch, offset)).pipe(
        Effect.mapError((failure) => toError(failure, offset))
      )
    }
  })

  const ping = withinTimeout(options.ping).pipe(
    Effect.mapError((failure) => toError(failure, 0)),
    Effect.withSpan("InfluxSink.ping", { attributes: { sink: describe } })
  )

  return { write, ping, describe }
}
