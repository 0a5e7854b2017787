/**
 * Forwarders in the admin status reply and on /metrics: present only when the cluster file
 * has forward targets, optional fields only when known, and the reply still decodes with
 * the protocol's NodeStatus schema.
 */
import { assert, describe, it } from "@effect/vitest"
import { makeStorageStats } from "@bramble/actor-storage"
import { Admin } from "@bramble/protocol"
import { Schema } from "effect"
import { type AdminNode, nodeStatus } from "../src/admin/NodeStatus.js"
import { makeForwarderStats } from "../src/forward/ForwarderStats.js"
import { nodeMetrics } from "../src/metrics/NodeMetrics.js"

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
      { name: "tb", kind: "thingsboard", source: "raw", sent: 40, batches: 3, failures: 0, deadLettered: 0, skipped: 5, lag: 0 },
      {
        name: "hook",
        kind: "webhook",
        source: "alarms",
        sent: 0,
        batches: 0,
        failures: 7,
        deadLettered: 2,
        skipped: 0,
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
