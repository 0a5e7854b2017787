/**
 * A dead-letter entry: what was refused, why, and the original bytes, so nothing a device
 * sent is ever silently dropped. Stored in the DEADLETTER stream under `deadletter.<reason>`.
 */
import { Schema } from "effect"
import * as Codec from "./Codec.js"
import { RejectionReason } from "./Errors.js"

/**
 * The readings a `Gap` entry reports missing: sequence numbers `first..last` (both
 * included, `count = last - first + 1`) of one device's sensor never reached READINGS,
 * though a later one did. Detected by the partition worker (cluster/src/partition/SequenceGaps.ts).
 */
export const SequenceGap = Schema.Struct({
  device: Schema.String,
  sensor: Schema.String,
  first: Schema.Int,
  last: Schema.Int,
  count: Schema.Int,
  /** The seq whose arrival revealed the gap (`last + 1`). */
  revealedBy: Schema.Int
})
export type SequenceGap = typeof SequenceGap.Type

export const DeadLetter = Schema.Struct({
  reason: RejectionReason,
  message: Schema.String,
  /** The subject the payload was stored under (e.g. `readings.3.dev1.env`). */
  subject: Schema.String,
  /** The stream sequence of the original message, when it came from the log (READINGS, or
   * AGGREGATES/ALARMS for what a forward target refused: the subject says which). */
  streamSeq: Schema.optional(Schema.Int),
  /** When Bramble refused it (ms). */
  at: Schema.Int,
  /** The original bytes, or their first `DEAD_LETTER_PAYLOAD_LIMIT` when `truncated` is set. */
  payload: Schema.Uint8Array,
  /** Set when `payload` is a truncated copy: the size of the original in bytes. The whole
   * message stays readable in its stream under `streamSeq` until the stream's limits drop it. */
  truncated: Schema.optionalKey(Schema.Int),
  /** Only on `Gap` entries (whose payload is empty): the missing range. */
  gap: Schema.optionalKey(SequenceGap)
})
export type DeadLetter = typeof DeadLetter.Type

export const encodeDeadLetter = (entry: DeadLetter): Uint8Array => Codec.encode(entry)
export const decodeDeadLetter = Schema.decodeUnknownSync(DeadLetter)
export const readDeadLetter = (bytes: Uint8Array): DeadLetter => decodeDeadLetter(Codec.decode(bytes))
/**
 * The most of an original payload a dead letter carries. A dead letter must fit in one NATS
 * message (`max_payload`, 1 MiB by default) whatever it wraps: nats-server 2.9 stores MQTT
 * publishes of any size, and a dead letter that cannot be published would stall its
 * partition. 64 KiB shows what was sent; `streamSeq` points at the rest.
 */
export const DEAD_LETTER_PAYLOAD_LIMIT = 64 * 1024

/** A dead letter for `payload`, with a truncated copy of it when it is over `limit` bytes. */
export const deadLetterOf = (
  entry: Omit<DeadLetter, "payload" | "truncated">,
  payload: Uint8Array,
  limit: number = DEAD_LETTER_PAYLOAD_LIMIT
): DeadLetter =>
  payload.length <= limit
    ? { ...entry, payload }
    : { ...entry, payload: payload.subarray(0, limit), truncated: payload.length }

