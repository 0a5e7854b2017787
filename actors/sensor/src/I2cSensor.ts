/**
 * An I2C chip as a sensor: a BME280/BMP280 or SHT31 (fixed metrics) or an ADS1115 (one
 * metric per configured channel, scaled to engineering units). Every `intervalMs` the chip
 * is read through its bus's one handle (chips on one bus are read in turn), calibrated,
 * filtered by report-by-exception, and the metrics that are due go into the outbox as one
 * reading. A failed read (no acknowledge, a CRC mismatch, a wrong chip id, a broken
 * 4-20 mA loop on one channel) leaves its metrics out and counts the cycle as failed: after
 * `faultAfter` such cycles `sensor-fault` is raised with the reason; the other channels of
 * an ADS1115 keep being published.
 */
import {
  type Ads1115Channel,
  type AnalogScaling,
  type Bme280Model,
  I2cDriver,
  type I2cError,
  readAds1115,
  readBme280,
  readSht31,
  scaleAnalog
} from "@bramble/hardware"
import { Effect, type Scope } from "effect"
import type { OutboxError } from "./Outbox.js"
import { runPolledSensor, type SensorPoll } from "./PolledSensor.js"
import type { ReportPolicy } from "./ReportByException.js"
import type { SensorActorOptions } from "./SensorActor.js"
import { calibrateValues, type SensorCalibration } from "./SensorSpec.js"

/** One ADS1115 channel: what to convert, and how to scale it. */
export interface AnalogChannelSpec extends Ads1115Channel {
  readonly metric: string
  readonly scaling: AnalogScaling
}

export type I2cChipSpec =
  | { readonly model: Bme280Model }
  | { readonly model: "sht31" }
  | { readonly model: "ads1115"; readonly channels: ReadonlyArray<AnalogChannelSpec> }

export interface I2cSensorSpec {
  readonly kind: "i2c"
  readonly device: string
  readonly sensor: string
  /** /dev/i2c-<bus>. */
  readonly bus: number
  readonly address: number
  readonly chip: I2cChipSpec
  readonly intervalMs: number
  readonly faultAfter: number
  /** Per metric; metrics without one are published every cycle. */
  readonly report?: Readonly<Record<string, ReportPolicy>>
  /** BME280/BMP280, SHT31: per metric, applied before report-by-exception. */
  readonly calibration?: SensorCalibration
}

const describe = (e: I2cError) => `${e.reason}: ${e.message}`

/** Reads the chip once: values by metric, and the first failure (used by the actor and `bramble sensors probe`). */
export const pollI2c = (
  driver: I2cDriver["Service"],
  spec: Pick<I2cSensorSpec, "bus" | "address" | "chip" | "calibration">
): Effect.Effect<SensorPoll> =>
  Effect.gen(function*() {
    const values: Record<string, number> = {}
    let failure: string | undefined
    const bus = yield* Effect.result(driver.bus(spec.bus))
    if (bus._tag === "Failure") return { values, failure: describe(bus.failure) }
    const { chip } = spec
    if (chip.model === "ads1115") {
      for (const channel of chip.channels) {
        const volts = yield* Effect.result(bus.success.use(spec.address, "ADS1115", (io) => readAds1115(io, channel)))
        if (volts._tag === "Failure") {
          failure ??= describe(volts.failure)
          continue
        }
        const scaled = scaleAnalog(volts.success, channel.scaling)
        if ("value" in scaled) values[channel.metric] = scaled.value
        else failure ??= `OutOfRange: I2C bus ${spec.bus} 0x${spec.address.toString(16)} (ADS1115) ${channel.metric} on ${channel.input}: ${scaled.fault}`
      }
      return { values, failure }
    }
    const asValues = (r: { readonly temperature: number; readonly humidity?: number; readonly pressure?: number }): Record<string, number> => ({ ...r })
    const read = yield* Effect.result(
      chip.model === "sht31"
        ? bus.success.use(spec.address, "SHT31", (io) => Effect.map(readSht31(io), asValues))
        : bus.success.use(spec.address, chip.model.toUpperCase(), (io) => Effect.map(readBme280(io, chip.model as Bme280Model), asValues))
    )
    if (read._tag === "Failure") return { values, failure: describe(read.failure) }
    return { values: calibrateValues(read.success, spec.calibration), failure }
  })

/** Reads one I2C chip for ever; fails only if its outbox fails. */
export const runI2cSensor = (
  options: SensorActorOptions<I2cSensorSpec>
): Effect.Effect<never, OutboxError, I2cDriver | Scope.Scope> =>
  runPolledSensor(options, {
    report: options.spec.report ?? {},
    makePoll: Effect.gen(function*() {
      const driver = yield* I2cDriver
      return pollI2c(driver, options.spec)
    })
  })
