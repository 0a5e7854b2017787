/**
 * Why a reading was refused. Every refusal is dead-lettered with one of these reasons and
 * counted; none of them ever reaches the database or crashes an actor.
 */
import { Schema } from "effect"

export const RejectionReason = Schema.Literals([
  "MalformedJson",
  "MalformedMsgpack",
  "SchemaMismatch",
  "DeviceMismatch",
  "BadSubject",
  "TimestampOutOfRange",
  "Oversized",
  "TooLate",
  "SinkRejected",
  /** A forward target (ThingsBoard, a webhook) answered 4xx: refused for good. */
  "ForwardRejected"
])
export type RejectionReason = typeof RejectionReason.Type

/** A reading that cannot be accepted, with a message a device owner can act on. */
export class ReadingRejected extends Schema.TaggedError<ReadingRejected>()("ReadingRejected", {
  reason: RejectionReason,
  message: Schema.String
}) {}
