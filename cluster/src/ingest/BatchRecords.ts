/**
 * How the ingest router and the write endpoint put readings into READINGS: one batch record
 * (`{"readings": [...]}`, packages/protocol Reading.ts) per device and sensor per message or
 * request, not one JetStream message per reading. A message of 500 readings of 10 devices is
 * 10 publishes and 10 messages for the partition to read, instead of 500: the node's work
 * per JetStream message (publish, ack, fetch, decode, checkpoint) is shared by the batch
 * (docs/ingest-routes.md has the figures).
 *
 * Records stay within the cluster's `processing.maxPayload` (the partition refuses a bigger
 * one as Oversized): a group that does not fit is cut into several records. The cut is
 * deterministic — the same readings give the same records and the same de-duplication ids —
 * so a batch read or sent again stores once.
 *
 * Within a record readings keep their order; records of one device go out in the order of
 * their device's first reading, so a device's readings of one sensor keep their order.
 * Readings of different sensors of one device in one message may be stored sensor by sensor:
 * they arrived together, and the windows do not depend on it.
 */
import { Codec, type ReadingPayload, Subjects } from "@bramble/protocol"
import type { Ingested } from "./Dialects.js"

/** One record to publish: its subject, bytes, and the readings' indices (for ids). */
export interface BatchRecord {
  readonly subject: string
  readonly data: Uint8Array
  /** Indices, in the input, of the readings it holds. */
  readonly indices: ReadonlyArray<number>
}

const payloadOf = (reading: Ingested, storedAt: number): ReadingPayload => {
  const p: { -readonly [K in keyof ReadingPayload]: ReadingPayload[K] } = { ts: reading.ts ?? storedAt, values: reading.values }
  if (reading.seq !== undefined) p.seq = reading.seq
  if (reading.tags !== undefined) p.tags = reading.tags
  return p
}

/** The records `readings` become. A group of one reading is stored as a plain reading. */
export const batchRecords = (
  readings: ReadonlyArray<Ingested>,
  partitions: number,
  storedAt: number,
  maxBytes: number
): Array<BatchRecord> => {
  const groups = new Map<string, Array<number>>()
  readings.forEach((reading, i) => {
    const key = `${reading.device}\u0000${reading.sensor}`
    const group = groups.get(key)
    if (group === undefined) groups.set(key, [i])
    else group.push(i)
  })
  const out: Array<BatchRecord> = []
  for (const indices of groups.values()) {
    const first = readings[indices[0]!]!
    const subject = Subjects.readingsSubject(Subjects.partitionOfDevice(first.device, partitions), first.device, first.sensor)
    cut(indices, (part) => encode(part.map((i) => payloadOf(readings[i]!, storedAt))), maxBytes, (data, part) => out.push({ subject, data, indices: part }))
  }
  return out
}

const encode = (payloads: ReadonlyArray<ReadingPayload>): Uint8Array => Codec.encode(payloads.length === 1 ? payloads[0] : { readings: payloads })

/** Encode `indices` as one record, or halve them until each part fits (a single reading
 * always goes: if it is too big, the partition says so with its own dead letter). */
const cut = (
  indices: ReadonlyArray<number>,
  encodeOf: (part: ReadonlyArray<number>) => Uint8Array,
  maxBytes: number,
  emit: (data: Uint8Array, part: ReadonlyArray<number>) => void
): void => {
  const data = encodeOf(indices)
  if (data.length <= maxBytes || indices.length === 1) return emit(data, indices)
  // Cut into as many even parts as the size says (with a margin), then check each again.
  const parts = Math.min(indices.length, Math.ceil((data.length * 1.1) / maxBytes))
  const size = Math.ceil(indices.length / parts)
  for (let i = 0; i < indices.length; i += size) cut(indices.slice(i, i + size), encodeOf, maxBytes, emit)
}
