import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { type I2cSensorSpec, makeSensorStats, memoryOutbox, type Publish, runI2cSensor } from "@bramble/actor-sensor"
import { layerSimulatedI2c, SimulatedI2c } from "@bramble/hardware"
import { type Alarm, Codec } from "@bramble/protocol"
import { eventually } from "./eventually.js"

/** Runs the actor on the simulated bus; what it publishes and raises is collected. */
const start = (spec: I2cSensorSpec) =>
  Effect.gen(function*() {
    const published: Array<{ values: Record<string, number> }> = []
    const publish: Publish = (_s, data) => Effect.sync(() => void published.push(Codec.decode(data) as { values: Record<string, number> }))
    const alarms: Array<Alarm> = []
    const fiber = yield* Effect.forkScoped(
      runI2cSensor({
        spec,
        outbox: memoryOutbox({ maxReadings: 10_000 }),
        publish,
        raise: (a) => Effect.sync(() => void alarms.push(a)),
        stats: makeSensorStats(spec.device, spec.sensor)
      }).pipe(Effect.scoped)
    )
    return { published, alarms, fiber }
  })

const loop = { shuntOhms: 150, from: [4, 20] as const, to: [0, 10] as const, clamp: true, faultBelow: 3.8, faultAbove: 21 }

describe("I2C sensor actor", () => {
  it.live("ADS1115: a 4-20 mA channel scaled to bar; a broken loop is left out and raises sensor-fault naming it, the other channel keeps publishing; recovery clears", () =>
    Effect.gen(function*() {
      const sim = yield* SimulatedI2c
      yield* sim.setVolts(1, 0x48, "A0", 1.8) // 12 mA through 150 Ω: 5 bar
      yield* sim.setVolts(1, 0x48, "A1", 1.2)
      const { published, alarms, fiber } = yield* start({
        kind: "i2c",
        device: "boiler-1",
        sensor: "ads1115",
        bus: 1,
        address: 0x48,
        chip: {
          model: "ads1115",
          channels: [
            { metric: "pressure", input: "A0", gain: 4.096, rate: 860, scaling: loop },
            { metric: "supply", input: "A1", gain: 4.096, rate: 860, scaling: {} }
          ]
        },
        intervalMs: 20,
        faultAfter: 2
      })
      yield* eventually("a first reading", () => published.length > 0)
      assert.closeTo(published[0]!.values["pressure"]!, 5, 0.01)
      assert.closeTo(published[0]!.values["supply"]!, 1.2, 0.001)

      yield* sim.setVolts(1, 0x48, "A0", 0.3) // 2 mA: the loop is broken
      yield* eventually("sensor-fault raised", () => alarms.some((a) => a.state === "raised"))
      const raised = alarms.find((a) => a.state === "raised")!
      assert.include(raised.message, "OutOfRange")
      assert.include(raised.message, "pressure")
      assert.include(raised.message, "broken loop")
      const before = published.length
      yield* eventually("readings while the loop is broken", () => published.length >= before + 3)
      for (const reading of published.slice(before)) assert.deepStrictEqual(Object.keys(reading.values), ["supply"])

      yield* sim.setVolts(1, 0x48, "A0", 2.4) // 16 mA: 7.5 bar
      yield* eventually("sensor-fault cleared", () => alarms.some((a) => a.state === "cleared"))
      yield* eventually("the pressure again", () => published.some((r) => Math.abs((r.values["pressure"] ?? 0) - 7.5) < 0.01))
      assert.isFalse(published.some((r) => (r.values["pressure"] ?? 1) < 0), "a broken loop's value was published")
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(layerSimulatedI2c())))

  it.live("BME280: calibrated values; a chip that stops answering raises sensor-fault (Io) and clears; a deadband holds back small changes", () =>
    Effect.gen(function*() {
      const sim = yield* SimulatedI2c
      const { published, alarms, fiber } = yield* start({
        kind: "i2c",
        device: "loft",
        sensor: "bme280",
        bus: 1,
        address: 0x76,
        chip: { model: "bme280" },
        intervalMs: 20,
        faultAfter: 2,
        calibration: { temperature: { offset: 100 } },
        // The simulated pressure drifts by far less than 5 hPa in a test's time.
        report: { pressure: { deadband: { absolute: 5 } } }
      })
      yield* eventually("readings", () => published.length >= 3)
      const first = published[0]!.values
      assert.deepStrictEqual(Object.keys(first).sort(), ["humidity", "pressure", "temperature"])
      assert.isTrue(first["temperature"]! > 110 && first["temperature"]! < 130, `${first["temperature"]}: offset applied`)
      assert.isFalse(published.slice(1).some((r) => "pressure" in r.values), "pressure inside its deadband was published again")

      yield* sim.failNext(1, 0x76, 3)
      yield* eventually("sensor-fault raised", () => alarms.some((a) => a.state === "raised"))
      assert.include(alarms.find((a) => a.state === "raised")!.message, "Io")
      yield* eventually("sensor-fault cleared", () => alarms.some((a) => a.state === "cleared"))
      // After a fault every metric is reported at once, deadband or not.
      yield* eventually("pressure after recovery", () => published.slice(1).some((r) => "pressure" in r.values))
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(layerSimulatedI2c())))
})
