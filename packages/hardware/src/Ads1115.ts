/**
 * TI ADS1115, a 16-bit 4-channel ADC on I2C (0x48..0x4B by the ADDR pin), read in
 * single-shot mode: write the config register (0x01) with the input multiplexer, the
 * programmable gain and the data rate and the OS bit set, wait one conversion (1/rate), poll
 * OS until the conversion is done, read the conversion register (0x00, signed, big-endian).
 * Registers are 16-bit big-endian, unlike SMBus words, so they are written and read as
 * plain byte sequences.
 *
 * `scaleAnalog` turns the volts into engineering units: through a shunt resistor into mA,
 * then linearly from an input range to an output range (`4-20 mA -> 0-10 bar`), clamped to
 * the output range, with a live range outside which the input is a fault (a 4-20 mA loop
 * below 3.8 mA is broken: a cut wire or a dead transmitter, NAMUR NE 43), never a value.
 */
import { Effect } from "effect"
import type { ChipIo, I2cError } from "./I2cBus.js"

/** The inputs: single-ended (against GND) or differential (the first minus the second). */
export const ADS1115_INPUTS = ["A0-A1", "A0-A3", "A1-A3", "A2-A3", "A0", "A1", "A2", "A3"] as const
export type Ads1115Input = typeof ADS1115_INPUTS[number]

/** Full-scale ranges (±V) of the programmable gain amplifier, in PGA code order. */
export const ADS1115_GAINS = [6.144, 4.096, 2.048, 1.024, 0.512, 0.256] as const
export type Ads1115Gain = typeof ADS1115_GAINS[number]

/** Data rates (samples per second), in DR code order. */
export const ADS1115_RATES = [8, 16, 32, 64, 128, 250, 475, 860] as const
export type Ads1115Rate = typeof ADS1115_RATES[number]

export interface Ads1115Channel {
  readonly input: Ads1115Input
  readonly gain: Ads1115Gain
  readonly rate: Ads1115Rate
}

/**
 * The config register that starts one conversion: OS=1 (start), MUX[14:12] (the input's
 * index in ADS1115_INPUTS is its code), PGA[11:9], MODE=1 (single shot), DR[7:5], comparator
 * off (COMP_QUE=11).
 */
export const ads1115Config = (channel: Ads1115Channel): number =>
  (1 << 15) |
  (ADS1115_INPUTS.indexOf(channel.input) << 12) |
  (ADS1115_GAINS.indexOf(channel.gain) << 9) |
  (1 << 8) |
  (ADS1115_RATES.indexOf(channel.rate) << 5) |
  0b11

/** Volts from the conversion register's two bytes: signed 16-bit, full scale ±gain. */
export const ads1115Volts = (msb: number, lsb: number, gain: Ads1115Gain): number => {
  const raw = ((msb << 8) | lsb) << 16 >> 16
  return raw * gain / 32768
}

/** How long one conversion takes, with the datasheet's 10% oscillator tolerance. */
export const conversionMillis = (rate: Ads1115Rate): number => Math.ceil(1000 / rate * 1.1)

/** One single-shot conversion of `channel`, in volts. */
export const readAds1115 = (io: ChipIo, channel: Ads1115Channel): Effect.Effect<number, I2cError> =>
  Effect.gen(function*() {
    const config = ads1115Config(channel)
    yield* io.write([0x01, config >> 8, config & 0xff])
    yield* Effect.sleep(conversionMillis(channel.rate))
    // OS reads 0 while converting.
    let tries = 0
    while (((yield* io.readBlock(0x01, 2))[0]! & 0x80) === 0) {
      if (++tries > 10) return yield* Effect.fail(io.fail("NotReady", `the conversion of ${channel.input} did not finish`))
      yield* Effect.sleep(1 + Math.ceil(conversionMillis(channel.rate) / 10))
    }
    const data = yield* io.readBlock(0x00, 2)
    return ads1115Volts(data[0]!, data[1]!, channel.gain)
  })

/** From volts to engineering units. */
export interface AnalogScaling {
  /** Ohms of the shunt the loop current flows through: the input becomes mA (`V / Ω * 1000`). */
  readonly shuntOhms?: number
  /** Input range (V, or mA with a shunt) mapped linearly onto `to`. */
  readonly from?: readonly [number, number]
  readonly to?: readonly [number, number]
  /** Clamp the scaled value to `to` (default true). */
  readonly clamp?: boolean
  /** The input below this (V, or mA) is a fault, not a value: a broken 4-20 mA loop. */
  readonly faultBelow?: number
  /** The input above this is a fault: a short, a transmitter in its failure state. */
  readonly faultAbove?: number
}

const unit = (s: AnalogScaling) => (s.shuntOhms === undefined ? "V" : "mA")
const fmt = (n: number) => Number(n.toFixed(3)).toString()

/** The engineering value of `volts`, or why the input is not a measurement. */
export const scaleAnalog = (volts: number, s: AnalogScaling): { readonly value: number } | { readonly fault: string } => {
  const input = s.shuntOhms === undefined ? volts : volts / s.shuntOhms * 1000
  if (s.faultBelow !== undefined && input < s.faultBelow) {
    return {
      fault: `${fmt(input)} ${unit(s)} is below ${fmt(s.faultBelow)} ${unit(s)}` +
        (s.shuntOhms === undefined ? "" : ": broken loop (a cut wire, or the transmitter has no power)")
    }
  }
  if (s.faultAbove !== undefined && input > s.faultAbove) {
    return { fault: `${fmt(input)} ${unit(s)} is above ${fmt(s.faultAbove)} ${unit(s)}` + (s.shuntOhms === undefined ? "" : ": a short, or the transmitter signals a failure") }
  }
  if (s.from === undefined || s.to === undefined) return { value: input }
  const [inLo, inHi] = s.from
  const [outLo, outHi] = s.to
  const value = outLo + (input - inLo) * (outHi - outLo) / (inHi - inLo)
  if (s.clamp === false) return { value }
  return { value: Math.min(Math.max(outLo, outHi), Math.max(Math.min(outLo, outHi), value)) }
}
