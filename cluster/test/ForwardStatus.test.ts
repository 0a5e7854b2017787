/**
 * Forwarders in the admin status reply, on /metrics and in `bramble status`: present only when
 * the cluster file has forward targets, optional fields only when known, and the reply still
 * decodes with the protocol's NodeStatus schema.
 */
import { assert, describe, it } from "@effect/vitest"
import { makeForwarderStats } from "@bramble/actor-forwarder"
import { makeStorageStats } from "@bramble/actor-storage"
import { Admin } from "@bramble/protocol"
import { Schema } from "effect"
import { type AdminNode, nodeStatus } from "../src/admin/NodeStatus.js"
import { nodeMetrics } from "../src/metrics/NodeMetrics.js"
import { forwarderRows, type NodeRow, renderStatus } from "../src/cli/StatusCommand.js"

const node = (forwarders?: AdminNode["forwarders"]): AdminNode => ({
  name: "n1",
  natsUrl: "nats://127.0.0.1:4222",
  mqttUrl: undefined,
  httpUrl: undefined,
  startedAt: 1_000,
  partitions: [],
  sensors: [],
  storage: makeStorageStats(),
  ...(forwarders === undefined ? {} : { forwarders })
})

const statusOf = (n: AdminNode) =>
  nodeStatus({
    node: n,
    versions: { bramble: "0.1.0", node: "v20", natsServer: "2.9.10" },
    rates: { readingsIn: 0, readingsOut: 0, windowsOut: 0, overSeconds: 0 },
    lag: undefined,
    owns: () => true,
    now: 2_000
  })

describe("forwarders in status and metrics", () => {
  it("status lists each forwarder's counters; lag and outage only when known; the reply decodes", () => {
    const tb = makeForwarderStats({ name: "tb", kind: "thingsboard", source: "raw" })
    Object.assign(tb, { sent: 40, batches: 3, skipped: 5, lag: 0 })
    const hook = makeForwarderStats({ name: "hook", kind: "webhook", source: "alarms" })
    Object.assign(hook, { failures: 7, deadLettered: 2, unavailableSince: 1_500, lastError: "Unavailable: webhook (HTTP 503): down" })
    const status = statusOf(node([tb, hook]))
    assert.deepStrictEqual(status.forwarders, [
      { name: "tb", kind: "thingsboard", source: "raw", sent: 40, batches: 3, failures: 0, deadLettered: 0, skipped: 5, heldBack: 0, lag: 0 },
      {
        name: "hook",
        kind: "webhook",
        source: "alarms",
        sent: 0,
        batches: 0,
        failures: 7,
        deadLettered: 2,
        skipped: 0,
        heldBack: 0,
        unavailableSince: 1_500,
        lastError: "Unavailable: webhook (HTTP 503): down"
      }
    ])
    const wire = JSON.parse(JSON.stringify(Schema.encodeSync(Admin.NodeStatus)(status)))
    assert.deepStrictEqual(Schema.decodeUnknownSync(Admin.NodeStatus)(wire).forwarders, status.forwarders)
    assert.isUndefined(statusOf(node()).forwarders)
    assert.isUndefined(statusOf(node([])).forwarders)
  })

  it("metrics - one bramble_forward_* series per target, labelled by target, kind and source; none without targets", () => {
    const tb = makeForwarderStats({ name: "tb", kind: "thingsboard", source: "windows" })
    Object.assign(tb, { sent: 12, unavailableSince: 5 })
    const families = nodeMetrics({ status: statusOf(node([tb])), actors: [], writeLatency: undefined })
    const forward = families.filter((f) => f.name.startsWith("bramble_forward_"))
    assert.deepStrictEqual(forward.map((f) => f.name), [
      "bramble_forward_items_sent_total",
      "bramble_forward_batches_total",
      "bramble_forward_failures_total",
      "bramble_forward_dead_lettered_total",
      "bramble_forward_skipped_total",
      "bramble_forward_held_back_total",
      "bramble_forward_lag",
      "bramble_forward_unavailable"
    ])
    const labels = { node: "n1", target: "tb", kind: "thingsboard", source: "windows" }
    assert.deepStrictEqual(forward[0]!.samples, [{ labels, value: 12 }])
    assert.deepStrictEqual(forward.find((f) => f.name === "bramble_forward_lag")!.samples, [], "lag unknown yet: no sample")
    assert.deepStrictEqual(forward.find((f) => f.name === "bramble_forward_unavailable")!.samples, [{ labels, value: 1 }])
    const none = nodeMetrics({ status: statusOf(node()), actors: [], writeLatency: undefined })
    assert.isFalse(none.some((f) => f.name.startsWith("bramble_forward_")))
  })
})

describe("forwarders in bramble status", () => {
  const TOKEN_ERROR = "Misconfigured: thingsboard http://tb:8080 (raw, 2 device token(s)) (HTTP 401): ThingsBoard refused the access token of device b (forward target tb, HTTP 401): " +
    "check forward[0].tokensFile (/etc/bramble/tb.json, key \"b\")"
  const rowsOf = (nodes: ReadonlyArray<[string, AdminNode["forwarders"]]>): Array<NodeRow> =>
    nodes.map(([name, forwarders]) => ({ node: name, health: "ok", status: { ...statusOf(node(forwarders)), node: name } }))
  const now = 10 * 60_000

  it("one line per target over all nodes: delivered, rejected, skipped, pending, since when unavailable and why", () => {
    const on = (name: string, kind: "thingsboard" | "webhook", fields: Partial<ReturnType<typeof makeForwarderStats>>) =>
      Object.assign(makeForwarderStats({ name, kind, source: kind === "webhook" ? "alarms" : "raw" }), fields)
    const rows = rowsOf([
      ["n1", [
        on("tb", "thingsboard", { sent: 40, skipped: 2, lag: 120, unavailableSince: now - 125_000, lastError: TOKEN_ERROR, failures: 9 }),
        on("hook", "webhook", { sent: 7, deadLettered: 1, lag: 0, lastError: "Unavailable: webhook http://h (alarms) (HTTP 503): down" })
      ]],
      ["n2", [
        on("tb", "thingsboard", { sent: 2, skipped: 1, lag: 118 }),
        on("hook", "webhook", { sent: 3, lag: 0 })
      ]]
    ])
    assert.deepStrictEqual(forwarderRows(rows).map((r) => [r.name, r.delivered, r.rejected, r.skipped, r.pending, r.unavailableSince, r.unavailableOn, r.nodes]), [
      ["tb", 42, 0, 3, 120, now - 125_000, 1, 2],
      ["hook", 10, 1, 0, 0, undefined, 0, 2]
    ])
    const text = renderStatus(rows, now)
    const lines = text.split("\n")
    const header = lines.findIndex((l) => l.startsWith("FORWARD"))
    assert.isAbove(header, 0, text)
    assert.match(lines[header]!, /^FORWARD\s+KIND\s+SOURCE\s+DELIVERED\s+REJECTED\s+SKIPPED\s+PENDING\s+STATE\s+LAST ERROR$/)
    assert.match(lines[header + 1]!, /^tb\s+thingsboard\s+raw\s+42\s+0\s+3\s+120\s+unavailable 2m 5s \(1\/2 nodes\)\s+Misconfigured: .*ThingsBoard refused the access token of device b/)
    assert.include(lines[header + 1]!, "check forward[0].tokensFile (/etc/bramble/tb.json, key \"b\")")
    assert.match(lines[header + 2]!, /^hook\s+webhook\s+alarms\s+10\s+1\s+0\s+0\s+delivering\s+Unavailable: webhook http:\/\/h \(alarms\) \(HTTP 503\): down$/)
  })

  it("no forwarder section without forward targets; an unknown lag shows as ?; a long error is cut", () => {
    assert.notInclude(renderStatus(rowsOf([["n1", undefined]]), now), "FORWARD")
    assert.notInclude(renderStatus([{ node: "n9", health: "down", problem: "no answer" }], now), "FORWARD")
    const long = Object.assign(makeForwarderStats({ name: "w", kind: "webhook", source: "raw" }), { lastError: "x".repeat(1_000), unavailableSince: now - 1_000 })
    const line = renderStatus(rowsOf([["n1", [long]]]), now).split("\n").find((l) => l.startsWith("w "))!
    assert.match(line, /^w\s+webhook\s+raw\s+0\s+0\s+0\s+\?\s+unavailable 1s\s+x+…$/)
    assert.isBelow(line.length, 400)
  })
})
