import { assert, describe, it } from "@effect/vitest"
import { InfluxSink, type SinkPoint, SinkWriteError } from "@bramble/influx"
import { makeStorage } from "@bramble/actor-storage"
import type { Reading } from "@bramble/protocol"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"

/** An in-memory stand-in for the database: records acknowledged writes; can be told to
 * fail the next writes, refuse a point, or hang until released. */
const makeSink = () => {
  const written: Array<SinkPoint> = []
  const state = { unauthorized: 0, unavailable: 0, refuse: undefined as ((p: SinkPoint) => boolean) | undefined, identify: true, writes: 0, gate: undefined as Deferred.Deferred<void> | undefined }
  const sink = InfluxSink.of({
    describe: "memory",
    ping: Effect.void,
    write: (points) =>
      Effect.gen(function*() {
        state.writes += 1
        if (state.gate) yield* Deferred.await(state.gate)
        if (state.unauthorized > 0) {
          state.unauthorized -= 1
          return yield* Effect.fail(new SinkWriteError({ reason: "Rejected", sink: "memory", detail: "unauthorized", status: 401, rejected: [], acknowledged: 0 }))
        }
        if (state.unavailable > 0) {
          state.unavailable -= 1
          return yield* Effect.fail(new SinkWriteError({ reason: "Unavailable", sink: "memory", detail: "down", status: 503, rejected: [], acknowledged: 0 }))
        }
        const bad = state.refuse === undefined ? [] : points.flatMap((p, index) => state.refuse!(p) ? [index] : [])
        if (bad.length > 0) {
          return yield* Effect.fail(new SinkWriteError({
            reason: "Rejected",
            sink: "memory",
            detail: "bad point",
            status: 400,
            rejected: state.identify ? bad.map((index) => ({ index, line: undefined, message: "bad value" })) : [],
            acknowledged: 0
          }))
        }
        written.push(...points)
      })
  })
  return { written, state, layer: Layer.succeed(InfluxSink, sink) }
}

const reading = (i: number, t = i): Reading => ({ device: `d${i % 3}`, sensor: "env", ts: 1_700_000_000_000 + i, values: { t } })

describe("storage actor", () => {
  it.effect("flush completes when everything sent before it is written, in batches", () =>
    Effect.gen(function*() {
      const db = makeSink()
      const storage = yield* makeStorage({ batchSize: 10, flushIntervalMs: 60_000, rejected: () => Effect.void }).pipe(Effect.provide(db.layer))
      yield* storage.writeReadings(Array.from({ length: 25 }, (_, i) => reading(i)))
      yield* storage.flush
      assert.deepStrictEqual(db.written.map((p) => p.timestampMs - 1_700_000_000_000), Array.from({ length: 25 }, (_, i) => i))
      assert.strictEqual(storage.stats.readingsWritten, 25)
    }).pipe(Effect.scoped))

  it.effect("an unavailable database is retried with backoff until it answers; nothing is lost", () =>
    Effect.gen(function*() {
      const db = makeSink()
      db.state.unavailable = 3
      const storage = yield* makeStorage({ batchSize: 100, flushIntervalMs: 60_000, rejected: () => Effect.void }).pipe(Effect.provide(db.layer))
      yield* storage.writeReadings([reading(1), reading(2)])
      const flushed = yield* Effect.forkChild(storage.flush)
      // Step the clock so each retry's sleep is registered before time moves past it.
      for (let i = 0; i < 60 && flushed.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 second")
      yield* Fiber.join(flushed)
      assert.strictEqual(db.written.length, 2)
      assert.strictEqual(storage.stats.writeFailures, 3)
      assert.isUndefined(storage.stats.unavailableSince)
    }).pipe(Effect.scoped))

  it.effect("a refused credential holds the data and retries until the token is fixed; nothing is dead-lettered", () =>
    Effect.gen(function*() {
      const db = makeSink()
      db.state.unauthorized = 3
      const dead: Array<unknown> = []
      const storage = yield* makeStorage({ batchSize: 100, flushIntervalMs: 60_000, rejected: (p) => Effect.sync(() => dead.push(p)) }).pipe(Effect.provide(db.layer))
      yield* storage.writeReadings([reading(1), reading(2)])
      const flushed = yield* Effect.forkChild(storage.flush)
      for (let i = 0; i < 60 && flushed.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 second")
      yield* Fiber.join(flushed)
      assert.strictEqual(db.written.length, 2)
      assert.deepStrictEqual(dead, [])
    }).pipe(Effect.scoped))

  it.effect("a point the database refuses is dead-lettered and the rest are written", () =>
    Effect.gen(function*() {
      for (const identify of [true, false]) {
        const db = makeSink()
        db.state.refuse = (p) => p.fields["t"] === -1
        db.state.identify = identify
        const dead: Array<string> = []
        const storage = yield* makeStorage({ batchSize: 100, flushIntervalMs: 60_000, rejected: (p, reason) => Effect.sync(() => dead.push(`${p.timestampMs}:${reason}`)) }).pipe(Effect.provide(db.layer))
        yield* storage.writeReadings(Array.from({ length: 9 }, (_, i) => reading(i, i === 5 ? -1 : i)))
        yield* storage.flush
        assert.strictEqual(db.written.length, 8, `identify=${identify}`)
        assert.deepStrictEqual(dead.map((d) => d.split(":")[0]), [String(1_700_000_000_005)])
      }
    }).pipe(Effect.scoped))

  it.effect("a full mailbox slows the sender down while the database is slow (backpressure, no drop)", () =>
    Effect.gen(function*() {
      const db = makeSink()
      db.state.gate = yield* Deferred.make<void>()
      const storage = yield* makeStorage({ batchSize: 1, flushIntervalMs: 60_000, capacity: 2, rejected: () => Effect.void }).pipe(Effect.provide(db.layer))
      const sender = yield* Effect.forkChild(Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) => storage.writeReadings([reading(i)]), { discard: true }))
      yield* TestClock.adjust("1 second")
      // The writer is stuck on the first batch: the sender cannot have handed over everything.
      assert.isUndefined(sender.pollUnsafe())
      yield* Deferred.succeed(db.state.gate!, undefined)
      yield* Fiber.join(sender)
      yield* storage.flush
      assert.strictEqual(db.written.length, 20)
    }).pipe(Effect.scoped))
})

describe("lag histogram", () => {
  it("quantiles come from the bucket bounds; the top bucket reports the maximum", async () => {
    const { makeLagHistogram, recordLag, lagQuantile } = await import("@bramble/actor-storage")
    const h = makeLagHistogram()
    for (const lag of [3, 4, 4, 7, 40, 900]) recordLag(h, lag)
    assert.strictEqual(lagQuantile(h, 0.5), 5)
    assert.strictEqual(lagQuantile(h, 0.99), 1_000)
    recordLag(h, 10_000_000)
    assert.strictEqual(lagQuantile(h, 1), 10_000_000)
    assert.isUndefined(lagQuantile(makeLagHistogram(), 0.5))
  })
})
