/**
 * Nodes agree or say so (docs/live-config.md): the version of the cluster file each node runs
 * is in its status, `bramble status` (a column, and a line saying whether they agree), health
 * (a node that refused a version is degraded) and /metrics.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Admin } from "@bramble/protocol"
import { nodeStatus } from "../src/admin/NodeStatus.js"
import { renderStatus } from "../src/cli/StatusCommand.js"
import { healthOf } from "../src/client/Health.js"
import { nodeMetrics } from "../src/metrics/NodeMetrics.js"
import { makePartitionStats } from "../src/partition/PartitionStats.js"

const NOW = 1_800_000_000_000

const statusWith = (name: string, config: Admin.NodeConfigVersion): Admin.NodeStatus =>
  nodeStatus({
    node: {
      name,
      natsUrl: "nats://x",
      mqttUrl: undefined,
      httpUrl: undefined,
      startedAt: NOW - 1_000,
      partitions: [makePartitionStats(0)],
      sensors: [],
      storage: { pointsWritten: 0, readingsWritten: 0, writes: 0, writeFailures: 0, pointsRejected: 0, lastWriteMs: 0, unavailableSince: undefined, lastError: undefined, storedLag: { count: 0, max: 0 } },
      configVersion: () => config
    } as unknown as Parameters<typeof nodeStatus>[0]["node"],
    versions: { bramble: "0", node: "0", natsServer: "0" } as Admin.Versions,
    rates: { readingsIn: 0, readingsOut: 0, windowsOut: 0, overSeconds: 0 },
    lag: undefined,
    owns: () => true,
    now: NOW
  })

// eslint-disable-next-line no-control-regex
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "")

describe("config version in status", () => {
  it("agreeing nodes: the version in each row, one line saying they agree, health ok, a gauge", () => {
    const rows = ["n1", "n2"].map((node) => {
      const status = statusWith(node, { version: 4, latest: 4 })
      return { node, ...healthOf(status), status }
    })
    assert.strictEqual(rows[0]!.health, "ok")
    const text = plain(renderStatus(rows, NOW))
    assert.include(text, "CONFIG")
    assert.match(text, /n1 .* v4 /)
    assert.include(text, "cluster file: every answering node runs version 4")
    const families = nodeMetrics({ status: rows[0]!.status, actors: [], writeLatency: undefined })
    assert.strictEqual(families.find((f) => f.name === "bramble_config_version")?.samples[0]?.value, 4)
    assert.strictEqual(families.find((f) => f.name === "bramble_config_error")?.samples[0]?.value, 0)
  })

  it("a node that refused a version: degraded with the reason, the table says which, the nodes disagree", () => {
    const ok = statusWith("n1", { version: 5, latest: 5 })
    const refused = statusWith("n2", { version: 4, latest: 5, error: "version 5: rules: unknown window 5m" })
    const health = healthOf(refused)
    assert.strictEqual(health.health, "degraded")
    assert.include(health.problem ?? "", "version 5: rules: unknown window 5m")
    const text = plain(renderStatus([{ node: "n1", ...healthOf(ok), status: ok }, { node: "n2", ...health, status: refused }], NOW))
    assert.include(text, "v4 (v5 refused)")
    assert.include(text, "cluster file: nodes run different versions (n1 v5, n2 v4)")
    assert.strictEqual(nodeMetrics({ status: refused, actors: [], writeLatency: undefined }).find((f) => f.name === "bramble_config_error")?.samples[0]?.value, 1)
  })
})
