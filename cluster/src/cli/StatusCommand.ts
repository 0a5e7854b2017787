/**
 * `bramble status`: every node of the cluster, its health, throughput, lag and database
 * latency, then — when the cluster file has `forward:` targets — one line per target: what it
 * delivered and refused over all nodes, what is pending, and since when it is unavailable
 * and why (a receiver down, or a refused token the operator must fix). Nodes are found through the NATS micro-services discovery (`bramble` service) and
 * the membership's member list, so a member that stopped answering shows as down rather
 * than disappearing.
 */
import { Admin } from "@bramble/protocol"
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect, Option } from "effect"
import { Command } from "effect/cli"
import { AdminRequestFailed, callCluster, callNode, type Health, healthOf } from "../client/index.js"
import { connectionFlags, discoverNodes, showQuery, viewFlags } from "./AdminConnection.js"
import { type Align, dim, duration, green, perSecond, ranges, red, table, yellow } from "./Table.js"

/** One node in `bramble status --json`. */
export interface NodeRow {
  readonly node: string
  readonly health: Health
  readonly problem?: string
  readonly status?: Admin.NodeStatus
}

const paintHealth = (health: Health) => health === "ok" ? green(health) : health === "degraded" || health === "forming" ? yellow(health) : red(health)

/** One forward target over every node that answered. */
export interface ForwarderRow {
  readonly name: string
  readonly kind: string
  readonly source: string
  readonly delivered: number
  readonly rejected: number
  readonly skipped: number
  /** The target's consumer lag (the same consumer on every node: the freshest known). */
  readonly pending: number | undefined
  /** The earliest outage start among the nodes where it is unavailable. */
  readonly unavailableSince: number | undefined
  readonly unavailableOn: number
  readonly nodes: number
  /** From a node where it is unavailable, else the last one any node saw. */
  readonly lastError: string | undefined
}

/** The forward targets of the answering nodes, in the order of the first node's file. */
export const forwarderRows = (rows: ReadonlyArray<NodeRow>): Array<ForwarderRow> => {
  const byName = new Map<string, Array<Admin.ForwarderStatus>>()
  for (const r of rows) {
    for (const f of r.status?.forwarders ?? []) byName.set(f.name, [...(byName.get(f.name) ?? []), f])
  }
  return [...byName].map(([name, fs]) => {
    const down = fs.filter((f) => f.unavailableSince !== undefined)
    const lags = fs.flatMap((f) => f.lag === undefined ? [] : [f.lag])
    return {
      name,
      kind: fs[0]!.kind,
      source: fs[0]!.source,
      delivered: fs.reduce((a, f) => a + f.sent, 0),
      rejected: fs.reduce((a, f) => a + f.deadLettered, 0),
      skipped: fs.reduce((a, f) => a + f.skipped, 0),
      pending: lags.length === 0 ? undefined : Math.max(...lags),
      unavailableSince: down.length === 0 ? undefined : Math.min(...down.map((f) => f.unavailableSince!)),
      unavailableOn: down.length,
      nodes: fs.length,
      lastError: (down.find((f) => f.lastError !== undefined) ?? fs.find((f) => f.lastError !== undefined))?.lastError
    }
  })
}

/** Longest last error shown in the table (`--json` has all of it). */
const ERROR_CHARS = 240

/** The forwarders' table, or "" when no node has forward targets. */
export const renderForwarders = (rows: ReadonlyArray<NodeRow>, now: number = Date.now()): string => {
  const targets = forwarderRows(rows)
  if (targets.length === 0) return ""
  const body = targets.map((t) => {
    const state = t.unavailableSince === undefined
      ? green("delivering")
      : red(`unavailable ${duration(now - t.unavailableSince)}${t.nodes > 1 ? ` (${t.unavailableOn}/${t.nodes} nodes)` : ""}`)
    const error = t.lastError === undefined
      ? ""
      : t.lastError.length > ERROR_CHARS
      ? `${t.lastError.slice(0, ERROR_CHARS)}…`
      : t.lastError
    return [
      t.name,
      t.kind,
      t.source,
      String(t.delivered),
      String(t.rejected),
      String(t.skipped),
      t.pending === undefined ? "?" : String(t.pending),
      state,
      t.unavailableSince === undefined ? dim(error) : error
    ]
  })
  const align: ReadonlyArray<Align> = ["left", "left", "left", "right", "right", "right", "right", "left", "left"]
  return table(["forward", "kind", "source", "delivered", "rejected", "skipped", "pending", "state", "last error"], body, align)
}

/** The status table; below it, when there are any, the failing partitions, the devices with
 * a wrong clock and the forwarders. */
export const renderStatus = (rows: ReadonlyArray<NodeRow>, now: number = Date.now(), alarms?: Admin.AlarmsReply): string =>
  [renderNodes(rows), renderFailing(rows, now), renderClocks(rows, now), renderForwarders(rows, now), renderAlarmSummary(alarms)].filter((s) => s !== "").join("\n\n")

/** One line on the alarms raised now: how many, how many critical, how many not acknowledged. */
export const renderAlarmSummary = (alarms: Admin.AlarmsReply | undefined): string => {
  if (alarms === undefined) return ""
  const raised = alarms.alarms.filter((a) => a.state === "raised")
  if (raised.length === 0) return dim("Alarms: none raised")
  const critical = raised.filter((a) => a.severity === "critical").length
  const open = raised.filter((a) => a.ack === undefined).length
  const line = `Alarms: ${raised.length} raised${critical === 0 ? "" : ` (${critical} critical)`}, ${open} not acknowledged — \`bramble alarms\`, \`bramble alarms ack <device> <rule>\``
  return open > 0 ? red(line) : line
}

/** Partitions that keep failing: where, since when, how often, why. "" when none. */
export const renderFailing = (rows: ReadonlyArray<NodeRow>, now: number = Date.now()): string => {
  const failing = rows.flatMap((r) => (r.status?.partitions ?? []).flatMap((p) => p.failing === undefined ? [] : [{ node: r.node, partition: p.partition, f: p.failing }]))
  if (failing.length === 0) return ""
  const body = failing.map(({ f, node, partition }) => [
    String(partition),
    node,
    red(`failing ${duration(now - f.since)}`),
    String(f.failures),
    f.seq === undefined ? `after ${f.checkpointedSeq}` : String(f.seq),
    f.reason.length > ERROR_CHARS ? `${f.reason.slice(0, ERROR_CHARS)}…` : f.reason
  ])
  const align: ReadonlyArray<Align> = ["right", "left", "left", "right", "right", "left"]
  return table(["partition", "node", "state", "failures", "stream seq", "reason"], body, align)
}

/** Devices whose clock looks wrong (readings refused for their time). "" when none. */
export const renderClocks = (rows: ReadonlyArray<NodeRow>, now: number = Date.now()): string => {
  const clocks = rows.flatMap((r) => r.status?.clocks ?? [])
  if (clocks.length === 0) return ""
  const body = clocks.map((c) => [
    c.device,
    String(c.partition),
    c.skewMs < 0 ? yellow(`${duration(-c.skewMs)} ahead`) : `${duration(c.skewMs)} behind`,
    c.reason,
    String(c.refused),
    `${duration(Math.max(0, now - c.at))} ago`
  ])
  const align: ReadonlyArray<Align> = ["left", "right", "right", "left", "right", "right"]
  return table(["device", "partition", "clock (estimated)", "refused as", "refused", "last"], body, align)
}

const renderNodes = (rows: ReadonlyArray<NodeRow>): string => {
  const body = rows.map((r) => {
    const s = r.status
    if (s === undefined) return [r.node, paintHealth(r.health), "-", "-", "-", "-", "-", "-", "-", r.problem ?? ""]
    return [
      r.node,
      paintHealth(r.health),
      duration(s.uptimeMs),
      perSecond(s.rates.readingsIn),
      perSecond(s.rates.readingsOut),
      s.lag === undefined ? "?" : String(s.lag.pending + s.lag.ackPending),
      s.storage.writes === 0 ? "-" : `${Math.round(s.storage.lastWriteMs)} ms`,
      ranges(s.partitions.map((p) => p.partition)),
      configText(s.config),
      r.problem ?? `${s.versions.bramble} ${dim(`nats ${s.versions.natsServer}`)}`
    ]
  })
  const live = rows.filter((r) => r.status !== undefined)
  const sum = (f: (s: Admin.NodeStatus) => number) => live.reduce((a, r) => a + f(r.status!), 0)
  const totals = `${rows.length} node(s), ${live.length} answering; ` +
    `${perSecond(sum((s) => s.rates.readingsIn))} readings/s in, ${perSecond(sum((s) => s.rates.readingsOut))} stored/s, ` +
    `${sum((s) => s.totals.received)} received, ${sum((s) => s.totals.rejected)} rejected, ${sum((s) => s.totals.windowsEmitted)} windows` +
    (live.some((r) => r.status!.ingest !== undefined && r.status!.ingest.messages + r.status!.ingest.noRoute > 0)
      ? `; ingest routes: ${sum((s) => s.ingest?.readings ?? 0)} readings, ${sum((s) => s.ingest?.refused ?? 0)} refused, ${sum((s) => s.ingest?.noRoute ?? 0)} NoRoute`
      : "")
  const align: ReadonlyArray<Align> = ["left", "left", "right", "right", "right", "right", "right", "left", "right", "left"]
  const gaps = renderGaps(live.map((r) => r.status!))
  return `${table(["node", "health", "uptime", "in/s", "out/s", "lag", "db write", "partitions", "config", "version / problem"], body, align)}\n${dim(totals)}\n${renderAgreement(rows)}\n${gaps}`
}

/** A node's cluster-file version for the table: `v3`, or `v3 (v4 refused)`. */
const configText = (c: Admin.NodeConfigVersion | undefined): string =>
  c?.version === undefined ? "-" : c.error !== undefined && c.latest !== undefined && c.latest !== c.version ? yellow(`v${c.version} (v${c.latest} refused)`) : `v${c.version}`

/** Whether the answering nodes run the same version of the cluster file (docs/live-config.md). */
export const renderAgreement = (rows: ReadonlyArray<NodeRow>): string => {
  const versions = rows.flatMap((r) => (r.status?.config?.version === undefined ? [] : [{ node: r.node, version: r.status.config.version }]))
  if (versions.length === 0) return dim("cluster file: no version reported")
  const distinct = [...new Set(versions.map((v) => v.version))]
  return distinct.length === 1
    ? dim(`cluster file: every answering node runs version ${distinct[0]}`)
    : yellow(`cluster file: nodes run different versions (${versions.map((v) => `${v.node} v${v.version}`).join(", ")}) — \`bramble config history\`; a node that refused one says why above`)
}

/**
 * What the devices' `seq` says is missing from the log (cluster/src/partition/SequenceGaps.ts),
 * over the answering nodes: red while readings are missing, dim otherwise.
 */
export const renderGaps = (statuses: ReadonlyArray<Admin.NodeStatus>): string => {
  const sum = (key: keyof Admin.SequenceStatus) => statuses.reduce((a, s) => a + (s.totals.sequence?.[key] ?? 0), 0)
  const line = `seq gaps: ${sum("gaps")} gap(s), ${sum("missing")} reading(s) missing` +
    ` (${sum("gapReadings")} reported, ${sum("lateFilled")} late-filled since, ${sum("recovered")} of them recovered from MQTT's own stream);` +
    ` ${sum("restarts")} device restart(s), ${sum("duplicates")} duplicate(s)`
  return sum("missing") > 0 ? red(`${line} — each gap is a Gap dead letter (deadletter.Gap) with its range`) : dim(line)
}

/** Every node's status (nodes that do not answer as down or forming), and the alarms raised now. */
const fetchStatus = (nc: NatsConnection, timeoutMs: number) => {
  const nodes = Effect.gen(function*() {
    const discovered = yield* discoverNodes(nc, Math.min(timeoutMs, 2_000))
    const members = yield* Effect.option(callCluster(nc, Admin.AdminCalls.members, {}, timeoutMs))
    const states = new Map(Option.match(members, { onNone: () => [], onSome: (m) => m.members.map((x) => [x.node, x.state] as const) }))
    const names = [...new Set([...discovered, ...states.keys()])].sort()
    if (names.length === 0) {
      return yield* Effect.fail(new AdminRequestFailed({ reason: "NoResponders", subject: Admin.ADMIN_DISCOVERY_SUBJECTS[0], message: "nothing answered the service discovery" }))
    }
    return yield* Effect.forEach(names, (node) =>
      callNode(nc, node, Admin.AdminCalls.status, {}, timeoutMs).pipe(
        Effect.map((status): NodeRow => ({ node, ...healthOf(status), status })),
        Effect.catch((error) =>
          Effect.succeed<NodeRow>(
            error._tag === "AdminError" && error.reason === "Forming"
              ? { node, health: "forming", problem: error.message }
              : { node, health: "down", problem: states.get(node) === "down" ? "down (membership)" : error.message }
          )
        )
      ), { concurrency: "unbounded" })
  })
  // The alarms raised now, with their acknowledgements (absent when no node answers it).
  const alarms = Effect.map(Effect.option(callCluster(nc, Admin.AdminCalls.alarms, {}, timeoutMs)), Option.getOrUndefined)
  return Effect.map(Effect.all([nodes, alarms], { concurrency: 2 }), ([nodes, alarms]) => ({ nodes, ...(alarms === undefined ? {} : { alarms: alarms.alarms }) }))
}

export const statusCommand = Command.make(
  "status",
  { ...connectionFlags, ...viewFlags },
  (flags) =>
    showQuery(
      flags,
      "bramble status",
      fetchStatus,
      (v: { readonly nodes: ReadonlyArray<NodeRow>; readonly alarms?: Admin.AlarmsReply["alarms"] }) =>
        renderStatus(v.nodes, Date.now(), v.alarms === undefined ? undefined : { alarms: v.alarms })
    )
).pipe(
  Command.withDescription(
    "Every node: health, uptime, readings in/out per second, consumer lag, database write time, partitions; then every forward target: delivered, refused, pending, unavailable since and why; then the alarms raised and how many are not acknowledged"
  ),
  Command.withExamples([
    { command: "bramble status", description: "One table of every node" },
    { command: "bramble status --watch", description: "Refresh every 2 seconds" },
    { command: "bramble status --json --server nats://pi1:4222", description: "For scripts, asking the node pi1" }
  ])
)
