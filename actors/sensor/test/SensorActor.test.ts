import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import {
  type DhtSensorSpec,
  FaultTracker,
  makeSensorStats,
  memoryOutbox,
  OverflowTracker,
  type Publish,
  runDhtSensor,
  runGpioInput,
  runSyntheticSensor,
  type SensorActorOptions,
  type SensorSpec
} from "@bramble/actor-sensor"
import { calibrate, DhtDriver, GpioDriver, roundForModel, SimulatedDht, SimulatedGpio, simulatedClimate } from "@bramble/hardware"
import { type Alarm, Codec } from "@bramble/protocol"

interface Published {
  readonly subject: string
  readonly msgId: string
  readonly payload: { readonly ts: number; readonly seq: number; readonly values: Record<string, number> }
}

/** A JetStream stand-in: records what is published, or fails every publish while offline. */
const makeNats = () => {
  const published: Array<Published> = []
  const state = { online: true, attempts: 0 }
  const publish: Publish = (subject, data, msgId) =>
    Effect.suspend(() => {
      state.attempts += 1
      return state.online
        ? Effect.sync(() => {
          published.push({ subject, msgId, payload: Codec.decodeAny(data) as Published["payload"] })
        })
        : Effect.fail(new Error("no connection"))
    })
  return { published, publish, state }
}

const makeAlarms = () => {
  const alarms: Array<Alarm> = []
  return { alarms, raise: (alarm: Alarm) => Effect.sync(() => void alarms.push(alarm)) }
}

/** Lets forked fibres run up to their next wait. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

const dht = (overrides: Partial<DhtSensorSpec> = {}): DhtSensorSpec => ({
  kind: "dht",
  device: "greenhouse-1",
  sensor: "env",
  model: "dht22",
  pin: 4,
  intervalMs: 2_000,
  attempts: 3,
  faultAfter: 3,
  ...overrides
})

const optionsFor = <S extends SensorSpec>(spec: S, nats: ReturnType<typeof makeNats>, alarms: ReturnType<typeof makeAlarms>, maxReadings = 1_000): SensorActorOptions<S> => ({
  spec,
  outbox: memoryOutbox({ maxReadings }),
  publish: nats.publish,
  raise: alarms.raise,
  stats: makeSensorStats(spec.device, spec.sensor)
})

const quietDht = DhtDriver.layerSimulated({ seed: 7, checksumErrorRate: 0, dropoutRate: 0 })

describe("sensor actor", () => {
  it.effect("dht - every interval's reading is calibrated and published with msgID device.sensor.seq", () =>
    Effect.gen(function*() {
      const nats = makeNats()
      const alarms = makeAlarms()
      const calibration = { temperature: { offset: -0.5, scale: 2 }, humidity: { offset: 3 } }
      const options = optionsFor(dht({ calibration }), nats, alarms)
      yield* Effect.forkChild(runDhtSensor(options))
      yield* settle
      yield* TestClock.adjust(9_000)

      const world = yield* SimulatedDht
      assert.deepStrictEqual(yield* world.hits(4), [0, 2_000, 4_000, 6_000, 8_000])
      assert.deepStrictEqual(nats.published.map((p) => p.msgId), [1, 2, 3, 4, 5].map((seq) => `greenhouse-1.env.${seq}`))
      for (const [i, p] of nats.published.entries()) {
        const at = i * 2_000
        const climate = simulatedClimate(7, 4, at)
        assert.strictEqual(p.subject, "ingest.greenhouse-1.env")
        assert.deepStrictEqual(p.payload, {
          ts: at,
          seq: i + 1,
          values: {
            temperature: calibrate(calibration.temperature, roundForModel("dht22", climate.temperatureC)),
            humidity: calibrate(calibration.humidity, roundForModel("dht22", climate.humidityPct))
          }
        })
      }
      assert.strictEqual(options.stats!.published, 5)
      assert.deepStrictEqual(alarms.alarms, [])
    }).pipe(Effect.provide(quietDht)))

  it.effect("dht - retries fit the interval: a DHT22 read every 6 s gets 3 attempts, so one failed hit loses no reading", () =>
    Effect.gen(function*() {
      const nats = makeNats()
      const alarms = makeAlarms()
      const world = yield* SimulatedDht
      yield* world.failNext(4, ["Checksum", "Timeout"])
      yield* Effect.forkChild(runDhtSensor(optionsFor(dht({ intervalMs: 6_000 }), nats, alarms)))
      yield* settle
      yield* TestClock.adjust(7_000)
      // Two failed hits 2 s apart, then a reading within the first interval, then the next interval.
      assert.deepStrictEqual(yield* world.hits(4), [0, 2_000, 4_000, 6_000])
      assert.deepStrictEqual(nats.published.map((p) => p.payload.ts), [4_000, 6_000])
    }).pipe(Effect.provide(quietDht)))

  it.effect("dht - faultAfter failed intervals in a row raise sensor-fault once; the next good reading clears it; the actor keeps running", () =>
    Effect.gen(function*() {
      const nats = makeNats()
      const alarms = makeAlarms()
      const world = yield* SimulatedDht
      yield* world.failNext(4, ["Timeout", "Timeout", "Checksum", "Timeout", "Timeout"])
      const options = optionsFor(dht({ attempts: 1 }), nats, alarms)
      const actor = yield* Effect.forkChild(runDhtSensor(options))
      yield* settle
      yield* TestClock.adjust(4_500)
      assert.deepStrictEqual(alarms.alarms.map((a) => [a.rule, a.state, a.value, a.at]), [["sensor-fault", "raised", 3, 4_000]])
      assert.include(alarms.alarms[0]!.message, "greenhouse-1/env")
      assert.include(alarms.alarms[0]!.message, "Checksum")
      assert.isTrue(options.stats!.fault)
      yield* TestClock.adjust(6_000)
      assert.deepStrictEqual(alarms.alarms.map((a) => [a.rule, a.state, a.value, a.at]), [["sensor-fault", "raised", 3, 4_000], ["sensor-fault", "cleared", 5, 10_000]])
      assert.deepStrictEqual(nats.published.map((p) => p.payload.ts), [10_000])
      assert.strictEqual(options.stats!.readFailures, 5)
      assert.isFalse(options.stats!.fault)
      assert.isUndefined(actor.pollUnsafe(), "the actor is still running")
    }).pipe(Effect.provide(quietDht)))

  it.effect("dht - a sensor that cannot be opened is retried every interval and raises sensor-fault instead of failing", () =>
    Effect.gen(function*() {
      const nats = makeNats()
      const alarms = makeAlarms()
      const actor = yield* Effect.forkChild(runDhtSensor(optionsFor(dht({ pin: 9, faultAfter: 2 }), nats, alarms)))
      yield* settle
      yield* TestClock.adjust(10_000)
      assert.deepStrictEqual(alarms.alarms.map((a) => [a.state, a.value]), [["raised", 2]])
      assert.include(alarms.alarms[0]!.message, "NoDevice")
      assert.isUndefined(actor.pollUnsafe())
    }).pipe(Effect.provide(DhtDriver.layerSimulated({ absentPins: [9] }))))

  it.effect("delivery - readings taken while NATS is down wait in the outbox and go out in order, once, when it is back", () =>
    Effect.gen(function*() {
      const nats = makeNats()
      const alarms = makeAlarms()
      nats.state.online = false
      const options = optionsFor({ kind: "synthetic", device: "load-1", sensor: "s", intervalMs: 100 }, nats, alarms)
      yield* Effect.forkChild(runSyntheticSensor(options))
      yield* settle
      yield* TestClock.adjust(3_000)
      assert.deepStrictEqual(nats.published, [])
      assert.strictEqual(options.stats!.buffered, 31)
      assert.isAbove(nats.state.attempts, 1, "delivery kept trying")

      nats.state.online = true
      yield* TestClock.adjust(6_000)
      const seqs = nats.published.map((p) => p.payload.seq)
      assert.deepStrictEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), "every reading once, in order")
      assert.strictEqual(seqs.length, 91)
      assert.deepStrictEqual(nats.published.map((p) => p.msgId).slice(0, 2), ["load-1.s.1", "load-1.s.2"])
      assert.deepStrictEqual(nats.published.map((p) => p.payload.ts), Array.from({ length: 91 }, (_, i) => i * 100))
      assert.strictEqual(options.stats!.buffered, 0)
      assert.strictEqual(options.stats!.published, 91)
    }))

  it.effect("overflow - a full outbox drops the oldest, raises outbox-overflow with the count, and clears it once delivering", () =>
    Effect.gen(function*() {
      const nats = makeNats()
      const alarms = makeAlarms()
      nats.state.online = false
      const options = optionsFor({ kind: "synthetic", device: "load-1", sensor: "s", intervalMs: 1_000 }, nats, alarms, 5)
      yield* Effect.forkChild(runSyntheticSensor(options))
      yield* settle
      yield* TestClock.adjust(9_000)
      // Readings 1..10 taken; 1..5 dropped; one raise (the count goes on, the alarm is not repeated within a minute).
      assert.deepStrictEqual(alarms.alarms.map((a) => [a.rule, a.state, a.value, a.at]), [["outbox-overflow", "raised", 1, 5_000]])
      assert.strictEqual(options.stats!.dropped, 5)
      nats.state.online = true
      yield* TestClock.adjust(6_000)
      // Delivery was still backing off for a while, so more were dropped before it made room.
      const dropped = options.stats!.dropped
      assert.isAtLeast(dropped, 5)
      assert.deepStrictEqual(alarms.alarms.map((a) => [a.state, a.value]), [["raised", 1], ["cleared", dropped]])
      const seqs = nats.published.map((p) => p.payload.seq)
      assert.deepStrictEqual(seqs, Array.from({ length: seqs.length }, (_, i) => dropped + 1 + i), "the newest readings, in order")
    }))

  it.effect("gpio input - each debounced edge is a reading { state, count } stamped with the edge's time", () =>
    Effect.gen(function*() {
      const nats = makeNats()
      const alarms = makeAlarms()
      const world = yield* SimulatedGpio
      const spec = { kind: "gpio-input" as const, device: "door-1", sensor: "contact", pin: 17, edge: "both" as const, debounceMs: 20, activeLow: true }
      yield* Effect.forkChild(runGpioInput(optionsFor(spec, nats, alarms)))
      yield* settle
      for (const at of [1_000, 3_000]) {
        yield* TestClock.setTime(at)
        yield* Effect.forkChild(world.press(17, { holdMs: 200, bounces: 3, bounceGapMs: 1 }))
        yield* TestClock.adjust(1_000)
      }
      assert.deepStrictEqual(nats.published.map((p) => [p.payload.ts, p.payload.values]), [
        [1_000, { state: 1, count: 1 }],
        [1_206, { state: 0, count: 2 }],
        [3_000, { state: 1, count: 3 }],
        [3_206, { state: 0, count: 4 }]
      ])
      assert.deepStrictEqual(nats.published.map((p) => p.subject), Array(4).fill("ingest.door-1.contact"))
    }).pipe(Effect.provide(GpioDriver.layerSimulated())))

  it.effect("sensor actor - stopping it stops the pins and the delivery (nothing left running)", () =>
    Effect.gen(function*() {
      const nats = makeNats()
      const alarms = makeAlarms()
      const world = yield* SimulatedGpio
      const spec = { kind: "gpio-input" as const, device: "door-1", sensor: "contact", pin: 5, edge: "rising" as const, debounceMs: 10, activeLow: false }
      const actor = yield* Effect.forkChild(Effect.scoped(runGpioInput(optionsFor(spec, nats, alarms))))
      yield* settle
      assert.deepStrictEqual(yield* world.openPins, [5])
      yield* Fiber.interrupt(actor)
      assert.deepStrictEqual(yield* world.openPins, [])
    }).pipe(Effect.provide(GpioDriver.layerSimulated())))
})

describe("sensor alarms", () => {
  it("fault tracker - raises at the threshold, once, and clears only after a raise", () => {
    const fault = new FaultTracker("d", "s", 2)
    assert.isUndefined(fault.success(0))
    assert.isUndefined(fault.failure("Timeout", 1))
    assert.strictEqual(fault.failure("Timeout", 2)?.state, "raised")
    assert.isUndefined(fault.failure("Timeout", 3))
    assert.deepStrictEqual(fault.success(4), { device: "d", rule: "sensor-fault", state: "cleared", value: 3, message: "sensor d/s reads again after 3 failed read(s)", at: 4 })
    assert.isUndefined(fault.success(5))
  })

  it("overflow tracker - repeats the raise with the new count at most once a minute, and ignores drops from before the restart", () => {
    const overflow = new OverflowTracker("d", "s", 10, 40)
    assert.isUndefined(overflow.observe(40, 10, 0), "drops counted before this process are not an episode")
    assert.deepStrictEqual([overflow.observe(41, 10, 1_000)].map((a) => [a?.state, a?.value]), [["raised", 1]])
    assert.isUndefined(overflow.observe(50, 10, 30_000))
    assert.deepStrictEqual([overflow.observe(80, 10, 61_001)].map((a) => [a?.state, a?.value]), [["raised", 40]])
    assert.isUndefined(overflow.observe(80, 10, 62_000), "still full, nothing new dropped")
    assert.deepStrictEqual([overflow.observe(80, 9, 63_000)].map((a) => [a?.state, a?.value]), [["cleared", 40]])
    assert.deepStrictEqual([overflow.observe(81, 10, 64_000)].map((a) => [a?.state, a?.value]), [["raised", 1]])
  })
})

// Keep the Layer import used when the file is type-checked on its own.
void Layer
