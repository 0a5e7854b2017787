/**
 * An alarm event: a rule raised or cleared an alarm for a device, at an event time.
 * Published to ALARMS as `alarms.<device>.<rule>` (MQTT `alarms/<device>/<rule>`), written
 * to the database as measurement `alarm` (tags device, rule; fields state 1/0, value), and
 * consumed by actuator actors. Rules come from the cluster file (threshold, rate, stale) and
 * from the edge (`sensor-fault`, `outbox-overflow`).
 */
import { Result, Schema } from "effect"
import * as Codec from "./Codec.js"
import { Token } from "./Reading.js"

export const AlarmState = Schema.Literals(["raised", "cleared"])
export type AlarmState = typeof AlarmState.Type

/** How loud an alarm is (the rule's `severity`; events written before there was one have none). */
export const AlarmSeverity = Schema.Literals(["info", "warning", "critical"])
export type AlarmSeverity = typeof AlarmSeverity.Type

export const Alarm = Schema.Struct({
  device: Token,
  rule: Token,
  state: AlarmState,
  severity: Schema.optionalKey(AlarmSeverity),
  /** false: forward targets leave it out (held back by the rule's notifyEvery: the alarm flapped). */
  notify: Schema.optionalKey(Schema.Boolean),
  /** The value that raised or cleared it, when there is one. */
  value: Schema.optional(Schema.Finite),
  message: Schema.String,
  /** Event time (ms since the epoch). */
  at: Schema.Int
})
export type Alarm = typeof Alarm.Type

/** JSON: MQTT subscribers of aggregates/# and alarms/# read it as it is (README, "Subscribing
 * from MQTT"; why JSON here and msgpack on READINGS, measured: `npm run bench:wire`). */
export const encodeAlarm = (alarm: Alarm): Uint8Array => Codec.encodeJson(alarm)
export const decodeAlarm = Schema.decodeUnknownSync(Alarm)
export const readAlarm = (bytes: Uint8Array): Alarm => decodeAlarm(Codec.decodeAny(bytes))

/** An alarm payload that cannot be read (an actuator skips it and says why). */
export class AlarmRejected extends Schema.TaggedError<AlarmRejected>()("AlarmRejected", {
  reason: Schema.Literals(["Malformed", "SchemaMismatch"]),
  message: Schema.String
}) {}

const decodeAlarmResult = Schema.decodeUnknownResult(Alarm)

/** Like `readAlarm`, but never throws: msgpack (or JSON text starting with `{`) to a validated alarm. */
export const parseAlarm = (bytes: Uint8Array): Result.Result<Alarm, AlarmRejected> => {
  let raw: unknown
  try {
    raw = Codec.isJson(bytes) ? Codec.decodeJson(bytes) : Codec.decode(bytes)
  } catch (error) {
    return Result.fail(new AlarmRejected({ reason: "Malformed", message: `alarm payload is neither JSON nor msgpack: ${(error as Error).message}` }))
  }
  const decoded = decodeAlarmResult(raw)
  return Result.isFailure(decoded)
    ? Result.fail(new AlarmRejected({ reason: "SchemaMismatch", message: decoded.failure.message.replace(/\s*\n\s*/g, " ") }))
    : Result.succeed(decoded.success)
}

/**
 * JetStream de-duplication id of an alarm event (`Nats-Msg-Id`): the same event published
 * twice (a republish after a reconnect, a rule replayed from a checkpoint) is stored once.
 */
export const alarmMsgId = (alarm: Pick<Alarm, "device" | "rule" | "state" | "at">): string =>
  `alarm.${alarm.device}.${alarm.rule}.${alarm.state}.${alarm.at}`
