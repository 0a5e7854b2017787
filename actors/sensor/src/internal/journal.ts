/**
 * The outbox journal's record format. A record is
 * `[u32 length][u32 crc32(payload)][payload]` (big-endian), the payload msgpack
 * `[seq, ts, values]`. The length prefix lets a reader skip records without decoding them;
 * the checksum tells a record torn by a crash (power lost mid-write) from a whole one, so
 * reopening keeps every whole record and cuts the file at the first torn one.
 */
import { Codec } from "@bramble/protocol"

/** Bytes before a record's payload. */
export const HEADER_BYTES = 8

/** Larger than any reading (32 values); a bigger length is corruption, not a record. */
export const MAX_PAYLOAD_BYTES = 64 * 1024

/** What the journal stores of a reading. */
export interface JournalEntry {
  readonly seq: number
  readonly ts: number
  readonly values: Readonly<Record<string, number>>
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/** CRC-32 (IEEE), as zlib computes it; Node 20 before 20.15 has no `zlib.crc32`. */
export const crc32 = (bytes: Uint8Array): number => {
  let crc = 0xffffffff
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/** One record's bytes. */
export const encodeRecord = (entry: JournalEntry): Uint8Array => {
  const payload = Codec.encode([entry.seq, entry.ts, entry.values])
  const record = new Uint8Array(HEADER_BYTES + payload.length)
  const view = new DataView(record.buffer)
  view.setUint32(0, payload.length)
  view.setUint32(4, crc32(payload))
  record.set(payload, HEADER_BYTES)
  return record
}

/** The result of reading one record at `offset` of `bytes`. */
export type Decoded =
  | { readonly _tag: "Record"; readonly entry: JournalEntry; readonly size: number }
  /** The buffer ends inside the record: read more, or (at the end of the file) a torn tail. */
  | { readonly _tag: "Incomplete" }
  | { readonly _tag: "Corrupt"; readonly why: string }

const isValues = (values: unknown): values is Record<string, number> =>
  typeof values === "object" && values !== null && !Array.isArray(values) &&
  Object.values(values).every((v) => typeof v === "number" && Number.isFinite(v))

/** Reads the record starting at `offset`. */
export const decodeRecord = (bytes: Uint8Array, offset: number): Decoded => {
  if (bytes.length - offset < HEADER_BYTES) return { _tag: "Incomplete" }
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, HEADER_BYTES)
  const length = view.getUint32(0)
  if (length === 0 || length > MAX_PAYLOAD_BYTES) return { _tag: "Corrupt", why: `record length ${length}` }
  if (bytes.length - offset < HEADER_BYTES + length) return { _tag: "Incomplete" }
  const payload = bytes.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length)
  if (crc32(payload) !== view.getUint32(4)) return { _tag: "Corrupt", why: "checksum mismatch" }
  let decoded: unknown
  try {
    decoded = Codec.decode(payload)
  } catch (error) {
    return { _tag: "Corrupt", why: `undecodable payload: ${(error as Error).message}` }
  }
  if (!Array.isArray(decoded) || decoded.length !== 3) return { _tag: "Corrupt", why: "not a [seq, ts, values] record" }
  const [seq, ts, values] = decoded as [unknown, unknown, unknown]
  if (!Number.isSafeInteger(seq) || (seq as number) < 1 || !Number.isFinite(ts) || !isValues(values)) {
    return { _tag: "Corrupt", why: "not a [seq, ts, values] record" }
  }
  return { _tag: "Record", entry: { seq: seq as number, ts: ts as number, values }, size: HEADER_BYTES + length }
}

/** Only the size of the record at `offset`, from its header (for skipping). */
export const recordSize = (header: Uint8Array): number => HEADER_BYTES + new DataView(header.buffer, header.byteOffset, HEADER_BYTES).getUint32(0)
