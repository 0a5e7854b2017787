/**
 * The DHT11/DHT22 temperature and humidity sensor, as the rest of Bramble sees it: a
 * model, a pin and one `read` effect. The limits that protect the sensor and the data
 * live here, next to the contract, so the real and the simulated drivers share them: how
 * often each model may be read, and which values are physically possible (anything
 * else is a corrupted transmission that happened to pass the checksum).
 */
import { Data, Effect, Schema } from "effect"
import { headerPinProblem } from "./Gpio.js"

/** The supported sensor models. AM2302 is a DHT22 in a case. */
export const DhtModel = Schema.Literals(["dht11", "dht22"])
export type DhtModel = typeof DhtModel.Type

/**
 * The shortest time between two hits of the same sensor, per model: the DHT22 needs 2 s
 * between samples, the DHT11 1 s. The driver waits rather than hitting a sensor sooner.
 */
export const DHT_MIN_INTERVAL_MS: Readonly<Record<DhtModel, number>> = { dht11: 1_000, dht22: 2_000 }

/** What each model can physically measure; a value outside is a bad read. */
export const DHT_RANGE: Readonly<
  Record<DhtModel, { readonly temperatureC: readonly [number, number]; readonly humidityPct: readonly [number, number] }>
> = {
  dht11: { temperatureC: [0, 50], humidityPct: [20, 90] },
  dht22: { temperatureC: [-40, 80], humidityPct: [0, 100] }
}

/** One successful sample. `readAtMs` is the Clock time at which the sensor was hit. */
export interface DhtReading {
  readonly temperatureC: number
  readonly humidityPct: number
  readonly readAtMs: number
}

/** Why a read failed. */
export type DhtReadErrorReason = "Timeout" | "Checksum" | "NoDevice" | "OutOfRange"

/** A read (or an open) that produced no reading. */
export class DhtReadError extends Data.TaggedError("DhtReadError")<{
  readonly reason: DhtReadErrorReason
  /** BCM GPIO number of the sensor. */
  readonly pin: number
  readonly message: string
  readonly cause?: unknown
}> {}

/** A sensor opened through a `DhtDriver`. */
export interface DhtSensor {
  readonly model: DhtModel
  /** BCM GPIO number of the data line. */
  readonly pin: number
  /** What this driver enforces between hits (at least `DHT_MIN_INTERVAL_MS[model]`). */
  readonly minIntervalMs: number
  /**
   * One sample. A read requested before `minIntervalMs` has passed since the previous
   * hit waits; concurrent reads are served one at a time.
   */
  readonly read: Effect.Effect<DhtReading, DhtReadError>
}

/** Where a sensor is wired. */
export interface DhtSpec {
  readonly model: DhtModel
  readonly pin: number
}

/** Rounds like the sensor's own encoding: DHT11 whole units, DHT22 tenths. */
export const roundForModel = (model: DhtModel, value: number): number =>
  model === "dht11" ? Math.round(value) : Math.round(value * 10) / 10

/** A reading if both values are physically possible for the model, else `OutOfRange`. */
export const checkRange = (
  model: DhtModel,
  pin: number,
  reading: DhtReading
): Effect.Effect<DhtReading, DhtReadError> => {
  const range = DHT_RANGE[model]
  const within = (value: number, [min, max]: readonly [number, number]) =>
    Number.isFinite(value) && value >= min && value <= max
  return within(reading.temperatureC, range.temperatureC) && within(reading.humidityPct, range.humidityPct)
    ? Effect.succeed(reading)
    : Effect.fail(
      new DhtReadError({
        reason: "OutOfRange",
        pin,
        message: `${model} on GPIO ${pin} returned ${reading.temperatureC} °C / ${reading.humidityPct} %RH, ` +
          `outside what it can measure (${range.temperatureC.join("..")} °C, ${range.humidityPct.join("..")} %RH)`
      })
    )
}

/** `NoDevice` unless `pin` is a header GPIO number. */
export const checkPin = (pin: number): Effect.Effect<void, DhtReadError> => {
  const problem = headerPinProblem(pin)
  return problem === undefined ? Effect.void : Effect.fail(new DhtReadError({ reason: "NoDevice", pin, message: problem }))
}

/** Whether another attempt can help: a missing sensor will not appear on retry. */
const isTransient = (error: DhtReadError): boolean => error.reason !== "NoDevice"

/**
 * Reads up to `attempts` times (at least once), retrying timeouts, checksum errors and
 * impossible values. Every attempt goes through the sensor's own interval, so retries
 * never hit the sensor faster than its model allows; after the last attempt the last
 * error is returned.
 */
export const readWithRetry = (
  sensor: DhtSensor,
  options: { readonly attempts: number }
): Effect.Effect<DhtReading, DhtReadError> =>
  Effect.retry(sensor.read, {
    times: Math.max(0, Math.floor(options.attempts) - 1),
    while: isTransient
  })
