/**
 * Sensirion SHT31 (temperature and relative humidity) on I2C, at 0x44 (ADDR low) or 0x45.
 * One read is a single-shot measurement with high repeatability and no clock stretching
 * (command 0x2400; the Pi's I2C controller handles clock stretching badly), a wait of the
 * datasheet's 15 ms, and a 6-byte read: temperature word, CRC, humidity word, CRC.
 *
 * Every word carries a CRC-8 (polynomial 0x31, initial 0xFF; datasheet 4.12). A reply whose
 * CRC does not match is a fault, never a value: on a long or noisy I2C line a flipped bit
 * would otherwise be stored as a real temperature.
 */
import { Effect } from "effect"
import type { ChipIo, I2cError } from "./I2cBus.js"

/** Single shot, high repeatability, clock stretching disabled. */
export const SHT31_MEASURE_HIGH: readonly [number, number] = [0x24, 0x00]

/** The SHT3x CRC-8 of `bytes`: polynomial x^8 + x^5 + x^4 + 1 (0x31), initial 0xFF, no reflection. */
export const sht31Crc = (bytes: ArrayLike<number>): number => {
  let crc = 0xff
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i]!
    for (let bit = 0; bit < 8; bit++) crc = (crc & 0x80) !== 0 ? ((crc << 1) ^ 0x31) & 0xff : (crc << 1) & 0xff
  }
  return crc
}

/** °C from the raw temperature word (datasheet 4.13). */
export const sht31Temperature = (raw: number): number => -45 + 175 * raw / 65535
/** %RH from the raw humidity word. */
export const sht31Humidity = (raw: number): number => 100 * raw / 65535

/** The reading in a 6-byte reply, or which word failed its CRC. */
export const parseSht31 = (reply: Uint8Array): { readonly temperature: number; readonly humidity: number } | { readonly crcFailed: "temperature" | "humidity" } => {
  if (sht31Crc(reply.subarray(0, 2)) !== reply[2]) return { crcFailed: "temperature" }
  if (sht31Crc(reply.subarray(3, 5)) !== reply[5]) return { crcFailed: "humidity" }
  return { temperature: sht31Temperature((reply[0]! << 8) | reply[1]!), humidity: sht31Humidity((reply[3]! << 8) | reply[4]!) }
}

/** One single-shot measurement. */
export const readSht31 = (io: ChipIo): Effect.Effect<{ readonly temperature: number; readonly humidity: number }, I2cError> =>
  Effect.gen(function*() {
    yield* io.write(SHT31_MEASURE_HIGH)
    // 15 ms at most for high repeatability (datasheet table 4).
    yield* Effect.sleep("16 millis")
    const reply = yield* io.read(6)
    const parsed = parseSht31(reply)
    if ("crcFailed" in parsed) {
      return yield* Effect.fail(io.fail("Crc", `the ${parsed.crcFailed} word failed its CRC (noise on the line? keep I2C wires short, check the pull-ups)`))
    }
    return parsed
  })
