/**
 * `bramble alarms`: the alarms raised now — the latest event of every (device, rule) in
 * ALARMS whose state is `raised` (`--all`: cleared ones too), optionally for one device.
 * Any node answers.
 */
import { Admin, Subjects } from "@bramble/protocol"
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { callCluster } from "../admin/AdminClient.js"
import { connectionFlags, connectWith, intervalFlag, jsonFlag, showOrWatch, timeoutFlag, usage, watchFlag } from "./AdminConnection.js"
import { age, green, num, red, table } from "./Table.js"

/** The alarms table. */
export const renderAlarms = (reply: Admin.AlarmsReply, now: number = Date.now()): string =>
  reply.alarms.length === 0
    ? "No alarms raised."
    : table(
      ["device", "rule", "state", "severity", "since", "value", "message"],
      reply.alarms.map((a) => [
        a.device,
        a.rule,
        a.state === "raised" ? red(a.state) : green(a.state),
        a.severity === "critical" ? red(a.severity) : a.severity ?? "",
        age(a.at, now),
        a.value === undefined ? "" : num(a.value),
        a.message
      ]),
      ["left", "left", "left", "left", "right", "right", "left"]
    )

export const alarmsCommand = Command.make(
  "alarms",
  {
    device: Flag.String("device").pipe(Flag.withAlias("d"), Flag.withDescription("Only this device"), Flag.optional),
    all: Flag.Boolean("all").pipe(Flag.withAlias("a"), Flag.withDescription("Also rules whose alarm was cleared"), Flag.withDefault(false)),
    ...connectionFlags,
    json: jsonFlag,
    watch: watchFlag,
    interval: intervalFlag,
    timeout: timeoutFlag
  },
  ({ device, all, server, config, credentials, user, json, watch, interval, timeout }) =>
    Effect.scoped(Effect.gen(function*() {
      if (Option.isSome(device) && !Subjects.isToken(device.value)) return yield* usage(`"${device.value}" is not a device id`)
      const { nc, url } = yield* connectWith({ server, config, credentials, user }, { persistent: watch })
      const request: Admin.AlarmsRequest = { ...(Option.isSome(device) ? { device: device.value } : {}), ...(all ? { all } : {}) }
      yield* showOrWatch({
        watch,
        interval,
        json,
        title: "bramble alarms",
        server: url,
        fetch: callCluster(nc, Admin.AdminCalls.alarms, request, timeout * 1000),
        render: (reply) => renderAlarms(reply)
      })
    }))
).pipe(
  Command.withDescription("Alarms raised now (with --all, every rule's latest event), per device"),
  Command.withExamples([{ command: "bramble alarms --watch", description: "Keep an eye on them" }])
)
