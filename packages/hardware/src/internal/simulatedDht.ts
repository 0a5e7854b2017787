/**
 * The simulated sensors and the DHT driver over them: the same pin check and interval
 * gate as the real driver, with the climate model of `SimulatedDht` in place of
 * node-dht-sensor. Faults are drawn from a hash of (seed, pin, time) like every other
 * simulated quantity, so they are reproducible too.
 */
import { Clock, Effect } from "effect"
import type { DhtDriverShape } from "../DhtDriver.js"
import {
  checkPin,
  checkRange,
  DHT_MIN_INTERVAL_MS,
  DHT_RANGE,
  type DhtModel,
  type DhtReading,
  DhtReadError,
  type DhtReadErrorReason,
  type DhtSensor,
  roundForModel
} from "../DhtSensor.js"
import { type SimulatedDht, simulatedClimate, type SimulatedDhtOptions } from "../SimulatedDht.js"
import { makeGateMap } from "./IntervalGate.js"
import { hashUnit } from "./prng.js"

const FAULT_SALT = 7
const KEEP_HITS = 1_000

const clamp = (value: number, [min, max]: readonly [number, number]) => Math.min(max, Math.max(min, value))

export const makeSimulatedDht = (options: SimulatedDhtOptions = {}): Effect.Effect<{
  readonly driver: DhtDriverShape
  readonly control: SimulatedDht["Service"]
}> =>
  Effect.suspend(() => {
    const seed = options.seed ?? 1
    const checksumErrorRate = options.checksumErrorRate ?? 0.02
    const dropoutRate = options.dropoutRate ?? 0.01
    const isRate = (rate: number) => Number.isFinite(rate) && rate >= 0 && rate <= 1
    if (!isRate(checksumErrorRate) || !isRate(dropoutRate) || checksumErrorRate + dropoutRate > 1) {
      return Effect.die(
        new RangeError(
          "simulated DHT error rates must be in [0, 1] and sum to at most 1 " +
            `(checksumErrorRate ${checksumErrorRate}, dropoutRate ${dropoutRate})`
        )
      )
    }
    const absent = new Set(options.absentPins ?? [])
    const forced = new Map<number, Array<DhtReadErrorReason>>()
    const hitLog = new Map<number, Array<number>>()
    const gateFor = makeGateMap()

    const fail = (reason: DhtReadErrorReason, pin: number, message: string) =>
      Effect.fail(new DhtReadError({ reason, pin, message: `simulated: ${message}` }))

    /** One hit of the sensor on `pin`, now; the caller enforces the interval. */
    const hit = (model: DhtModel, pin: number): Effect.Effect<DhtReading, DhtReadError> =>
      Effect.flatMap(Clock.currentTimeMillis, (readAtMs) => {
        const log = hitLog.get(pin) ?? []
        log.push(readAtMs)
        if (log.length > KEEP_HITS) log.splice(0, log.length - KEEP_HITS)
        hitLog.set(pin, log)

        const forcedReason = forced.get(pin)?.shift()
        if (forcedReason !== undefined) return fail(forcedReason, pin, `injected ${forcedReason} on GPIO ${pin}`)
        if (absent.has(pin)) return fail("NoDevice", pin, `no sensor on GPIO ${pin}`)

        const fault = hashUnit(seed, pin, readAtMs, FAULT_SALT)
        if (fault < dropoutRate) return fail("Timeout", pin, `the ${model} on GPIO ${pin} did not answer`)
        if (fault < dropoutRate + checksumErrorRate) {
          return fail("Checksum", pin, `the ${model} on GPIO ${pin} sent a frame with a bad checksum`)
        }
        const climate = simulatedClimate(seed, pin, readAtMs)
        const range = DHT_RANGE[model]
        return checkRange(model, pin, {
          temperatureC: roundForModel(model, clamp(climate.temperatureC, range.temperatureC)),
          humidityPct: roundForModel(model, clamp(climate.humidityPct, range.humidityPct)),
          readAtMs
        })
      })

    const open: DhtDriverShape["open"] = Effect.fnUntraced(function*({ model, pin }) {
      yield* checkPin(pin)
      if (absent.has(pin)) {
        return yield* new DhtReadError({ reason: "NoDevice", pin, message: `simulated: no sensor on GPIO ${pin}` })
      }
      let closed = false
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          closed = true
        })
      )
      const minIntervalMs = DHT_MIN_INTERVAL_MS[model]
      const gate = gateFor(pin)
      const read = Effect.suspend(() =>
        closed
          ? Effect.die(new Error(`DHT sensor on GPIO ${pin} read after its scope closed`))
          : gate.run(minIntervalMs, hit(model, pin))
      )
      const sensor: DhtSensor = { model, pin, minIntervalMs, read }
      return sensor
    })

    return Effect.succeed({
      driver: { open },
      control: {
        seed,
        checksumErrorRate,
        dropoutRate,
        failNext: (pin, reasons) =>
          Effect.sync(() => {
            forced.set(pin, [...(forced.get(pin) ?? []), ...reasons])
          }),
        hits: (pin) => Effect.sync(() => [...(hitLog.get(pin) ?? [])])
      }
    })
  })
