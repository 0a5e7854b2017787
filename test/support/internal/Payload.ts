/**
 * The bytes a device sends for a test reading: msgpack over NATS, JSON over MQTT, the same
 * object either way. The device and the sensor travel in the subject, never in the payload.
 */
import { encodeReadingPayload } from "@bramble/protocol"
import type { TestReading } from "../Load.js"

/** What a device sends for `reading`. */
export const readingPayload = (reading: TestReading): { ts: number; seq: number; values: Record<string, number> } => ({
  ts: reading.ts,
  seq: reading.seq,
  values: { ...reading.values }
})

/** The msgpack payload a NATS publisher sends. */
export const natsPayload = (reading: TestReading): Uint8Array => encodeReadingPayload(readingPayload(reading))

/** The JSON payload an MQTT device sends. */
export const mqttPayload = (reading: TestReading): string => JSON.stringify(readingPayload(reading))
