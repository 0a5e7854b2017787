/**
 * Bosch BME280 (temperature, humidity, pressure) and BMP280 (no humidity) on I2C, at 0x76
 * or 0x77. Each chip is trimmed at the factory: its calibration block (0x88..0xA1, and
 * 0xE1..0xE7 on a BME280) holds the coefficients that turn its raw ADC values into °C, Pa
 * and %RH. Those are applied with the datasheet's double-precision compensation formulas
 * (BME280 datasheet section 8.1; BMP280 datasheet 8.1, the same for T and P). The chip's
 * own "compensated" output does not exist: a driver that skips this publishes raw counts.
 *
 * One read is a forced-mode measurement (oversampling ×1, filter off: the datasheet's
 * "weather monitoring" setting, 1 µA at one reading a minute): write ctrl_hum then
 * ctrl_meas (ctrl_hum only takes effect on the ctrl_meas write), wait until the status
 * register's `measuring` bit clears, read the data burst. The calibration block is read
 * again on every read: 33 bytes, and a chip swapped or reset on a live bus then still
 * gets its own coefficients.
 */
import { Effect } from "effect"
import type { ChipIo, I2cError } from "./I2cBus.js"

/** The models this driver reads. */
export type Bme280Model = "bme280" | "bmp280"

/** Chip id register (0xD0): 0x60 is a BME280; 0x56, 0x57 (samples) and 0x58 are BMP280s. */
export const BME280_CHIP_ID = 0x60
export const BMP280_CHIP_IDS: ReadonlyArray<number> = [0x56, 0x57, 0x58]

export const REG = {
  calib00: 0x88,
  id: 0xd0,
  calib26: 0xe1,
  ctrlHum: 0xf2,
  status: 0xf3,
  ctrlMeas: 0xf4,
  data: 0xf7
} as const

/** The factory trimming coefficients, named as in the datasheet. */
export interface Bme280Calibration {
  readonly T1: number
  readonly T2: number
  readonly T3: number
  readonly P1: number
  readonly P2: number
  readonly P3: number
  readonly P4: number
  readonly P5: number
  readonly P6: number
  readonly P7: number
  readonly P8: number
  readonly P9: number
  /** Humidity coefficients: BME280 only. */
  readonly H?: { readonly H1: number; readonly H2: number; readonly H3: number; readonly H4: number; readonly H5: number; readonly H6: number }
}

/**
 * The calibration from its registers: `block88` is 0x88..0xA1 (26 bytes), `blockE1` is
 * 0xE1..0xE7 (7 bytes, BME280 only). Little-endian words; T1, P1, H1, H3 unsigned; H4 and
 * H5 are 12-bit signed values sharing the nibbles of 0xE5.
 */
export const parseCalibration = (block88: Uint8Array, blockE1?: Uint8Array): Bme280Calibration => {
  const a = new DataView(block88.buffer, block88.byteOffset, block88.byteLength)
  const u16 = (at: number) => a.getUint16(at, true)
  const s16 = (at: number) => a.getInt16(at, true)
  const base = {
    T1: u16(0),
    T2: s16(2),
    T3: s16(4),
    P1: u16(6),
    P2: s16(8),
    P3: s16(10),
    P4: s16(12),
    P5: s16(14),
    P6: s16(16),
    P7: s16(18),
    P8: s16(20),
    P9: s16(22)
  }
  if (blockE1 === undefined) return base
  const e = new DataView(blockE1.buffer, blockE1.byteOffset, blockE1.byteLength)
  return {
    ...base,
    H: {
      H1: a.getUint8(25),
      H2: e.getInt16(0, true),
      H3: e.getUint8(2),
      // 0xE4 is H4[11:4] (signed), 0xE5[3:0] H4[3:0]; 0xE6 is H5[11:4] (signed), 0xE5[7:4] H5[3:0].
      H4: (e.getInt8(3) * 16) | (e.getUint8(4) & 0x0f),
      H5: (e.getInt8(5) * 16) | (e.getUint8(4) >> 4),
      H6: e.getInt8(6)
    }
  }
}

/** Temperature in °C and the `t_fine` the other two formulas take. */
export const compensateTemperature = (c: Bme280Calibration, adcT: number): { readonly celsius: number; readonly tFine: number } => {
  const var1 = (adcT / 16384 - c.T1 / 1024) * c.T2
  const var2 = (adcT / 131072 - c.T1 / 8192) * (adcT / 131072 - c.T1 / 8192) * c.T3
  const tFine = var1 + var2
  return { celsius: tFine / 5120, tFine }
}

/** Pressure in Pa; undefined when P1 is 0 (the datasheet's guard against dividing by zero: a blank chip). */
export const compensatePressure = (c: Bme280Calibration, adcP: number, tFine: number): number | undefined => {
  let var1 = tFine / 2 - 64000
  let var2 = var1 * var1 * c.P6 / 32768
  var2 = var2 + var1 * c.P5 * 2
  var2 = var2 / 4 + c.P4 * 65536
  var1 = (c.P3 * var1 * var1 / 524288 + c.P2 * var1) / 524288
  var1 = (1 + var1 / 32768) * c.P1
  if (var1 === 0) return undefined
  let p = 1048576 - adcP
  p = (p - var2 / 4096) * 6250 / var1
  var1 = c.P9 * p * p / 2147483648
  var2 = p * c.P8 / 32768
  return p + (var1 + var2 + c.P7) / 16
}

/** Relative humidity in %, clamped to 0..100 as the datasheet does. */
export const compensateHumidity = (h: NonNullable<Bme280Calibration["H"]>, adcH: number, tFine: number): number => {
  let v = tFine - 76800
  v = (adcH - (h.H4 * 64 + h.H5 / 16384 * v)) * (h.H2 / 65536 * (1 + h.H6 / 67108864 * v * (1 + h.H3 / 67108864 * v)))
  v = v * (1 - h.H1 * v / 524288)
  return Math.min(100, Math.max(0, v))
}

/** The raw values in the data burst from 0xF7: 20-bit pressure and temperature, 16-bit humidity. */
export const parseRaw = (data: Uint8Array): { readonly adcP: number; readonly adcT: number; readonly adcH?: number } => {
  const adcP = (data[0]! << 12) | (data[1]! << 4) | (data[2]! >> 4)
  const adcT = (data[3]! << 12) | (data[4]! << 4) | (data[5]! >> 4)
  return data.length >= 8 ? { adcP, adcT, adcH: (data[6]! << 8) | data[7]! } : { adcP, adcT }
}

/** What a BME280 gives; `humidity` is absent on a BMP280. Pressure in hPa. */
export interface Bme280Reading {
  readonly temperature: number
  readonly pressure: number
  readonly humidity?: number
}

/** 0x80000 (20-bit) and 0x8000 (16-bit) are what the chip returns for a skipped measurement. */
const SKIPPED_20 = 0x80000
const SKIPPED_16 = 0x8000

/** Oversampling ×1 for every quantity, forced mode. */
const CTRL_HUM = 0b001
const CTRL_MEAS = (0b001 << 5) | (0b001 << 2) | 0b01

/** One forced-mode measurement, compensated. */
export const readBme280 = (io: ChipIo, model: Bme280Model): Effect.Effect<Bme280Reading, I2cError> =>
  Effect.gen(function*() {
    const id = yield* io.readByte(REG.id)
    const isBme = id === BME280_CHIP_ID
    const isBmp = BMP280_CHIP_IDS.includes(id)
    if (!isBme && !isBmp) {
      return yield* Effect.fail(io.fail("WrongChip", `chip id 0x${id.toString(16)} is neither a BME280 (0x60) nor a BMP280 (0x58): another chip at this address?`))
    }
    if (model === "bme280" && !isBme) {
      return yield* Effect.fail(io.fail("WrongChip", `chip id 0x${id.toString(16)} is a BMP280, which has no humidity sensor: use kind: bmp280`))
    }
    const calibration = parseCalibration(yield* io.readBlock(REG.calib00, 26), isBme && model === "bme280" ? yield* io.readBlock(REG.calib26, 7) : undefined)
    if (model === "bme280") yield* io.writeByte(REG.ctrlHum, CTRL_HUM)
    yield* io.writeByte(REG.ctrlMeas, CTRL_MEAS)
    // Typical 8 ms at ×1 oversampling, 9.3 ms at most (datasheet 9.1); then the status bit says.
    yield* Effect.sleep("10 millis")
    let status = yield* io.readByte(REG.status)
    for (let tries = 0; (status & 0x08) !== 0 && tries < 10; tries++) {
      yield* Effect.sleep("2 millis")
      status = yield* io.readByte(REG.status)
    }
    if ((status & 0x08) !== 0) return yield* Effect.fail(io.fail("NotReady", "the measurement did not finish within 30 ms"))
    const raw = parseRaw(yield* io.readBlock(REG.data, model === "bme280" ? 8 : 6))
    if (raw.adcT === SKIPPED_20 || raw.adcP === SKIPPED_20 || raw.adcH === SKIPPED_16) {
      return yield* Effect.fail(io.fail("Skipped", "the chip returned the skipped-measurement value (it did not measure: reset or brown-out?)"))
    }
    const t = compensateTemperature(calibration, raw.adcT)
    const pa = compensatePressure(calibration, raw.adcP, t.tFine)
    if (pa === undefined) return yield* Effect.fail(io.fail("WrongChip", "calibration P1 is 0: the calibration block is blank"))
    const reading: Bme280Reading = { temperature: t.celsius, pressure: pa / 100 }
    return calibration.H === undefined || raw.adcH === undefined
      ? reading
      : { ...reading, humidity: compensateHumidity(calibration.H, raw.adcH, t.tFine) }
  })
