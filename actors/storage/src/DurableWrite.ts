/**
 * Writing points until they are durable. A database that is down or slow is waited out
 * with capped exponential backoff — forever: JetStream keeps the backlog behind us, and
 * nothing held here is dropped. Points the database refuses are isolated (the server's
 * own list, or halving the batch until the culprit is alone) and dead-lettered with the
 * server's reason, so one bad point never blocks the rest.
 */
import { InfluxSink, type SinkPoint, type SinkWriteError } from "@bramble/influx"
import { Backoff } from "@bramble/runtime"
import type { Duration } from "effect"
import { Effect } from "effect"

export interface DurableWriteOptions {
  /** Called for each point the database refused, with its reason. */
  readonly rejected: (point: SinkPoint, reason: string) => Effect.Effect<void>
  /** Called on each failed attempt while the database is unavailable. */
  readonly unavailable?: (error: SinkWriteError, attempt: number) => Effect.Effect<void>
  readonly retryBase?: Duration.Input
  readonly retryCap?: Duration.Input
}

/** Write every point durably (or dead-letter it); never fails. */
export const writeDurably = (points: ReadonlyArray<SinkPoint>, options: DurableWriteOptions): Effect.Effect<void, never, InfluxSink> =>
  Effect.gen(function*() {
    const sink = yield* InfluxSink
    let remaining = points
    let attempt = 0
    while (remaining.length > 0) {
      const result = yield* Effect.result(sink.write(remaining))
      if (result._tag === "Success") return
      const error = result.failure
      // Everything before `acknowledged` is durable: never send it again.
      remaining = remaining.slice(error.acknowledged)
      // A refused credential or a missing database/bucket is the operator's to fix, not the
      // points' fault: hold everything and retry (dead-lettering it would drain real data).
      const misconfigured = error.status === 401 || error.status === 403 || error.status === 404
      if (error.retryable || misconfigured) {
        attempt += 1
        if (options.unavailable) yield* options.unavailable(error, attempt)
        yield* Effect.sleep(retryDelay(options, attempt))
        continue
      }
      const identified = error.rejected.filter((r) => r.index !== undefined && r.index >= error.acknowledged)
      if (identified.length > 0) {
        const bad = new Set(identified.map((r) => r.index! - error.acknowledged))
        for (const r of identified) yield* options.rejected(remaining[r.index! - error.acknowledged]!, r.message)
        remaining = remaining.filter((_, i) => !bad.has(i))
        continue
      }
      if (remaining.length === 1) {
        yield* options.rejected(remaining[0]!, error.detail)
        return
      }
      // The server refused the batch without saying which point: halve until it is alone.
      const half = Math.ceil(remaining.length / 2)
      yield* writeDurably(remaining.slice(0, half), options)
      yield* writeDurably(remaining.slice(half), options)
      return
    }
  })

/** Capped exponential backoff with jitter, so nodes do not retry in step. */
const retryDelay = (options: DurableWriteOptions, attempt: number): Duration.Duration =>
  Backoff.delay({ initial: options.retryBase ?? "200 millis", max: options.retryCap ?? "5 seconds", factor: 2, jitter: 0.5 }, attempt, Math.random())
