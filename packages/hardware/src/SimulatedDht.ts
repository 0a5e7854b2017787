/**
 * The simulated twin of a room full of DHT sensors, used off-Pi, in tests and in the
 * demo. Realistic enough to exercise the whole pipeline: a diurnal temperature swing
 * (coolest near 05:00, warmest near 17:00 UTC on the Effect Clock) with a per-device
 * offset and phase, noise, relative humidity that falls as the air warms, a slow
 * weather drift, occasional checksum errors and dropouts, and values rounded the way
 * each model encodes them. Every value is a pure function of (seed, pin, time), so a
 * test with a fixed seed and the TestClock can assert on exact readings.
 */
import { Context, type Effect } from "effect"
import type { DhtReadErrorReason } from "./DhtSensor.js"
import { hashGaussian, hashUnit } from "./internal/prng.js"

/** How the simulated sensors behave. Rates are probabilities per hit, in [0, 1]. */
export interface SimulatedDhtOptions {
  /** Same seed, same pins, same Clock times: same readings. Default 1. */
  readonly seed?: number
  /** Share of hits failing with `Checksum`. Default 0.02. */
  readonly checksumErrorRate?: number
  /** Share of hits failing with `Timeout` (no answer). Default 0.01. */
  readonly dropoutRate?: number
  /** Pins with no sensor wired: opening them fails with `NoDevice`. */
  readonly absentPins?: ReadonlyArray<number>
}

const DAY_MS = 86_400_000
const WEATHER_PERIOD_MS = 2.7 * DAY_MS
const MEAN_TEMPERATURE_C = 21
const DIURNAL_AMPLITUDE_C = 4
const MEAN_HUMIDITY_PCT = 55
/** %RH lost per °C of warming: warmer air holds more water, so relative humidity drops. */
const HUMIDITY_PER_DEGREE = 2.5

// Distinct salts keep the hashed quantities independent of each other.
const SALT = { offset: 1, phase: 2, humidityOffset: 3, weatherPhase: 4, tNoise: 5, hNoise: 6 } as const

/**
 * The true air temperature and humidity a simulated sensor on `pin` sees at `atMs`,
 * before the sensor's own range limits and rounding.
 */
export const simulatedClimate = (
  seed: number,
  pin: number,
  atMs: number
): { readonly temperatureC: number; readonly humidityPct: number } => {
  const offsetC = (hashUnit(seed, pin, SALT.offset) - 0.5) * 4
  const phase = (hashUnit(seed, pin, SALT.phase) - 0.5) * (2 * Math.PI / 8) // within ±1.5 h
  const humidityOffset = (hashUnit(seed, pin, SALT.humidityOffset) - 0.5) * 10
  const weatherPhase = hashUnit(seed, pin, SALT.weatherPhase) * 2 * Math.PI

  const hourAngle = 2 * Math.PI * (((atMs % DAY_MS) + DAY_MS) % DAY_MS) / DAY_MS
  // sin peaks a quarter-day after 11:00, at 17:00.
  const diurnal = DIURNAL_AMPLITUDE_C * Math.sin(hourAngle - 2 * Math.PI * 11 / 24 + phase)
  const temperatureC = MEAN_TEMPERATURE_C + offsetC + diurnal + 0.15 * hashGaussian(seed, pin, atMs, SALT.tNoise)
  const weather = 3 * Math.sin(2 * Math.PI * atMs / WEATHER_PERIOD_MS + weatherPhase)
  const humidityPct = MEAN_HUMIDITY_PCT + humidityOffset - HUMIDITY_PER_DEGREE * diurnal + weather +
    0.8 * hashGaussian(seed, pin, atMs, SALT.hNoise)
  return { temperatureC, humidityPct }
}

/** The simulated DHT's control service, provided by `DhtDriver.layerSimulated`. */
export class SimulatedDht extends Context.Service<SimulatedDht, {
  readonly seed: number
  readonly checksumErrorRate: number
  readonly dropoutRate: number
  /** Makes the next hits of `pin` fail with these reasons, in order, before the model resumes. */
  failNext(pin: number, reasons: ReadonlyArray<DhtReadErrorReason>): Effect.Effect<void>
  /** Clock times at which the sensor on `pin` was hit (successfully or not), oldest first. */
  hits(pin: number): Effect.Effect<ReadonlyArray<number>>
}>()("bramble/hardware/SimulatedDht") {}
