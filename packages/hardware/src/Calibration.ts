/**
 * Per-sensor linear calibration: `engineering = raw * scale + offset`. It covers a
 * thermometer that reads 0.4 °C high (`offset: -0.4`) as well as turning an ADC's raw
 * counts into volts or a physical unit, the "engineering value" step of the acquisition
 * nodes in the seeds (a 10-bit count 0..1023 to 0..3.3 V is `adcCalibration(10, 3.3)`).
 */
import { Schema } from "effect"

/** A calibration as written in the cluster file. Both fields are optional; a scale of 0 is refused. */
export const Calibration = Schema.Struct({
  offset: Schema.optionalKey(Schema.Finite),
  scale: Schema.optionalKey(
    Schema.Finite.check(Schema.makeFilter((scale: number) =>
      scale !== 0 || "scale must not be 0: every reading would become the offset"
    ))
  )
})
export type Calibration = typeof Calibration.Type

/** `raw * scale + offset`, with scale 1 and offset 0 when absent. */
export const calibrate = (calibration: Calibration, raw: number): number =>
  raw * (calibration.scale ?? 1) + (calibration.offset ?? 0)

/** The raw value that calibrates to `engineering` (the scale is never 0 in a decoded calibration). */
export const uncalibrate = (calibration: Calibration, engineering: number): number =>
  (engineering - (calibration.offset ?? 0)) / (calibration.scale ?? 1)

/**
 * The calibration mapping `raw[0]..raw[1]` linearly onto `engineering[0]..engineering[1]`,
 * e.g. a 4-20 mA loop read as counts onto 0..10 bar.
 */
export const calibrationFromRange = (ranges: {
  readonly raw: readonly [number, number]
  readonly engineering: readonly [number, number]
}): Calibration => {
  const [rawMin, rawMax] = ranges.raw
  const [min, max] = ranges.engineering
  if (rawMin === rawMax) throw new RangeError(`calibration raw range is empty (${rawMin}..${rawMax})`)
  const scale = (max - min) / (rawMax - rawMin)
  return { scale, offset: min - rawMin * scale }
}

/**
 * An ideal `bits`-bit ADC: counts `0..2^bits - 1` onto `0..fullScale` (e.g. volts at the
 * reference voltage).
 */
export const adcCalibration = (bits: number, fullScale: number): Calibration =>
  calibrationFromRange({ raw: [0, 2 ** bits - 1], engineering: [0, fullScale] })
