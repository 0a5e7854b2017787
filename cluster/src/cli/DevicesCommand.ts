/**
 * `bramble devices`: every device the log has readings of, with its partition, the node that
 * owns it and its latest reading. Any node answers (from READINGS itself).
 */
import { Admin } from "@bramble/protocol"
import { Command } from "effect/cli"
import { callCluster } from "../client/index.js"
import { connectionFlags, showQuery, viewFlags } from "./AdminConnection.js"
import { age, dim, table, values, yellow } from "./Table.js"

/** The devices table. */
export const renderDevices = (reply: Admin.DevicesReply, now: number = Date.now()): string => {
  if (reply.devices.length === 0) return "No devices yet: nothing has published to ingest.<device>.<sensor>."
  const rows = reply.devices.map((d) => [
    d.device,
    d.sensor,
    String(d.partition),
    d.owner ?? yellow("none"),
    age(d.ts, now),
    values(d.values)
  ])
  return `${table(["device", "sensor", "partition", "owner", "last reading", "values"], rows, ["left", "left", "right", "left", "right", "left"])}\n` +
    dim(`${new Set(reply.devices.map((d) => d.device)).size} device(s)`)
}

export const devicesCommand = Command.make(
  "devices",
  { ...connectionFlags, ...viewFlags },
  (flags) => showQuery(flags, "bramble devices", (nc, timeoutMs) => callCluster(nc, Admin.AdminCalls.devices, {}, timeoutMs), renderDevices)
).pipe(
  Command.withDescription("Every device with readings in the log: partition, owner node, latest values"),
  Command.withExamples([
    { command: "bramble devices", description: "The table" },
    { command: "bramble devices --json | jq -r '.devices[].device'", description: "Device ids for a script" }
  ])
)
