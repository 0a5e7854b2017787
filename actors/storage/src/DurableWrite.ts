/**
 * Writing a batch through any `BatchSink` until it is durable. A receiver that is down, slow
 * or misconfigured is waited out with capped exponential backoff — forever: JetStream keeps
 * the backlog behind us, and nothing held here is dropped. Items the receiver refuses are
 * isolated (the receiver's own list, or halving the batch until the culprit is alone) and
 * handed to `rejected` with the receiver's reason, so one bad item never blocks the rest.
 */
import { Backoff } from "@bramble/runtime"
import type { Duration } from "effect"
import { Effect } from "effect"
import { type BatchSink, type BatchWriteError, durableIndices } from "./BatchSink.js"

export interface DurableWriteOptions<A> {
  /** Called for each item the receiver refused, with its reason (dead-letter it). */
  readonly rejected: (item: A, reason: string, error: BatchWriteError) => Effect.Effect<void>
  /** Called on each failed attempt that will be retried (receiver away or misconfigured). */
  readonly unavailable?: (error: BatchWriteError, attempt: number) => Effect.Effect<void>
  readonly retryBase?: Duration.Input
  readonly retryCap?: Duration.Input
}

/** Write every item durably (or hand it to `rejected`); never fails. */
export const writeDurably = <A>(sink: BatchSink<A>, items: ReadonlyArray<A>, options: DurableWriteOptions<A>): Effect.Effect<void> =>
  Effect.gen(function*() {
    let remaining = items
    let attempt = 0
    while (remaining.length > 0) {
      const result = yield* Effect.result(sink.write(remaining))
      if (result._tag === "Success") return
      const error = result.failure
      // What is durable is never sent again.
      const done = durableIndices(error)
      const pending = (i: number) => !done.has(i)
      if (error.retryable) {
        remaining = remaining.filter((_, i) => pending(i))
        attempt += 1
        if (options.unavailable) yield* options.unavailable(error, attempt)
        yield* Effect.sleep(retryDelay(options, attempt))
        continue
      }
      const identified = error.rejected.filter((r) => r.index !== undefined && r.index < remaining.length && pending(r.index))
      if (identified.length > 0) {
        const bad = new Set(identified.map((r) => r.index!))
        for (const r of identified) yield* options.rejected(remaining[r.index!]!, r.message, error)
        remaining = remaining.filter((_, i) => pending(i) && !bad.has(i))
        continue
      }
      remaining = remaining.filter((_, i) => pending(i))
      if (remaining.length === 0) return
      if (remaining.length === 1) {
        yield* options.rejected(remaining[0]!, error.detail, error)
        return
      }
      // The receiver refused the batch without saying which item: halve until it is alone.
      const half = Math.ceil(remaining.length / 2)
      yield* writeDurably(sink, remaining.slice(0, half), options)
      yield* writeDurably(sink, remaining.slice(half), options)
      return
    }
  })

/** Capped exponential backoff with jitter, so nodes do not retry in step. */
export const retryDelay = (options: Pick<DurableWriteOptions<unknown>, "retryBase" | "retryCap">, attempt: number): Duration.Duration =>
  Backoff.delay({ initial: options.retryBase ?? "200 millis", max: options.retryCap ?? "5 seconds", factor: 2, jitter: 0.5 }, attempt, Math.random())

/**
 * When a sink's outage is worth a log line: the first failed attempt, every 20th (an outage
 * can last an hour), and whenever the failure changes (e.g. the database is back but now
 * refuses the token). `recovered` forgets the last failure after a successful write.
 */
export const makeOutageReporter = () => {
  let lastKind = ""
  return {
    worthSaying: (error: BatchWriteError, attempt: number): boolean => {
      const kind = `${error.reason}/${error.status ?? ""}`
      const changed = kind !== lastKind
      lastKind = kind
      return attempt === 1 || attempt % 20 === 0 || changed
    },
    recovered: (): void => {
      lastKind = ""
    }
  }
}
