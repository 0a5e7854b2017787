/**
 * What a sensor actor is told to read, per kind, already validated (the cluster file's
 * `sensors` entries become these in the node), and the per-sensor calibration step that
 * turns raw values into engineering values before they are published.
 */
import { calibrate, type Calibration, type DhtModel, type GpioEdge } from "@bramble/hardware"
import type { I2cSensorSpec } from "./I2cSensor.js"
import type { ModbusSensorSpec } from "./ModbusSensor.js"
import type { OneWireSensorSpec } from "./OneWireSensor.js"

/** Per value name (`temperature`, `humidity`, `value`), `engineering = raw * scale + offset`. */
export type SensorCalibration = Readonly<Record<string, Calibration>>

interface SensorIdentity {
  /** The device id readings are published under. */
  readonly device: string
  /** The sensor name on that device (the subject's last token). */
  readonly sensor: string
}

/** A DHT11/DHT22: temperature (°C) and relative humidity (%RH) every `intervalMs`. */
export interface DhtSensorSpec extends SensorIdentity {
  readonly kind: "dht"
  readonly model: DhtModel
  /** BCM GPIO number of the data line. */
  readonly pin: number
  readonly intervalMs: number
  /** Most read attempts per interval; only as many as the model's minimum interval lets fit. */
  readonly attempts: number
  /** Failed intervals in a row that raise `sensor-fault`. */
  readonly faultAfter: number
  readonly calibration?: SensorCalibration
}

/** A digital input (door contact, PIR, button): `{ state, count }` on every debounced edge. */
export interface GpioInputSensorSpec extends SensorIdentity {
  readonly kind: "gpio-input"
  readonly pin: number
  readonly edge: GpioEdge
  readonly debounceMs: number
  readonly activeLow: boolean
}

/**
 * A software sensor with no hardware, for load tests and benchmarks: `{ value }` every
 * `intervalMs` (which may be far shorter than any DHT allows), a slow sine with noise.
 */
export interface SyntheticSensorSpec extends SensorIdentity {
  readonly kind: "synthetic"
  readonly intervalMs: number
  readonly calibration?: SensorCalibration
}

export type SensorSpec = DhtSensorSpec | GpioInputSensorSpec | SyntheticSensorSpec | ModbusSensorSpec | OneWireSensorSpec | I2cSensorSpec

/** Applies the calibration of each value that has one; other values pass unchanged. */
export const calibrateValues = (
  values: Readonly<Record<string, number>>,
  calibration: SensorCalibration | undefined
): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const [name, raw] of Object.entries(values)) {
    const c = calibration?.[name]
    out[name] = c === undefined ? raw : calibrate(c, raw)
  }
  return out
}

/**
 * How many read attempts fit in one interval: retries go through the model's minimum
 * interval between hits, so a DHT22 (2 s) read every 2 s gets one attempt, every 10 s up to 5.
 */
export const attemptsWithin = (intervalMs: number, minIntervalMs: number, most: number): number =>
  Math.max(1, Math.min(Math.floor(most), Math.floor(intervalMs / Math.max(1, minIntervalMs))))
