/**
 * The I2C chips at the level their drivers speak: a fake bus implementing the i2c-bus calls
 * the drivers use (readByte, writeByte, readI2cBlock, i2cRead, i2cWrite), answering register
 * reads from a register file, recording every write.
 *
 * BME280: the calibration block and raw values of the BMP280 datasheet's worked example
 * (section 3.12: 25.08 °C, 100653.27 Pa; the T and P coefficients and formulas are the same
 * in the BME280) with humidity coefficients of a BME280, checked against the datasheet's
 * double-precision compensation (BME280 datasheet 8.1) written again here, independently of
 * the driver; then random calibration blocks and raw values (fast-check), which exercise
 * the signed words and the nibble-packed H4/H5 the example does not.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import fc from "fast-check"
import {
  ads1115Config,
  ads1115Volts,
  type Ads1115Channel,
  type ChipIo,
  ADS1115_GAINS,
  ADS1115_INPUTS,
  ADS1115_RATES,
  type I2cBus,
  I2cDriver,
  type I2cError,
  layerSimulatedI2c,
  SimulatedI2c,
  parseSht31,
  readAds1115,
  readBme280,
  readSht31,
  scaleAnalog,
  sht31Crc
} from "@bramble/hardware"

/** A bus of register-file chips: reads answer from `registers`, writes are recorded and may be answered by `onWrite`. */
class FakeBus implements I2cBus {
  readonly registers = new Map<number, Uint8Array>()
  readonly writes: Array<{ address: number; bytes: Array<number> }> = []
  /** What a plain read returns, per address (the SHT31's reply). */
  readonly replies = new Map<number, Uint8Array>()
  onWrite: (address: number, bytes: Array<number>) => void = () => {}

  chip(address: number, at: Record<number, ArrayLike<number>>): this {
    const file = this.registers.get(address) ?? new Uint8Array(256)
    for (const [register, bytes] of Object.entries(at)) file.set(Array.from(bytes), Number(register))
    this.registers.set(address, file)
    return this
  }

  private file(address: number): Uint8Array {
    const file = this.registers.get(address)
    if (file === undefined) throw Object.assign(new Error("Remote I/O error"), { code: "EREMOTEIO" })
    return file
  }

  async readByte(address: number, command: number) {
    return this.file(address)[command]!
  }
  async writeByte(address: number, command: number, byte: number) {
    this.file(address)[command] = byte
    this.writes.push({ address, bytes: [command, byte] })
    this.onWrite(address, [command, byte])
  }
  async readI2cBlock(address: number, command: number, length: number, buffer: Buffer) {
    buffer.set(this.file(address).subarray(command, command + length))
    return { bytesRead: length, buffer }
  }
  async i2cRead(address: number, length: number, buffer: Buffer) {
    this.file(address)
    const reply = this.replies.get(address) ?? new Uint8Array(length)
    buffer.set(reply.subarray(0, length))
    return { bytesRead: length, buffer }
  }
  async i2cWrite(address: number, length: number, buffer: Buffer) {
    const bytes = Array.from(buffer.subarray(0, length))
    this.file(address)
    this.writes.push({ address, bytes })
    this.onWrite(address, bytes)
    return { bytesWritten: length, buffer }
  }
}

const onBus = <A>(bus: FakeBus, address: number, f: (io: ChipIo) => Effect.Effect<A, I2cError>) =>
  Effect.gen(function*() {
    const h = yield* handle(1)
    return yield* h.use(address, "test", f)
  }).pipe(Effect.provide(I2cDriver.layerBuses(new Map([[1, bus]]))))

const handle = (n: number) => Effect.flatMap(I2cDriver, (d) => d.bus(n))

// ---- BME280 -------------------------------------------------------------------------------

interface Coefficients {
  T1: number; T2: number; T3: number
  P1: number; P2: number; P3: number; P4: number; P5: number; P6: number; P7: number; P8: number; P9: number
  H1: number; H2: number; H3: number; H4: number; H5: number; H6: number
}

/** The BMP280 datasheet's worked example (T, P); H of a BME280. */
const EXAMPLE: Coefficients = {
  T1: 27504, T2: 26435, T3: -1000,
  P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000,
  H1: 75, H2: 362, H3: 0, H4: 313, H5: 50, H6: 30
}

/** The registers 0x88..0xA1 and 0xE1..0xE7 holding `c`, laid out as in the datasheet's table 16. */
const calibrationRegisters = (c: Coefficients): Record<number, Array<number>> => {
  const le16 = (v: number) => [v & 0xff, (v >> 8) & 0xff]
  const block88 = [c.T1, c.T2, c.T3, c.P1, c.P2, c.P3, c.P4, c.P5, c.P6, c.P7, c.P8, c.P9].flatMap(le16)
  block88.push(0, c.H1) // 0xA0 unused, 0xA1 H1
  const blockE1 = [...le16(c.H2), c.H3, (c.H4 >> 4) & 0xff, (c.H4 & 0x0f) | ((c.H5 & 0x0f) << 4), (c.H5 >> 4) & 0xff, c.H6 & 0xff]
  return { 0x88: block88, 0xe1: blockE1 }
}

/** The data burst 0xF7..0xFE for raw values. */
const dataRegisters = (adcP: number, adcT: number, adcH: number) =>
  [adcP >> 12, (adcP >> 4) & 0xff, (adcP & 0x0f) << 4, adcT >> 12, (adcT >> 4) & 0xff, (adcT & 0x0f) << 4, adcH >> 8, adcH & 0xff]

/** The datasheet's double-precision compensation (BME280 datasheet 8.1), written out for the test. */
const reference = (c: Coefficients, adcT: number, adcP: number, adcH: number) => {
  let var1 = (adcT / 16384.0 - c.T1 / 1024.0) * c.T2
  let var2 = ((adcT / 131072.0 - c.T1 / 8192.0) * (adcT / 131072.0 - c.T1 / 8192.0)) * c.T3
  const tFine = var1 + var2
  const T = tFine / 5120.0

  var1 = tFine / 2.0 - 64000.0
  var2 = var1 * var1 * c.P6 / 32768.0
  var2 = var2 + var1 * c.P5 * 2.0
  var2 = var2 / 4.0 + c.P4 * 65536.0
  var1 = (c.P3 * var1 * var1 / 524288.0 + c.P2 * var1) / 524288.0
  var1 = (1.0 + var1 / 32768.0) * c.P1
  let P = 1048576.0 - adcP
  P = (P - var2 / 4096.0) * 6250.0 / var1
  var1 = c.P9 * P * P / 2147483648.0
  var2 = P * c.P8 / 32768.0
  P = P + (var1 + var2 + c.P7) / 16.0

  let H = tFine - 76800.0
  H = (adcH - (c.H4 * 64.0 + c.H5 / 16384.0 * H)) * (c.H2 / 65536.0 * (1.0 + c.H6 / 67108864.0 * H * (1.0 + c.H3 / 67108864.0 * H)))
  H = H * (1.0 - c.H1 * H / 524288.0)
  if (H > 100.0) H = 100.0
  else if (H < 0.0) H = 0.0
  return { T, P, H }
}

const bme280 = (c: Coefficients, adcP: number, adcT: number, adcH: number, id = 0x60) =>
  new FakeBus().chip(0x76, { ...calibrationRegisters(c), 0xd0: [id], 0xf3: [0], 0xf7: dataRegisters(adcP, adcT, adcH) })

describe("BME280 / BMP280", () => {
  it.live("the datasheet's worked example: 25.08 °C and 100653.27 Pa; humidity as the reference formula gives; ctrl_hum written before ctrl_meas (forced mode)", () =>
    Effect.gen(function*() {
      const bus = bme280(EXAMPLE, 415148, 519888, 30000)
      const reading = yield* onBus(bus, 0x76, (io) => readBme280(io, "bme280"))
      assert.closeTo(reading.temperature, 25.08, 0.005)
      assert.closeTo(reading.pressure * 100, 100653.27, 0.01)
      const ref = reference(EXAMPLE, 519888, 415148, 30000)
      assert.closeTo(reading.temperature, ref.T, 1e-9)
      assert.closeTo(reading.pressure * 100, ref.P, 1e-6)
      assert.closeTo(reading.humidity!, ref.H, 1e-9)
      assert.isAbove(reading.humidity!, 0)
      assert.isBelow(reading.humidity!, 100)
      assert.deepStrictEqual(bus.writes.map((w) => w.bytes), [[0xf2, 0b001], [0xf4, 0b001_001_01]])
    }))

  it.live("property: any calibration block and raw values compensate as the reference does (signed words, H4/H5 nibbles)", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.record({
            T1: fc.integer({ min: 20000, max: 35000 }), T2: fc.integer({ min: 20000, max: 32767 }), T3: fc.integer({ min: -3000, max: 3000 }),
            P1: fc.integer({ min: 30000, max: 40000 }), P2: fc.integer({ min: -12000, max: -8000 }), P3: fc.integer({ min: 2000, max: 4000 }),
            P4: fc.integer({ min: -32768, max: 32767 }), P5: fc.integer({ min: -500, max: 500 }), P6: fc.integer({ min: -100, max: 100 }),
            P7: fc.integer({ min: -32768, max: 32767 }), P8: fc.integer({ min: -32768, max: 32767 }), P9: fc.integer({ min: -32768, max: 32767 }),
            H1: fc.integer({ min: 0, max: 255 }), H2: fc.integer({ min: -32768, max: 32767 }), H3: fc.integer({ min: 0, max: 255 }),
            H4: fc.integer({ min: -2048, max: 2047 }), H5: fc.integer({ min: -2048, max: 2047 }), H6: fc.integer({ min: -128, max: 127 })
          }),
          fc.integer({ min: 300000, max: 700000 }),
          fc.integer({ min: 200000, max: 700000 }),
          fc.integer({ min: 0, max: 0x7fff }),
          async (c, adcT, adcP, adcH) => {
            const reading = await Effect.runPromise(onBus(bme280(c, adcP, adcT, adcH), 0x76, (io) => readBme280(io, "bme280")))
            const ref = reference(c, adcT, adcP, adcH)
            assert.strictEqual(reading.temperature, ref.T)
            assert.closeTo(reading.pressure * 100, ref.P, Math.abs(ref.P) * 1e-12 + 1e-9)
            assert.strictEqual(reading.humidity, ref.H)
          }
        ),
        { numRuns: 200 }
      )
    ))

  it.live("a BMP280 (id 0x58) reads temperature and pressure, no humidity; one configured as BME280 is WrongChip; no chip is Io with the i2cdetect hint", () =>
    Effect.gen(function*() {
      const bmp = yield* onBus(bme280(EXAMPLE, 415148, 519888, 0, 0x58), 0x76, (io) => readBme280(io, "bmp280"))
      assert.deepStrictEqual(Object.keys(bmp).sort(), ["pressure", "temperature"])
      assert.closeTo(bmp.temperature, 25.08, 0.005)
      const wrong = yield* Effect.flip(onBus(bme280(EXAMPLE, 415148, 519888, 0, 0x58), 0x76, (io) => readBme280(io, "bme280")))
      assert.strictEqual(wrong.reason, "WrongChip")
      assert.include(wrong.message, "kind: bmp280")
      const absent = yield* Effect.flip(onBus(bme280(EXAMPLE, 415148, 519888, 0), 0x77, (io) => readBme280(io, "bme280")))
      assert.strictEqual(absent.reason, "Io")
      assert.include(absent.message, "0x77")
      assert.include(absent.message, "i2cdetect -y 1")
    }))

  it.live("the skipped-measurement value (0x80000) is a fault, not a temperature", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(onBus(bme280(EXAMPLE, 415148, 0x80000, 30000), 0x76, (io) => readBme280(io, "bme280")))
      assert.strictEqual(error.reason, "Skipped")
    }))
})

// ---- SHT31 --------------------------------------------------------------------------------

describe("SHT31", () => {
  it("CRC-8 of the datasheet's example: 0xBEEF → 0x92", () => {
    assert.strictEqual(sht31Crc([0xbe, 0xef]), 0x92)
  })

  it.live("single shot, high repeatability (0x2400); temperature and humidity from the datasheet formulas", () =>
    Effect.gen(function*() {
      const bus = new FakeBus().chip(0x44, {})
      // 0x6666 → -45 + 175 * 26214 / 65535 = 25.0 °C; 0x8000 → 50.0008 %RH.
      bus.replies.set(0x44, new Uint8Array([0x66, 0x66, sht31Crc([0x66, 0x66]), 0x80, 0x00, sht31Crc([0x80, 0x00])]))
      const reading = yield* onBus(bus, 0x44, readSht31)
      assert.deepStrictEqual(bus.writes, [{ address: 0x44, bytes: [0x24, 0x00] }])
      assert.closeTo(reading.temperature, -45 + 175 * 0x6666 / 65535, 1e-12)
      assert.closeTo(reading.temperature, 25, 0.001)
      assert.closeTo(reading.humidity, 100 * 0x8000 / 65535, 1e-12)
    }))

  it.live("a reply with a bad CRC is a Crc fault naming the word, never a value", () =>
    Effect.gen(function*() {
      const bus = new FakeBus().chip(0x45, {})
      bus.replies.set(0x45, new Uint8Array([0x66, 0x66, sht31Crc([0x66, 0x66]), 0x80, 0x00, sht31Crc([0x80, 0x00]) ^ 0x01]))
      const error = yield* Effect.flip(onBus(bus, 0x45, readSht31))
      assert.strictEqual(error.reason, "Crc")
      assert.include(error.message, "humidity")
    }))

  it("property: any single flipped bit of a reply is caught by the CRC", () =>
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 47 }), (t, h, bit) => {
        const reply = new Uint8Array([t >> 8, t & 0xff, sht31Crc([t >> 8, t & 0xff]), h >> 8, h & 0xff, sht31Crc([h >> 8, h & 0xff])])
        const good = parseSht31(reply)
        assert.isTrue("temperature" in good)
        reply[bit >> 3]! ^= 1 << (bit & 7)
        assert.isTrue("crcFailed" in parseSht31(reply))
      })
    ))
})

// ---- ADS1115 ------------------------------------------------------------------------------

/** An ADS1115 that converts on every config write with OS set: `volts` per single input. Its registers are 16-bit words. */
const ads1115 = (volts: Record<string, number>) => {
  const bus = new FakeBus().chip(0x48, {})
  const words = { conversion: 0, config: 0x8583 }
  bus.onWrite = (_address, bytes) => {
    if (bytes[0] !== 0x01) return
    const config = (bytes[1]! << 8) | bytes[2]!
    // The datasheet's table 8: MUX[14:12] and PGA[11:9].
    const mux = ["A0-A1", "A0-A3", "A1-A3", "A2-A3", "A0", "A1", "A2", "A3"][(config >> 12) & 7]!
    const fullScale = [6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256][(config >> 9) & 7]!
    const [p, n] = mux.split("-")
    const v = volts[p!]! - (n === undefined ? 0 : volts[n]!)
    words.conversion = Math.max(-32768, Math.min(32767, Math.round(v / fullScale * 32768))) & 0xffff
    words.config = config | 0x8000
  }
  bus.readI2cBlock = async (_address, command, length, buffer) => {
    const word = command === 0 ? words.conversion : words.config
    buffer.set([word >> 8, word & 0xff].slice(0, length))
    return { bytesRead: length, buffer }
  }
  return bus
}

describe("ADS1115", () => {
  it("config word: the datasheet's reset value 0x8583 is A0-A1, ±2.048 V, 128 SPS, single shot, comparator off", () => {
    assert.strictEqual(ads1115Config({ input: "A0-A1", gain: 2.048, rate: 128 }), 0x8583)
    // OS=1, MUX=100 (A0-GND), PGA=001 (±4.096), MODE=1, DR=111 (860), COMP_QUE=11.
    assert.strictEqual(ads1115Config({ input: "A0", gain: 4.096, rate: 860 }), 0b1_100_001_1_111_00011)
    assert.strictEqual(ads1115Config({ input: "A2-A3", gain: 0.256, rate: 8 }), 0b1_011_101_1_000_00011)
  })

  it("property: every input, gain and rate lands in its own bits", () =>
    fc.assert(
      fc.property(fc.constantFrom(...ADS1115_INPUTS), fc.constantFrom(...ADS1115_GAINS), fc.constantFrom(...ADS1115_RATES), (input, gain, rate) => {
        const word = ads1115Config({ input, gain, rate })
        assert.strictEqual(word >> 15, 1)
        assert.strictEqual(ADS1115_INPUTS[(word >> 12) & 7], input)
        assert.strictEqual(ADS1115_GAINS[(word >> 9) & 7], gain)
        assert.strictEqual((word >> 8) & 1, 1)
        assert.strictEqual(ADS1115_RATES[(word >> 5) & 7], rate)
        assert.strictEqual(word & 0x1f, 0b00011)
      })
    ))

  it("conversion register: signed 16-bit, full scale ±gain", () => {
    assert.strictEqual(ads1115Volts(0x7f, 0xff, 4.096), 32767 * 4.096 / 32768)
    assert.strictEqual(ads1115Volts(0x80, 0x00, 4.096), -4.096)
    assert.strictEqual(ads1115Volts(0x40, 0x00, 2.048), 1.024)
    assert.strictEqual(ads1115Volts(0xff, 0xff, 6.144), -6.144 / 32768)
  })

  it.live("single-ended and differential conversions through the bus: config written big-endian to 0x01, result read from 0x00", () =>
    Effect.gen(function*() {
      const bus = ads1115({ A0: 3.0, A1: 1.25, A2: 0.5, A3: 0.1 })
      const read = (channel: Ads1115Channel) => onBus(bus, 0x48, (io) => readAds1115(io, channel))
      assert.closeTo(yield* read({ input: "A0", gain: 4.096, rate: 860 }), 3.0, 4.096 / 32768)
      assert.deepStrictEqual(bus.writes[0], { address: 0x48, bytes: [0x01, 0xc3, 0xe3] })
      assert.closeTo(yield* read({ input: "A0-A1", gain: 2.048, rate: 475 }), 1.75, 2.048 / 32768)
      assert.closeTo(yield* read({ input: "A2-A3", gain: 0.512, rate: 250 }), 0.4, 0.512 / 32768)
      // Beyond the gain's full scale the chip saturates.
      assert.closeTo(yield* read({ input: "A0", gain: 1.024, rate: 860 }), 1.024, 1e-3)
    }))

  describe("scaling to engineering units", () => {
    const loop = { shuntOhms: 250, from: [4, 20] as const, to: [0, 10] as const, clamp: true, faultBelow: 3.8, faultAbove: 21 }

    it("4-20 mA → 0-10 bar through 250 Ω: 1 V is 0 bar, 3 V is 5, 5 V is 10; clamped at the ends; below 3.8 mA a broken loop", () => {
      assert.deepStrictEqual(scaleAnalog(1.0, loop), { value: 0 })
      assert.deepStrictEqual(scaleAnalog(3.0, loop), { value: 5 })
      assert.deepStrictEqual(scaleAnalog(5.0, loop), { value: 10 })
      // 3.9 mA and 20.4 mA are inside the live range: clamped, not faults.
      assert.deepStrictEqual(scaleAnalog(0.975, loop), { value: 0 })
      assert.deepStrictEqual(scaleAnalog(5.1, loop), { value: 10 })
      assert.deepStrictEqual(scaleAnalog(5.1, { ...loop, clamp: false }), { value: 10.25 })
      const broken = scaleAnalog(0.5, loop)
      assert.isTrue("fault" in broken && broken.fault.includes("2 mA is below 3.8 mA") && broken.fault.includes("broken loop"), JSON.stringify(broken))
      assert.isTrue("fault" in scaleAnalog(5.5, loop))
    })

    it("a voltage range without a shunt; an inverted engineering range", () => {
      assert.deepStrictEqual(scaleAnalog(2.5, { from: [0, 5], to: [0, 100] }), { value: 50 })
      assert.deepStrictEqual(scaleAnalog(1.2, {}), { value: 1.2 })
      assert.deepStrictEqual(scaleAnalog(1, { from: [0, 5], to: [100, 0] }), { value: 80 })
    })

    it("property: inside the live range the value is the linear model, clamped into the engineering range", () =>
      fc.assert(
        fc.property(
          fc.double({ min: 0, max: 6, noNaN: true }),
          fc.double({ min: -100, max: 100, noNaN: true }),
          fc.double({ min: 1, max: 1000, noNaN: true }),
          (volts, outLo, span) => {
            const s = { shuntOhms: 250, from: [4, 20] as const, to: [outLo, outLo + span] as const, faultBelow: 3.8, faultAbove: 21 }
            const mA = volts / 250 * 1000
            const result = scaleAnalog(volts, s)
            if (mA < 3.8 || mA > 21) return assert.isTrue("fault" in result)
            assert.isTrue("value" in result)
            const value = (result as { value: number }).value
            const linear = outLo + (mA - 4) * span / 16
            assert.closeTo(value, Math.min(outLo + span, Math.max(outLo, linear)), 1e-9 * (1 + Math.abs(linear)))
          }
        )
      ))
  })
})

// ---- the bus and the twin -----------------------------------------------------------------

describe("I2C bus ownership and the simulated twin", () => {
  it.live("chips on one bus are read in turn: transactions never interleave", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const bus = ads1115({ A0: 1, A1: 2, A2: 3, A3: 0 })
      const inner = bus.i2cWrite.bind(bus)
      bus.i2cWrite = async (address, length, buffer) => {
        log.push(`write ${buffer[1]!.toString(16)}`)
        return inner(address, length, buffer)
      }
      const innerRead = bus.readI2cBlock.bind(bus)
      bus.readI2cBlock = async (address, command, length, buffer) => {
        if (command === 0) log.push("result")
        return innerRead(address, command, length, buffer)
      }
      const h = yield* handle(1).pipe(Effect.provide(I2cDriver.layerBuses(new Map([[1, bus]]))))
      const values = yield* Effect.all(
        (["A0", "A1", "A2"] as const).map((input) => h.use(0x48, "ADS1115", (io) => readAds1115(io, { input, gain: 4.096, rate: 860 }))),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(values.map((v) => Math.round(v * 100) / 100), [1, 2, 3])
      // write, result, write, result...: a conversion is never split by another.
      assert.deepStrictEqual(log.map((l) => l.startsWith("write") ? "w" : "r"), ["w", "r", "w", "r", "w", "r"])
    }))

  it.live("the twin's chips answer through the real drivers: plausible BME280, SHT31 and ADS1115 values; a scripted NACK is an Io fault; other addresses do not answer", () =>
    Effect.gen(function*() {
      const driver = yield* I2cDriver
      const bus = yield* driver.bus(1)
      const air = yield* bus.use(0x76, "BME280", (io) => readBme280(io, "bme280"))
      assert.isTrue(air.temperature > 15 && air.temperature < 27, `${air.temperature}`)
      assert.isTrue(air.pressure > 1000 && air.pressure < 1025, `${air.pressure}`)
      assert.isTrue(air.humidity! > 40 && air.humidity! < 70, `${air.humidity}`)
      const sht = yield* bus.use(0x44, "SHT31", readSht31)
      assert.isTrue(sht.temperature > 15 && sht.temperature < 27)
      const volts = yield* bus.use(0x48, "ADS1115", (io) => readAds1115(io, { input: "A0", gain: 4.096, rate: 860 }))
      assert.isTrue(volts > 1 && volts < 2.5, `${volts}`)
      yield* (yield* SimulatedI2c).setVolts(1, 0x48, "A0", 0.3)
      assert.closeTo(yield* bus.use(0x48, "ADS1115", (io) => readAds1115(io, { input: "A0", gain: 4.096, rate: 860 })), 0.3, 1e-3)
      yield* (yield* SimulatedI2c).failNext(1, 0x76, 1)
      assert.strictEqual((yield* Effect.flip(bus.use(0x76, "BME280", (io) => readBme280(io, "bme280")))).reason, "Io")
      assert.strictEqual((yield* Effect.flip(bus.use(0x20, "X", (io) => io.readByte(0)))).reason, "Io")
    }).pipe(Effect.provide(layerSimulatedI2c())))

  it.live("a BMP280 declared to the twin answers as one", () =>
    Effect.gen(function*() {
      const bus = yield* (yield* I2cDriver).bus(3)
      const reading = yield* bus.use(0x77, "BMP280", (io) => readBme280(io, "bmp280"))
      assert.isUndefined(reading.humidity)
      assert.strictEqual((yield* Effect.flip(bus.use(0x77, "BME280", (io) => readBme280(io, "bme280")))).reason, "WrongChip")
    }).pipe(Effect.provide(Layer.fresh(layerSimulatedI2c({ chips: [{ bus: 3, address: 0x77, model: "bmp280" }] })))))
})
