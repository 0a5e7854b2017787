/**
 * The simulated twin of a node's I2C buses, for `--simulate`, the demo and tests. It
 * simulates the chips at the level the drivers speak, register reads and writes, so the
 * chip code that runs on a Pi (calibration, compensation, CRCs, ADC config words) is the
 * code that runs here:
 *
 * - a BME280 (or BMP280) at 0x76/0x77 with a real calibration block, whose raw ADC values
 *   are found by bisection through the datasheet formulas so that they compensate to a slow
 *   drift around 21 °C, 55 %RH, 1013 hPa;
 * - an SHT31 at 0x44/0x45, replies with their CRCs;
 * - an ADS1115 at 0x48..0x4B whose inputs drift around 1.8 V (12 mA through 150 Ω), each
 *   settable, converted with the gain and input the config word asks for.
 *
 * Any other address does not acknowledge (EREMOTEIO), as on a real bus. Faults are
 * scripted through `SimulatedI2c`.
 */
import { Context, Effect, Layer } from "effect"
import { compensateHumidity, compensatePressure, compensateTemperature, parseCalibration } from "./Bme280.js"
import { ADS1115_GAINS, ADS1115_INPUTS } from "./Ads1115.js"
import { type I2cBus, I2cDriver, makeI2cDriver } from "./I2cBus.js"
import { hashGaussian } from "./internal/prng.js"
import { sht31Crc } from "./Sht31.js"

/** The chip models the twin simulates. */
export type SimulatedChipModel = "bme280" | "bmp280" | "sht31" | "ads1115"

/** The simulated buses' control service. */
export class SimulatedI2c extends Context.Service<SimulatedI2c, {
  /** The next `count` transfers to the chip are not acknowledged. */
  failNext(bus: number, address: number, count: number): Effect.Effect<void>
  /** Holds an ADS1115 input (`A0`..`A3`, against GND) at `volts`; undefined lets it drift again. */
  setVolts(bus: number, address: number, pin: "A0" | "A1" | "A2" | "A3", volts: number | undefined): Effect.Effect<void>
}>()("bramble/hardware/SimulatedI2c") {}

/**
 * A calibration block: T and P are the worked example of the BMP280 datasheet (section 3.12),
 * H typical values of a BME280.
 */
export const SIMULATED_BME280_CALIBRATION = {
  T1: 27504, T2: 26435, T3: -1000,
  P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000,
  H1: 75, H2: 362, H3: 0, H4: 313, H5: 50, H6: 30
} as const

/** The calibration registers 0x88..0xA1 and 0xE1..0xE7 of `c`. */
export const encodeBme280Calibration = (c: typeof SIMULATED_BME280_CALIBRATION): { readonly block88: Uint8Array; readonly blockE1: Uint8Array } => {
  const block88 = new Uint8Array(26)
  const a = new DataView(block88.buffer)
  a.setUint16(0, c.T1, true)
  a.setInt16(2, c.T2, true)
  a.setInt16(4, c.T3, true)
  a.setUint16(6, c.P1, true)
  ;[c.P2, c.P3, c.P4, c.P5, c.P6, c.P7, c.P8, c.P9].forEach((p, i) => a.setInt16(8 + 2 * i, p, true))
  a.setUint8(25, c.H1)
  const blockE1 = new Uint8Array(7)
  const e = new DataView(blockE1.buffer)
  e.setInt16(0, c.H2, true)
  e.setUint8(2, c.H3)
  e.setUint8(3, (c.H4 >> 4) & 0xff)
  e.setUint8(4, (c.H4 & 0x0f) | ((c.H5 & 0x0f) << 4))
  e.setUint8(5, (c.H5 >> 4) & 0xff)
  e.setInt8(6, c.H6)
  return { block88, blockE1 }
}

/** The integer in [0, 2^bits) whose image under the monotonic `f` is closest to `target`. */
const invert = (f: (x: number) => number, target: number, bits: number): number => {
  let lo = 0
  let hi = 2 ** bits - 1
  const rising = f(hi) > f(lo)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if ((f(mid) < target) === rising) lo = mid
    else hi = mid
  }
  return Math.abs(f(lo) - target) <= Math.abs(f(hi) - target) ? lo : hi
}

interface SimChip {
  readByte(register: number): number
  writeByte(register: number, value: number): void
  readBlock(register: number, length: number): Uint8Array
  write(bytes: Uint8Array): void
  read(length: number): Uint8Array
}

const drift = (seed: number, key: number, at: number, periodMs: number) => Math.sin(2 * Math.PI * at / periodMs + key) + 0.02 * hashGaussian(seed, key, at, 7)

const bme280Chip = (model: "bme280" | "bmp280", key: number): SimChip => {
  const registers = new Uint8Array(256)
  const { block88, blockE1 } = encodeBme280Calibration(SIMULATED_BME280_CALIBRATION)
  registers.set(block88, 0x88)
  if (model === "bme280") registers.set(blockE1, 0xe1)
  registers[0xd0] = model === "bme280" ? 0x60 : 0x58
  const calibration = parseCalibration(block88, model === "bme280" ? blockE1 : undefined)
  const measure = () => {
    const at = Date.now()
    const celsius = 21 + 3 * drift(1, key, at, 3_600_000)
    const pascal = 101_300 + 500 * drift(2, key, at, 7_200_000)
    const rh = 55 + 10 * drift(3, key, at, 5_400_000)
    const adcT = invert((x) => compensateTemperature(calibration, x).celsius, celsius, 20)
    const tFine = compensateTemperature(calibration, adcT).tFine
    const adcP = invert((x) => compensatePressure(calibration, x, tFine) ?? 0, pascal, 20)
    registers.set([adcP >> 12, (adcP >> 4) & 0xff, (adcP & 0x0f) << 4, adcT >> 12, (adcT >> 4) & 0xff, (adcT & 0x0f) << 4], 0xf7)
    if (calibration.H !== undefined) {
      const adcH = invert((x) => compensateHumidity(calibration.H!, x, tFine), rh, 16)
      registers.set([adcH >> 8, adcH & 0xff], 0xfd)
    } else registers.set([0x80, 0x00], 0xfd)
  }
  return {
    readByte: (register) => registers[register]!,
    writeByte: (register, value) => {
      registers[register] = value
      if (register === 0xf4 && (value & 0b11) !== 0) measure()
    },
    readBlock: (register, length) => registers.slice(register, register + length),
    write: (bytes) => {
      for (let i = 1; i < bytes.length; i++) registers[bytes[0]! + i - 1] = bytes[i]!
    },
    read: (length) => registers.slice(0, length)
  }
}

const sht31Chip = (key: number): SimChip => {
  let pending: Uint8Array | undefined
  const word = (value: number) => [value >> 8, value & 0xff, sht31Crc([value >> 8, value & 0xff])]
  const nack = () => Object.assign(new Error("Remote I/O error"), { code: "EREMOTEIO" })
  return {
    readByte: () => {
      throw nack()
    },
    writeByte: () => {
      throw nack()
    },
    readBlock: () => {
      throw nack()
    },
    write: (bytes) => {
      if (bytes[0] !== 0x24) return
      const at = Date.now()
      const celsius = 21 + 3 * drift(4, key, at, 3_600_000)
      const rh = 55 + 10 * drift(5, key, at, 5_400_000)
      pending = new Uint8Array([...word(Math.round((celsius + 45) / 175 * 65535)), ...word(Math.round(rh / 100 * 65535))])
    },
    // Reading with no measurement pending is not acknowledged, as on the chip.
    read: (length) => {
      const reply = pending
      pending = undefined
      if (reply === undefined) throw nack()
      return reply.slice(0, length)
    }
  }
}

const ads1115Chip = (key: number, held: Map<string, number>): SimChip => {
  let config = 0x8583
  let conversion = 0
  const pin = (n: number) => held.get(`A${n}`) ?? 1.8 + 0.6 * drift(6, key * 4 + n, Date.now(), 600_000)
  const registers = () => new Uint8Array([config >> 8, config & 0xff])
  return {
    readByte: (register) => register === 0 ? conversion >> 8 & 0xff : config >> 8,
    writeByte: () => {},
    readBlock: (register) => register === 0 ? new Uint8Array([(conversion >> 8) & 0xff, conversion & 0xff]) : registers(),
    write: (bytes) => {
      if (bytes[0] !== 0x01 || bytes.length < 3) return
      config = (bytes[1]! << 8) | bytes[2]!
      if ((config & 0x8000) === 0) return
      const input = ADS1115_INPUTS[(config >> 12) & 0b111]!
      const gain = ADS1115_GAINS[Math.min(5, (config >> 9) & 0b111)]!
      const [p, n] = input.split("-").map((a) => Number(a.slice(1)))
      const volts = pin(p!) - (n === undefined ? 0 : pin(n))
      conversion = Math.max(-32768, Math.min(32767, Math.round(volts / gain * 32768))) & 0xffff
    },
    read: (length) => registers().slice(0, length)
  }
}

/** A simulated bus: the chips of `models` by address, or by the address's usual chip. */
const simulatedBus = (n: number, models: ReadonlyMap<string, SimulatedChipModel>, failures: Map<string, number>, held: Map<string, Map<string, number>>): I2cBus => {
  const chips = new Map<number, SimChip | undefined>()
  const chipAt = (address: number): SimChip | undefined => {
    if (chips.has(address)) return chips.get(address)
    const model = models.get(`${n}:${address}`) ??
      (address === 0x76 || address === 0x77 ? "bme280" : address === 0x44 || address === 0x45 ? "sht31" : address >= 0x48 && address <= 0x4b ? "ads1115" : undefined)
    const key = n * 128 + address
    const pins = held.get(`${n}:${address}`) ?? new Map<string, number>()
    held.set(`${n}:${address}`, pins)
    const chip = model === undefined ? undefined : model === "sht31" ? sht31Chip(key) : model === "ads1115" ? ads1115Chip(key, pins) : bme280Chip(model, key)
    chips.set(address, chip)
    return chip
  }
  const transfer = async <A>(address: number, f: (chip: SimChip) => A): Promise<A> => {
    const left = failures.get(`${n}:${address}`) ?? 0
    const chip = chipAt(address)
    if (chip === undefined || left > 0) {
      if (left > 0) failures.set(`${n}:${address}`, left - 1)
      throw Object.assign(new Error("Remote I/O error"), { code: "EREMOTEIO" })
    }
    return f(chip)
  }
  const into = (buffer: Buffer, bytes: Uint8Array) => {
    buffer.set(bytes)
    return { bytesRead: bytes.length, buffer }
  }
  return {
    readByte: (address, command) => transfer(address, (chip) => chip.readByte(command)),
    writeByte: (address, command, byte) => transfer(address, (chip) => chip.writeByte(command, byte)),
    readI2cBlock: (address, command, length, buffer) => transfer(address, (chip) => into(buffer, chip.readBlock(command, length))),
    i2cRead: (address, length, buffer) => transfer(address, (chip) => into(buffer, chip.read(length))),
    i2cWrite: (address, length, buffer) =>
      transfer(address, (chip) => {
        chip.write(new Uint8Array(buffer.subarray(0, length)))
        return { bytesWritten: length, buffer }
      })
  }
}

/**
 * The simulated buses (every bus number exists), with their control service. `chips` names
 * the model at an address where the usual one is not meant (a BMP280 at 0x76).
 */
export const layerSimulatedI2c = (
  options: { readonly chips?: ReadonlyArray<{ readonly bus: number; readonly address: number; readonly model: SimulatedChipModel }> } = {}
): Layer.Layer<I2cDriver | SimulatedI2c> =>
  Layer.effectContext(Effect.gen(function*() {
    const models = new Map((options.chips ?? []).map((c) => [`${c.bus}:${c.address}`, c.model] as const))
    const failures = new Map<string, number>()
    const held = new Map<string, Map<string, number>>()
    const driver = yield* makeI2cDriver((n) => Effect.succeed(simulatedBus(n, models, failures, held)))
    const control: SimulatedI2c["Service"] = {
      failNext: (bus, address, count) => Effect.sync(() => void failures.set(`${bus}:${address}`, (failures.get(`${bus}:${address}`) ?? 0) + count)),
      setVolts: (bus, address, pin, volts) =>
        Effect.sync(() => {
          const pins = held.get(`${bus}:${address}`) ?? new Map<string, number>()
          held.set(`${bus}:${address}`, pins)
          if (volts === undefined) pins.delete(pin)
          else pins.set(pin, volts)
        })
    }
    return Context.make(I2cDriver, driver).pipe(Context.add(SimulatedI2c, control))
  }))
