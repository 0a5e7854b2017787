/**
 * `bramble alarms`: the alarms raised now — the latest event of every (device, rule) in
 * ALARMS whose state is `raised` (`--all`: cleared ones too), optionally for one device,
 * with their severity and acknowledgement. `bramble alarms ack <device> <rule> [--note]`
 * acknowledges one (cluster/src/admin/AlarmAcks.ts). Any node answers.
 */
import { Admin, Subjects } from "@bramble/protocol"
import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { callCluster } from "../client/index.js"
import { connectionFlags, connectWith, jsonFlag, showQuery, timeoutFlag, usage, viewFlags } from "./AdminConnection.js"
import { age, green, num, red, table } from "./Table.js"

/** The alarms table. */
export const renderAlarms = (reply: Admin.AlarmsReply, now: number = Date.now()): string =>
  reply.alarms.length === 0
    ? "No alarms raised."
    : table(
      ["device", "rule", "state", "severity", "since", "ack", "value", "message"],
      reply.alarms.map((a) => [
        a.device,
        a.rule,
        a.state === "raised" ? red(a.state) : green(a.state),
        a.severity === "critical" ? red(a.severity) : a.severity ?? "",
        age(a.at, now),
        a.ack === undefined ? "" : `acked ${age(a.ack.at, now)}${a.ack.note === undefined ? "" : `: ${a.ack.note}`}`,
        a.value === undefined ? "" : num(a.value),
        a.message
      ]),
      ["left", "left", "left", "left", "right", "left", "right", "left"]
    )

const ackCommand = Command.make(
  "ack",
  {
    device: Argument.String("device").pipe(Argument.withDescription("The device whose alarm it is")),
    rule: Argument.String("rule").pipe(Argument.withDescription("The rule that raised it")),
    note: Flag.String("note").pipe(Flag.withAlias("n"), Flag.withDescription("Who is on it, what is being done (shown beside the alarm)"), Flag.optional),
    ...connectionFlags,
    json: jsonFlag,
    timeout: timeoutFlag
  },
  ({ device, rule, note, server, config, credentials, user, json, timeout }) =>
    Effect.scoped(Effect.gen(function*() {
      if (!Subjects.isToken(device)) return yield* usage(`"${device}" is not a device id`)
      if (!Subjects.isToken(rule)) return yield* usage(`"${rule}" is not a rule name`)
      const { nc } = yield* connectWith({ server, config, credentials, user }, { persistent: false })
      const request: Admin.AckRequest = { device, rule, ...(Option.isSome(note) ? { note: note.value } : {}) }
      const reply = yield* callCluster(nc, Admin.AdminCalls.ack, request, timeout * 1000)
      yield* Console.log(json ? JSON.stringify(reply, null, 2) : `Acknowledged ${rule} on ${device} (raised ${age(reply.alarm.at, Date.now())} ago). It stays raised until the rule clears it.`)
    }))
).pipe(
  Command.withDescription("Acknowledge a raised alarm: shown as acked (with the note) until the rule clears it or raises it again"),
  Command.withExamples([{ command: "bramble alarms ack greenhouse dry-heat --note \"vents opened\"", description: "Say it is being dealt with" }])
)

const listCommand = Command.make(
  "alarms",
  {
    device: Flag.String("device").pipe(Flag.withAlias("d"), Flag.withDescription("Only this device"), Flag.optional),
    all: Flag.Boolean("all").pipe(Flag.withAlias("a"), Flag.withDescription("Also rules whose alarm was cleared"), Flag.withDefault(false)),
    ...connectionFlags,
    ...viewFlags
  },
  ({ device, all, ...flags }) => {
    if (Option.isSome(device) && !Subjects.isToken(device.value)) return usage(`"${device.value}" is not a device id`)
    const request: Admin.AlarmsRequest = { ...(Option.isSome(device) ? { device: device.value } : {}), ...(all ? { all } : {}) }
    return showQuery(flags, "bramble alarms", (nc, timeoutMs) => callCluster(nc, Admin.AdminCalls.alarms, request, timeoutMs), renderAlarms)
  }
).pipe(
  Command.withDescription("Alarms raised now (with --all, every rule's latest event), per device"),
  Command.withExamples([{ command: "bramble alarms --watch", description: "Keep an eye on them" }])
)

export const alarmsCommand = listCommand.pipe(Command.withSubcommands([ackCommand]))
