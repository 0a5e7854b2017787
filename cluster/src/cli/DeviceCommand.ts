/**
 * `bramble device ID`: one device as its owner node sees it — latest reading per sensor,
 * the windows still open in its aggregator actor, the last closed windows, alarms and
 * forecast. Asked on the cluster-wide subject, so any node's NATS port works: the node that
 * picks the request up forwards it to the owner.
 */
import { Admin, Subjects, type WindowResult } from "@bramble/protocol"
import { Argument, Command } from "effect/cli"
import { callCluster } from "../client/index.js"
import { connectionFlags, showQuery, usage, viewFlags } from "./AdminConnection.js"
import { age, bold, clock, dim, duration, num, red, table, values, yellow } from "./Table.js"

const windowRows = (ws: ReadonlyArray<WindowResult>) =>
  ws.map((w) => [
    w.sensor,
    w.metric,
    w.window,
    `${clock(w.start)}–${clock(w.end)}`,
    String(w.count),
    num(w.mean),
    num(w.min),
    num(w.max),
    num(w.stddev)
  ])

const WINDOW_HEADERS = ["sensor", "metric", "window", "[start, end)", "count", "mean", "min", "max", "stddev"]
const WINDOW_ALIGN = ["left", "left", "left", "left", "right", "right", "right", "right", "right"] as const

const indent = (text: string) => text.split("\n").map((l) => `  ${l}`).join("\n")

/** The device's clock against the log's, from its latest reading (docs/neighbours.md). */
export const clockText = (skewMs: number): string =>
  skewMs < 0
    ? yellow(`clock: its latest reading was stamped ${duration(-skewMs)} after it was stored — the device's clock runs ahead`)
    : dim(`clock: its latest reading was stored ${duration(skewMs)} after its event time`)

/** The device report. */
export const renderDevice = (d: Admin.DeviceState, now: number = Date.now()): string => {
  const parts = [
    `${bold(d.device)}  ${dim(`partition ${d.partition}, owner ${d.owner}, aggregator ${d.live ? "in memory" : "passivated"}`)}`,
    "",
    bold("Latest reading"),
    d.latest.length === 0
      ? "  none"
      : indent(table(["sensor", "event time", "values"], d.latest.map((r) => [r.sensor, `${new Date(r.ts).toISOString()} (${age(r.ts, now)})`, values(r.values)]))),
    ...(d.clockSkewMs === undefined ? [] : [`  ${clockText(d.clockSkewMs)}`]),
    "",
    bold("Open windows"),
    d.openWindows.length === 0 ? "  none" : indent(table(WINDOW_HEADERS, windowRows(d.openWindows), WINDOW_ALIGN)),
    "",
    bold("Last closed windows"),
    d.recentWindows.length === 0 ? "  none yet" : indent(table(WINDOW_HEADERS, windowRows(d.recentWindows), WINDOW_ALIGN)),
    "",
    `${bold("Alarms raised")}  ${d.alarms.length === 0 ? "none" : ""}`,
    ...d.alarms.map((a) => `  ${red(a.rule)}  since ${age(a.at, now)}${a.value === undefined ? "" : `  value ${num(a.value)}`}  ${a.message}`),
    "",
    bold("Forecast of the next window"),
    d.forecasts.length === 0
      ? dim("  none yet (needs closed windows)")
      : indent(table(
        ["sensor", "metric", "window", "starts", "predicted mean", "from windows"],
        d.forecasts.map((f) => [f.sensor, f.metric, f.window, clock(f.start), num(f.mean), String(f.basedOn)]),
        ["left", "left", "left", "left", "right", "right"]
      ))
  ]
  return parts.join("\n")
}

export const deviceCommand = Command.make(
  "device",
  {
    id: Argument.String("id").pipe(Argument.withDescription("The device id (as in ingest.<device>.<sensor>)")),
    ...connectionFlags,
    ...viewFlags
  },
  ({ id, ...flags }) =>
    Subjects.isToken(id)
      ? showQuery(flags, `bramble device ${id}`, (nc, timeoutMs) => callCluster(nc, Admin.AdminCalls.device, { device: id }, timeoutMs), renderDevice)
      : usage(`"${id}" is not a device id: ids are 1-64 characters from A-Z a-z 0-9 _ -`)
).pipe(
  Command.withDescription("One device: latest reading, open and recently closed windows, alarms, forecast (answered by its owner node)"),
  Command.withExamples([
    { command: "bramble device greenhouse-1", description: "The report" },
    { command: "bramble device greenhouse-1 --watch", description: "Watch its windows fill and close" }
  ])
)
