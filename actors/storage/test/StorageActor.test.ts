import { assert, describe, it } from "@effect/vitest"
import { InfluxSink, type SinkPoint, SinkWriteError } from "@bramble/influx"
import { influxBatchSink, makeStorage } from "@bramble/actor-storage"
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
  return { written, state, sink, layer: Layer.succeed(InfluxSink, sink) }
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

/** Let the actor's fibres run (real turns of the event loop) until `done`, failing after 5 s. */
const until = (what: string, done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1_000 && !done(); i++) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
    assert.isTrue(done(), `waited for ${what}`)
  })
/** Give the actor's fibres turns to do whatever they can do now (nothing is awaited). */
const settleA = () => Effect.promise(() => new Promise((r) => setTimeout(r, 50)))

describe("storage actor - new sink settings while running", () => {
  it.effect("taken at the next batch: the write in flight finishes through the old sink, then it is released; nothing lost, flush waits for both", () =>
    Effect.gen(function*() {
      const a = makeSink()
      a.state.gate = yield* Deferred.make<void>()
      const storage = yield* makeStorage({ batchSize: 4, flushIntervalMs: 60_000, rejected: () => Effect.void }).pipe(Effect.provide(a.layer))
      const offsets = (points: ReadonlyArray<SinkPoint>) => points.map((p) => p.timestampMs - 1_700_000_000_000)
      // Four readings: one batch, held in flight by a slow database.
      for (let i = 0; i < 4; i++) yield* storage.writeReadings([reading(i)])
      yield* until("the first batch in flight", () => a.state.writes === 1)

      const b = makeSink()
      let released = { a: 0, b: 0 }
      yield* storage.reconfigure({ sink: influxBatchSink(InfluxSink.of(b.sink)), batchSize: 2, release: Effect.sync(() => void (released.b += 1)) })
      for (let i = 4; i < 9; i++) yield* storage.writeReadings([reading(i)])
      const flushed = yield* Effect.forkChild(storage.flush)
      yield* settleA()
      assert.strictEqual(b.state.writes, 0, "nothing through the new sink while the old one's write is in flight")
      assert.strictEqual(released.b, 0)
      assert.isUndefined(flushed.pollUnsafe())

      yield* Deferred.succeed(a.state.gate!, undefined)
      yield* Fiber.join(flushed)
      assert.deepStrictEqual(offsets(a.written), [0, 1, 2, 3])
      assert.deepStrictEqual(offsets(b.written), [4, 5, 6, 7, 8])
      // The new batch size: two readings make a write, without a flush or a tick.
      yield* storage.writeReadings([reading(9)])
      yield* storage.writeReadings([reading(10)])
      yield* until("a write of 2 through the new sink", () => b.written.length === 7)

      // Settings replaced before they were taken are released unused; the last ones are taken.
      const c = makeSink()
      const d = makeSink()
      released = { a: 0, b: 0 }
      yield* storage.reconfigure({ sink: influxBatchSink(InfluxSink.of(c.sink)), batchSize: 2, release: Effect.sync(() => void (released.a += 1)) })
      yield* storage.reconfigure({ sink: influxBatchSink(InfluxSink.of(d.sink)), batchSize: 2, release: Effect.void })
      assert.deepStrictEqual(released, { a: 1, b: 0 })
      yield* storage.writeReadings([reading(11)])
      yield* storage.flush
      assert.deepStrictEqual(released, { a: 1, b: 1 }, "b released once d took over")
      assert.deepStrictEqual([offsets(c.written), offsets(d.written)], [[], [11]])
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
