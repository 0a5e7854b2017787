/**
 * How a sink fails. The storage actor decides what to do: retry `Unavailable` and `Timeout`
 * with backoff (writes are idempotent, so resending a batch that did land is harmless),
 * dead-letter what is `Rejected`. The sink itself never retries and never buffers.
 */
import { Data } from "effect"

/**
 * - `Unavailable`: connection refused or reset, DNS failure, HTTP 5xx or 429. Retryable.
 * - `Rejected`: the point or request is unacceptable (invalid point, HTTP 4xx such as a
 *   parse error, unknown database, bad credentials). Retrying the same data will not help.
 * - `Timeout`: no answer within the configured timeout. Retryable; the batch may or may
 *   not have been written.
 */
export type SinkWriteReason = "Unavailable" | "Rejected" | "Timeout"

/** A point the sink or the server refused, as far as it can be identified. */
export interface RejectedPoint {
  /** Index into the array given to `write`, when known. */
  readonly index: number | undefined
  /** The line-protocol line, when it was built or the server quoted it. */
  readonly line: string | undefined
  readonly message: string
}

/** A `write` or `ping` that did not succeed. Never carries a token or password. */
export class SinkWriteError extends Data.TaggedError("SinkWriteError")<{
  readonly reason: SinkWriteReason
  /** The sink's `describe`, so logs say which database failed. */
  readonly sink: string
  /** What went wrong; for server refusals, the server's own message. */
  readonly detail: string
  /** HTTP status, when the server answered. */
  readonly status: number | undefined
  /** Points refused before sending, or lines the server named in its answer. */
  readonly rejected: ReadonlyArray<RejectedPoint>
  /**
   * How many points of this `write` call the server had acknowledged, in earlier batches,
   * before this failure. Those are durable; a retry may resend them harmlessly.
   */
  readonly acknowledged: number
  readonly cause?: unknown
}> {
  /** Whether trying the same write again later can succeed. */
  get retryable(): boolean {
    return this.reason !== "Rejected"
  }

  override get message(): string {
    const status = this.status === undefined ? "" : ` (HTTP ${this.status})`
    const rejected = this.rejected.length === 0 ? "" : `; ${this.rejected.length} point(s) rejected`
    return `${this.reason}: ${this.sink}${status}: ${this.detail}${rejected}`
  }
}

/** The sink's options cannot work (bad URL, batch size, credentials without a user). */
export class SinkConfigError extends Data.TaggedError("SinkConfigError")<{
  readonly detail: string
}> {
  override get message(): string {
    return `influx sink: ${this.detail}`
  }
}
