/**
 * `bramble alarms`: the latest event of every alarm rule (ALARMS, one per device and rule),
 * optionally for one device. Any node answers.
 */
import { Admin, Subjects } from "@bramble/protocol"
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { callCluster } from "../admin/AdminClient.js"
import { connectAdmin, intervalFlag, jsonFlag, serverFlag, serverUrl, showOrWatch, timeoutFlag, usage, watchFlag } from "./AdminConnection.js"
import { age, table } from "./Table.js"

const eventText = (event: unknown): string => {
  if (typeof event === "object" && event !== null && typeof (event as { message?: unknown }).message === "string") {
    return (event as { message: string }).message
  }
  const text = JSON.stringify(event)
  return text.length > 100 ? `${text.slice(0, 100)}…` : text
}

/** The alarms table. */
export const renderAlarms = (reply: Admin.AlarmsReply, now: number = Date.now()): string =>
  reply.alarms.length === 0
    ? "No alarms."
    : table(["device", "rule", "raised", "event"], reply.alarms.map((a) => [a.device, a.rule, age(a.at, now), eventText(a.event)]), ["left", "left", "right", "left"])

export const alarmsCommand = Command.make(
  "alarms",
  {
    device: Flag.String("device").pipe(Flag.withAlias("d"), Flag.withDescription("Only this device"), Flag.optional),
    server: serverFlag,
    json: jsonFlag,
    watch: watchFlag,
    interval: intervalFlag,
    timeout: timeoutFlag
  },
  ({ device, server, json, watch, interval, timeout }) =>
    Effect.scoped(Effect.gen(function*() {
      if (Option.isSome(device) && !Subjects.isToken(device.value)) return yield* usage(`"${device.value}" is not a device id`)
      const url = serverUrl(server)
      const nc = yield* connectAdmin(url, { persistent: watch })
      const request: Admin.AlarmsRequest = Option.isSome(device) ? { device: device.value } : {}
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
  Command.withDescription("The latest event of every alarm rule, per device"),
  Command.withExamples([{ command: "bramble alarms --watch", description: "Keep an eye on them" }])
)
