/**
 * Wire codecs. Internal traffic is msgpack (msgpackr, one reused Packr: building one per
 * message is the most common msgpackr performance mistake); MQTT devices may send JSON, and
 * what MQTT subscribers receive (window results, forecasts, alarms) is JSON (`encodeJson`).
 * A payload is JSON when its first non-blank byte is `{` — a msgpack map never starts
 * with 0x7b (that is the fixint 123, which is not a reading).
 */
import { Packr } from "msgpackr"

// useRecords: false keeps the bytes plain msgpack maps, readable from any language.
const packr = new Packr({ useRecords: false, moreTypes: false })

/** msgpack-encode a value. */
export const encode = (value: unknown): Uint8Array => packr.pack(value)

/** msgpack-decode bytes; throws on malformed input (callers wrap it once). */
export const decode = (bytes: Uint8Array): unknown => packr.unpack(bytes)

const BLANKS = new Set([0x20, 0x09, 0x0a, 0x0d])

/** True when the payload looks like JSON text rather than msgpack. */
export const isJson = (bytes: Uint8Array): boolean => {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    if (!BLANKS.has(b)) return b === 0x7b
  }
  return false
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** Decode a JSON payload; throws on malformed or non-UTF-8 input. */
export const decodeJson = (bytes: Uint8Array): unknown => JSON.parse(utf8.decode(bytes))

/** The payload as text when it is printable UTF-8 (no control characters but tab and line
 * breaks), else undefined: used to explain a refusal, never on the hot path. */
export const asText = (bytes: Uint8Array): string | undefined => {
  try {
    const text = utf8.decode(bytes)
    return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? undefined : text
  } catch {
    return undefined
  }
}

const textEncoder = new TextEncoder()

/** JSON-encode a value, for what MQTT subscribers read (Node-RED, Home Assistant, an ESP32). */
export const encodeJson = (value: unknown): Uint8Array => textEncoder.encode(JSON.stringify(value))

/** Decode JSON text (starting with `{`) or msgpack: streams written before a format change
 * hold the other one. Throws on malformed input. */
export const decodeAny = (bytes: Uint8Array): unknown => (isJson(bytes) ? decodeJson(bytes) : decode(bytes))
