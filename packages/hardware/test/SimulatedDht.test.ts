import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, type Layer, type Scope } from "effect"
import { TestClock } from "effect/testing"
import { DHT_RANGE, DhtDriver, type DhtModel, type DhtReading, SimulatedDht } from "@bramble/hardware"

/** Reads every `stepMs` for `count` steps on the TestClock; failed reads are returned as their reason. */
const sample = (model: DhtModel, pin: number, stepMs: number, count: number) =>
  Effect.gen(function*() {
    const driver = yield* DhtDriver
    const sensor = yield* driver.open({ model, pin })
    const results: Array<DhtReading | string> = []
    for (let i = 0; i < count; i++) {
      results.push(yield* sensor.read.pipe(Effect.catch((error) => Effect.succeed(error.reason))))
      yield* TestClock.adjust(stepMs)
    }
    return results
  })

const readingsOnly = (results: ReadonlyArray<DhtReading | string>) =>
  results.filter((r): r is DhtReading => typeof r !== "string")

const correlation = (xs: ReadonlyArray<number>, ys: ReadonlyArray<number>) => {
  const mean = (vs: ReadonlyArray<number>) => vs.reduce((a, b) => a + b, 0) / vs.length
  const mx = mean(xs)
  const my = mean(ys)
  let sxy = 0
  let sxx = 0
  let syy = 0
  xs.forEach((x, i) => {
    const dy = ys[i]! - my
    sxy += (x - mx) * dy
    sxx += (x - mx) ** 2
    syy += dy ** 2
  })
  return sxy / Math.sqrt(sxx * syy)
}

const runWith = <A, E>(
  layer: Layer.Layer<DhtDriver | SimulatedDht>,
  effect: Effect.Effect<A, E, DhtDriver | SimulatedDht | Scope.Scope>
) => Effect.scoped(Effect.provide(effect, layer))

describe("simulated DHT", () => {
  it.effect("simulated dht - the same seed gives the same readings, another seed different ones", () =>
    Effect.gen(function*() {
      const run = (seed: number) =>
        runWith(DhtDriver.layerSimulated({ seed }), sample("dht22", 4, 60_000, 200)).pipe(
          // Each run starts from the same Clock time.
          Effect.tap(() => TestClock.setTime(0))
        )
      const first = yield* run(42)
      const again = yield* run(42)
      const other = yield* run(43)
      assert.deepStrictEqual(again, first)
      assert.notDeepEqual(other, first)
      // Same seed, another pin: another device.
      const otherPin = yield* runWith(DhtDriver.layerSimulated({ seed: 42 }), sample("dht22", 5, 60_000, 200))
      assert.notDeepEqual(otherPin, first)
    }))

  it.effect("simulated dht - readings stay within each model's physical range and resolution", () =>
    Effect.gen(function*() {
      for (const model of ["dht11", "dht22"] as const) {
        for (const pin of [2, 4, 17, 27]) {
          const readings = readingsOnly(
            yield* runWith(DhtDriver.layerSimulated({ seed: pin * 31 }), sample(model, pin, 7 * 60_000, 3 * 24 * 9))
          )
          assert.isAbove(readings.length, 150)
          const range = DHT_RANGE[model]
          const decimals = model === "dht11" ? 1 : 10
          for (const r of readings) {
            assert.isTrue(r.temperatureC >= range.temperatureC[0] && r.temperatureC <= range.temperatureC[1])
            assert.isTrue(r.humidityPct >= range.humidityPct[0] && r.humidityPct <= range.humidityPct[1])
            assert.strictEqual(Math.round(r.temperatureC * decimals) / decimals, r.temperatureC)
            assert.strictEqual(Math.round(r.humidityPct * decimals) / decimals, r.humidityPct)
          }
          yield* TestClock.setTime(0)
        }
      }
    }))

  it.effect("simulated dht - temperature follows the day and humidity moves against it", () =>
    Effect.gen(function*() {
      const readings = readingsOnly(
        yield* runWith(DhtDriver.layerSimulated({ seed: 3, checksumErrorRate: 0, dropoutRate: 0 }), sample("dht22", 4, 10 * 60_000, 144))
      )
      assert.strictEqual(readings.length, 144)
      const temperatures = readings.map((r) => r.temperatureC)
      const swing = Math.max(...temperatures) - Math.min(...temperatures)
      assert.isAbove(swing, 5) // a 4 °C amplitude sinusoid, peak to trough
      assert.isBelow(swing, 12)
      // The night is cooler than the afternoon.
      const at = (hour: number) => readings[hour * 6]!.temperatureC
      assert.isBelow(at(5), at(16))
      assert.isBelow(correlation(temperatures, readings.map((r) => r.humidityPct)), -0.5)
    }))

  it.effect("simulated dht - checksum errors and dropouts occur at about the configured rates", () =>
    Effect.gen(function*() {
      const n = 4_000
      const results = yield* runWith(
        DhtDriver.layerSimulated({ seed: 11, checksumErrorRate: 0.1, dropoutRate: 0.05 }),
        sample("dht11", 4, 1_000, n)
      )
      const count = (reason: string) => results.filter((r) => r === reason).length
      const checksum = count("Checksum")
      const timeout = count("Timeout")
      assert.strictEqual(checksum + timeout + readingsOnly(results).length, n)
      assert.isTrue(checksum > 0.07 * n && checksum < 0.13 * n, `checksum errors ${checksum}/${n}`)
      assert.isTrue(timeout > 0.03 * n && timeout < 0.07 * n, `dropouts ${timeout}/${n}`)
    }))

  it.effect("simulated dht - rates of zero never fail", () =>
    Effect.gen(function*() {
      const results = yield* runWith(
        DhtDriver.layerSimulated({ seed: 5, checksumErrorRate: 0, dropoutRate: 0 }),
        sample("dht22", 4, 2_000, 1_000)
      )
      assert.strictEqual(readingsOnly(results).length, 1_000)
    }))

  it.effect("simulated dht - impossible error rates are a defect", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        runWith(DhtDriver.layerSimulated({ checksumErrorRate: 0.8, dropoutRate: 0.5 }), sample("dht22", 4, 2_000, 1))
      )
      assert.isTrue(Exit.hasDies(exit))
    }))
})
