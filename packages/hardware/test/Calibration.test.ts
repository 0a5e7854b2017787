import { assert, describe, it } from "@effect/vitest"
import { Exit, Schema } from "effect"
import fc from "fast-check"
import { adcCalibration, calibrate, Calibration, calibrationFromRange, uncalibrate } from "@bramble/hardware"

const finite = (min: number, max: number) => fc.double({ min, max, noNaN: true, noDefaultInfinity: true })
const nonZeroScale = fc.oneof(finite(-1e3, -1e-3), finite(1e-3, 1e3))
const closeTo = (actual: number, expected: number, scale: number) =>
  Math.abs(actual - expected) <= 1e-12 * Math.max(1, scale)

describe("Calibration", () => {
  it("calibration - scale and offset are applied as raw * scale + offset", () => {
    fc.assert(fc.property(finite(-1e6, 1e6), nonZeroScale, finite(-1e6, 1e6), (raw, scale, offset) => {
      assert.strictEqual(calibrate({ scale, offset }, raw), raw * scale + offset)
      assert.strictEqual(calibrate({ scale }, raw), raw * scale)
      assert.strictEqual(calibrate({ offset }, raw), raw + offset)
      assert.strictEqual(calibrate({}, raw), raw)
    }))
  })

  it("calibration - a non-zero scale is inverted by uncalibrate", () => {
    fc.assert(fc.property(finite(-1e6, 1e6), nonZeroScale, finite(-1e6, 1e6), (raw, scale, offset) => {
      const calibration = { scale, offset }
      const back = uncalibrate(calibration, calibrate(calibration, raw))
      // Floating point: the round trip is exact up to a few ulps of the magnitudes involved.
      assert.isTrue(closeTo(back, raw, Math.abs(raw) + Math.abs(offset / scale)), `${raw} -> ${back}`)
    }))
  })

  it("calibration - the schema accepts offsets and scales and refuses a zero scale", () => {
    fc.assert(fc.property(nonZeroScale, finite(-1e6, 1e6), (scale, offset) => {
      assert.deepStrictEqual(Schema.decodeUnknownSync(Calibration)({ scale, offset }), { scale, offset })
    }))
    assert.deepStrictEqual(Schema.decodeUnknownSync(Calibration)({}), {})
    assert.isTrue(Exit.isFailure(Schema.decodeUnknownExit(Calibration)({ scale: 0 })))
    assert.isTrue(Exit.isFailure(Schema.decodeUnknownExit(Calibration)({ offset: Number.NaN })))
    assert.isTrue(Exit.isFailure(Schema.decodeUnknownExit(Calibration)({ scale: "2" })))
  })

  it("calibration - a 10-bit ADC count maps 0..1023 onto 0..3.3 V", () => {
    const adc = adcCalibration(10, 3.3)
    assert.strictEqual(calibrate(adc, 0), 0)
    assert.isTrue(closeTo(calibrate(adc, 1023), 3.3, 1))
    assert.isTrue(closeTo(calibrate(adc, 511.5), 1.65, 1))
    // 4..20 mA read as 800..4000 counts onto 0..10 bar.
    const loop = calibrationFromRange({ raw: [800, 4000], engineering: [0, 10] })
    assert.isTrue(closeTo(calibrate(loop, 800), 0, 1))
    assert.isTrue(closeTo(calibrate(loop, 2400), 5, 1))
    assert.isTrue(closeTo(uncalibrate(loop, 10), 4000, 4000))
  })
})
