/**
 * An alarm event: a rule raised or cleared an alarm for a device, at an event time.
 * Published to ALARMS as `alarms.<device>.<rule>` (MQTT `alarms/<device>/<rule>`), written
 * to the database as measurement `alarm` (tags device, rule; fields state 1/0, value), and
 * consumed by actuator actors. Rules come from the cluster file (threshold, rate, stale) and
 * from the edge (`sensor-fault`, `outbox-overflow`).
 */
import { Schema } from "effect"
import * as Codec from "./Codec.js"
import { Token } from "./Reading.js"

export const AlarmState = Schema.Literals(["raised", "cleared"])
export type AlarmState = typeof AlarmState.Type

export const Alarm = Schema.Struct({
  device: Token,
  rule: Token,
  state: AlarmState,
  /** The value that raised or cleared it, when there is one. */
  value: Schema.optional(Schema.Finite),
  message: Schema.String,
  /** Event time (ms since the epoch). */
  at: Schema.Int
})
export type Alarm = typeof Alarm.Type

export const encodeAlarm = (alarm: Alarm): Uint8Array => Codec.encode(alarm)
export const decodeAlarm = Schema.decodeUnknownSync(Alarm)
export const readAlarm = (bytes: Uint8Array): Alarm => decodeAlarm(Codec.decode(bytes))
