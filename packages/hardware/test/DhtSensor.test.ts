import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { DhtDriver, readWithRetry, SimulatedDht } from "@bramble/hardware"

const noFaults = DhtDriver.layerSimulated({ seed: 7, checksumErrorRate: 0, dropoutRate: 0 })

const gaps = (times: ReadonlyArray<number>) => times.slice(1).map((t, i) => t - times[i]!)

describe("DhtDriver interval", () => {
  it.effect("dht - a DHT22 is never hit faster than every 2 s, however often it is read", () =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      const simulated = yield* SimulatedDht
      const sensor = yield* driver.open({ model: "dht22", pin: 4 })
      assert.strictEqual(sensor.minIntervalMs, 2_000)

      // Ten concurrent readers, then a tight loop of ten more.
      const burst = yield* Effect.forkChild(Effect.all(Array.from({ length: 10 }, () => sensor.read), {
        concurrency: "unbounded"
      }))
      const loop = yield* Effect.forkChild(Effect.forEach(Array.from({ length: 10 }), () => sensor.read))
      yield* TestClock.adjust("60 seconds")
      const readings = [...(yield* Fiber.join(burst)), ...(yield* Fiber.join(loop))]

      const hits = yield* simulated.hits(4)
      assert.strictEqual(hits.length, 20)
      for (const gap of gaps(hits)) assert.isAtLeast(gap, 2_000)
      assert.deepStrictEqual(readings.map((r) => r.readAtMs).sort((a, b) => a - b), hits)
    }).pipe(Effect.provide(noFaults)))

  it.effect("dht - a DHT11 is never hit faster than every 1 s", () =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      const simulated = yield* SimulatedDht
      const sensor = yield* driver.open({ model: "dht11", pin: 17 })
      const fiber = yield* Effect.forkChild(Effect.forEach(Array.from({ length: 8 }), () => sensor.read))
      yield* TestClock.adjust("20 seconds")
      yield* Fiber.join(fiber)
      const hits = yield* simulated.hits(17)
      assert.deepStrictEqual(gaps(hits), Array.from({ length: 7 }, () => 1_000))
    }).pipe(Effect.provide(noFaults)))

  it.effect("dht - a read asked for too early waits until the interval has passed", () =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      const sensor = yield* driver.open({ model: "dht22", pin: 4 })
      const first = yield* sensor.read
      assert.strictEqual(first.readAtMs, 0)

      yield* TestClock.adjust(500)
      const early = yield* Effect.forkChild(sensor.read)
      yield* TestClock.adjust(1_499)
      assert.isUndefined(early.pollUnsafe())
      yield* TestClock.adjust(1)
      const second = yield* Fiber.join(early)
      assert.strictEqual(second.readAtMs, 2_000)
    }).pipe(Effect.provide(noFaults)))

  it.effect("dht - two handles on the same pin share the interval", () =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      const simulated = yield* SimulatedDht
      const a = yield* driver.open({ model: "dht22", pin: 5 })
      const b = yield* driver.open({ model: "dht22", pin: 5 })
      const fiber = yield* Effect.forkChild(Effect.all([a.read, b.read, a.read, b.read], { concurrency: "unbounded" }))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* simulated.hits(5), [0, 2_000, 4_000, 6_000])
    }).pipe(Effect.provide(noFaults)))

  it.effect("dht - failed hits count towards the interval too", () =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      const simulated = yield* SimulatedDht
      const sensor = yield* driver.open({ model: "dht22", pin: 4 })
      yield* simulated.failNext(4, ["Timeout"])
      const failed = yield* Effect.exit(sensor.read)
      assert.isTrue(Exit.isFailure(failed))
      const fiber = yield* Effect.forkChild(sensor.read)
      yield* TestClock.adjust(2_000)
      assert.strictEqual((yield* Fiber.join(fiber)).readAtMs, 2_000)
    }).pipe(Effect.provide(noFaults)))
})

describe("DhtDriver open", () => {
  it.effect("dht - a pin that is not a header GPIO fails with NoDevice", () =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      for (const pin of [-1, 28, 40, 4.5]) {
        const error = yield* Effect.flip(driver.open({ model: "dht22", pin }))
        assert.strictEqual(error._tag, "DhtReadError")
        assert.strictEqual(error._tag === "DhtReadError" ? error.reason : undefined, "NoDevice")
      }
    }).pipe(Effect.provide(noFaults)))

  it.effect("dht - a simulated pin without a sensor fails with NoDevice", () =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      const error = yield* Effect.flip(driver.open({ model: "dht11", pin: 22 }))
      assert.strictEqual(error._tag === "DhtReadError" ? error.reason : error._tag, "NoDevice")
    }).pipe(Effect.provide(DhtDriver.layerSimulated({ absentPins: [22] }))))

  it.effect("dht - reading after the sensor's scope closed is a defect", () =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      const sensor = yield* Effect.scoped(driver.open({ model: "dht22", pin: 4 }))
      const exit = yield* Effect.exit(sensor.read)
      assert.isTrue(Exit.hasDies(exit))
    }).pipe(Effect.provide(noFaults)))
})

describe("readWithRetry", () => {
  it.effect("dht - readWithRetry retries a checksum error at the next allowed time", () =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      const simulated = yield* SimulatedDht
      const sensor = yield* driver.open({ model: "dht22", pin: 4 })
      yield* simulated.failNext(4, ["Checksum"])
      const fiber = yield* Effect.forkChild(readWithRetry(sensor, { attempts: 3 }))
      yield* TestClock.adjust(1_999)
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust(1)
      const reading = yield* Fiber.join(fiber)
      assert.strictEqual(reading.readAtMs, 2_000)
      assert.deepStrictEqual(yield* simulated.hits(4), [0, 2_000])
    }).pipe(Effect.provide(noFaults)))

  it.effect("dht - readWithRetry gives up after the attempts with the last typed error", () =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      const simulated = yield* SimulatedDht
      const sensor = yield* driver.open({ model: "dht22", pin: 4 })
      yield* simulated.failNext(4, ["Checksum", "Checksum", "Timeout", "Checksum"])
      const fiber = yield* Effect.forkChild(Effect.flip(readWithRetry(sensor, { attempts: 3 })))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "DhtReadError")
      assert.strictEqual(error.reason, "Timeout")
      assert.deepStrictEqual(yield* simulated.hits(4), [0, 2_000, 4_000])
    }).pipe(Effect.provide(noFaults)))

  it.effect("dht - readWithRetry does not retry a missing sensor", () =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      const simulated = yield* SimulatedDht
      const sensor = yield* driver.open({ model: "dht11", pin: 4 })
      yield* simulated.failNext(4, ["NoDevice"])
      const error = yield* Effect.flip(readWithRetry(sensor, { attempts: 5 }))
      assert.strictEqual(error.reason, "NoDevice")
      assert.deepStrictEqual(yield* simulated.hits(4), [0])
    }).pipe(Effect.provide(noFaults)))
})
