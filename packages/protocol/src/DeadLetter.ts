/**
 * A dead-letter entry: what was refused, why, and the original bytes, so nothing a device
 * sent is ever silently dropped. Stored in the DEADLETTER stream under `deadletter.<reason>`.
 */
import { Schema } from "effect"
import * as Codec from "./Codec.js"
import { RejectionReason } from "./Errors.js"

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
  payload: Schema.Uint8Array
})
export type DeadLetter = typeof DeadLetter.Type

export const encodeDeadLetter = (entry: DeadLetter): Uint8Array => Codec.encode(entry)
export const decodeDeadLetter = Schema.decodeUnknownSync(DeadLetter)
export const readDeadLetter = (bytes: Uint8Array): DeadLetter => decodeDeadLetter(Codec.decode(bytes))
