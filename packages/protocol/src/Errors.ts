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
  /** Stamped further ahead of the time JetStream stored it than `processing.maxClockAhead`:
   * the device's clock runs ahead (its estimated skew is in `bramble status`). */
  "ClockAhead",
  "SinkRejected",
  /** A forward target (ThingsBoard, a webhook) answered 4xx: refused for good. */
  "ForwardRejected",
  /** Not a refusal: readings of a device's sensor are missing from the log (its `seq`
   * skipped them). The entry's `gap` field holds the exact range (docs/delivery-guarantees.md). */
  "Gap",
  /** Published on a topic no ingest route takes (docs/ingest-routes.md). */
  "NoRoute",
  /** Text where Bramble's own dialect (JSON `{"values": …}` or msgpack) was expected. */
  "NotAReading",
  /** A `value` route's payload is not one number. */
  "NotANumber",
  /** A payload (or one of its objects or lines) holds no numeric value to store. */
  "NoValues",
  /** The device id a route found (topic, field or tag) is not an id. */
  "BadDeviceId",
  /** A line of InfluxDB line protocol that cannot be read. */
  "MalformedLineProtocol"
])
export type RejectionReason = typeof RejectionReason.Type

/** A reading that cannot be accepted, with a message a device owner can act on. */
export class ReadingRejected extends Schema.TaggedError<ReadingRejected>()("ReadingRejected", {
  reason: RejectionReason,
  message: Schema.String,
  /** The event time the reading claims, when the refusal is about it (`ClockAhead`). */
  eventTime: Schema.optionalKey(Schema.Int)
}) {}
