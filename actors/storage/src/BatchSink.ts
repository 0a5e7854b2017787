/**
 * The one contract every sink implements: the time-series database behind the storage
 * actor, and each forward target (ThingsBoard, webhooks) of actors/forwarder. A sink
 * only writes a batch and says precisely how it failed; everything that makes the data
 * safe — retrying with backoff while the receiver is away, isolating and dead-lettering
 * what it refuses, acknowledging the log only after a durable write, backpressure — lives
 * once, in `writeDurably` (DurableWrite.ts) and in the actors that call it. So a new sink
 * is one module, and it inherits those guarantees.
 *
 * A sink never retries, never buffers and never drops on its own.
 */
import { Data, type Effect } from "effect"

/**
 * - `Unavailable`: connection refused or reset, DNS failure, HTTP 5xx or 429. Retried.
 * - `Timeout`: no answer in time; the batch may or may not have landed. Retried.
 * - `Misconfigured`: the receiver refuses every write until an operator fixes something
 *   (a refused database token, a missing database). Retried: dead-lettering would drain
 *   real data because of a typo.
 * - `Rejected`: these items are unacceptable; sending them again will not help. The items
 *   named in `rejected` (or, when none is named, each item alone) are dead-lettered.
 */
export type BatchWriteReason = "Unavailable" | "Timeout" | "Misconfigured" | "Rejected"

/** An item the sink or the receiver refused, as far as it can be identified. */
export interface RejectedItem {
  /** Index into the batch given to `write`; undefined when the receiver did not say which. */
  readonly index: number | undefined
  /** Why, in the receiver's words where it gave any (never a secret). */
  readonly message: string
}

/** A `write` that did not succeed. Never carries a token, password or signing secret. */
export class BatchWriteError extends Data.TaggedError("BatchWriteError")<{
  readonly reason: BatchWriteReason
  /** The sink's `describe`, so logs say which receiver failed. */
  readonly sink: string
  /** What went wrong; for refusals, the receiver's own message (an excerpt). */
  readonly detail: string
  /** HTTP status, when the receiver answered. */
  readonly status: number | undefined
  readonly rejected: ReadonlyArray<RejectedItem>
  /** How many leading items of the batch were durable before the failure (never resent). */
  readonly acknowledged: number
  /** Further items, by index, that were durable before the failure (a sink that sends one
   * request per group, like ThingsBoard's per-device API, knows which groups landed). */
  readonly alsoAcknowledged?: ReadonlyArray<number> | undefined
  readonly cause?: unknown
}> {
  /** Whether sending the same batch again later can succeed. */
  get retryable(): boolean {
    return this.reason !== "Rejected"
  }

  override get message(): string {
    const status = this.status === undefined ? "" : ` (HTTP ${this.status})`
    const rejected = this.rejected.length === 0 ? "" : `; ${this.rejected.length} item(s) refused`
    return `${this.reason}: ${this.sink}${status}: ${this.detail}${rejected}`
  }
}

/**
 * A sink of items `A`: writes a batch, all of it, or fails saying what is durable and what
 * was refused. An empty batch is a no-op.
 */
export interface BatchSink<A> {
  /** Short, stable name (`influx`, a forward target's name): labels in stats and metrics. */
  readonly name: string
  /** e.g. `influx-v2 http://127.0.0.1:8086 org=bramble bucket=bramble`; never secrets. */
  readonly describe: string
  readonly write: (batch: ReadonlyArray<A>) => Effect.Effect<void, BatchWriteError>
}

/** The indices of `error`'s batch that are durable. */
export const durableIndices = (error: BatchWriteError): ReadonlySet<number> => {
  const done = new Set<number>(error.alsoAcknowledged ?? [])
  for (let i = 0; i < error.acknowledged; i++) done.add(i)
  return done
}
