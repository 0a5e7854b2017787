/**
 * Gap counts (../src/partition/SequenceGaps.ts) where operators look: the admin status reply
 * (per partition and summed, decoding with the protocol's NodeStatus schema), `/metrics`, and
 * the `bramble status` table.
 */
import { assert, describe, it } from "@effect/vitest"
import { makeStorageStats } from "@bramble/actor-storage"
import { Admin } from "@bramble/protocol"
import { Schema } from "effect"
import { type AdminNode, nodeStatus } from "../src/admin/NodeStatus.js"
import { renderStatus } from "../src/cli/StatusCommand.js"
import { nodeMetrics } from "../src/metrics/NodeMetrics.js"
import { makePartitionStats } from "../src/partition/PartitionStats.js"

const partitions = () => {
  const p0 = makePartitionStats(0)
  const p1 = makePartitionStats(1)
  Object.assign(p0, { received: 10 })
  Object.assign(p0.sequence, { gaps: 2, gapReadings: 7, lateFilled: 1, restarts: 1, duplicates: 3, recovered: 1 })
  Object.assign(p1, { received: 4 })
  Object.assign(p1.sequence, { gaps: 1, gapReadings: 2 })
  return [p0, p1]
}

const statusOf = (ps: AdminNode["partitions"]) =>
  nodeStatus({
    node: { name: "n1", natsUrl: "nats://127.0.0.1:4222", mqttUrl: undefined, httpUrl: undefined, startedAt: 1_000, partitions: ps, sensors: [], storage: makeStorageStats() },
    versions: { bramble: "0.1.0", node: "v20", natsServer: "2.9.10" },
    rates: { readingsIn: 0, readingsOut: 0, windowsOut: 0, overSeconds: 0 },
    lag: undefined,
    owns: () => true,
    now: 2_000
  })

describe("gap counts in status, metrics and the CLI", () => {
  it("status - each partition's counts, missing = reported - late-filled, totals summed; the reply decodes", () => {
    const status = statusOf(partitions())
    assert.deepStrictEqual(status.partitions.map((p) => p.sequence), [
      { gaps: 2, gapReadings: 7, lateFilled: 1, missing: 6, restarts: 1, duplicates: 3, recovered: 1 },
      { gaps: 1, gapReadings: 2, lateFilled: 0, missing: 2, restarts: 0, duplicates: 0, recovered: 0 }
    ])
    assert.deepStrictEqual(status.totals.sequence, { gaps: 3, gapReadings: 9, lateFilled: 1, missing: 8, restarts: 1, duplicates: 3, recovered: 1 })
    const wire = JSON.parse(JSON.stringify(Schema.encodeSync(Admin.NodeStatus)(status)))
    assert.deepStrictEqual(Schema.decodeUnknownSync(Admin.NodeStatus)(wire).totals.sequence, status.totals.sequence)
  })

  it("metrics - bramble_seq_* per partition", () => {
    const families = nodeMetrics({ status: statusOf(partitions()), actors: [], writeLatency: undefined })
    const values = (name: string) => families.find((f) => f.name === name)!.samples.map((s) => [s.labels?.partition, s.value])
    assert.deepStrictEqual(values("bramble_seq_gaps_total"), [["0", 2], ["1", 1]])
    assert.deepStrictEqual(values("bramble_seq_gap_readings_total"), [["0", 7], ["1", 2]])
    assert.deepStrictEqual(values("bramble_seq_late_filled_total"), [["0", 1], ["1", 0]])
    assert.deepStrictEqual(values("bramble_seq_missing"), [["0", 6], ["1", 2]])
    assert.deepStrictEqual(values("bramble_seq_restarts_total"), [["0", 1], ["1", 0]])
    assert.deepStrictEqual(values("bramble_seq_duplicates_total"), [["0", 3], ["1", 0]])
  })

  it("bramble status - one line with the gaps and the readings missing", () => {
    const text = renderStatus([{ node: "n1", health: "ok", status: statusOf(partitions()) }], 2_000)
    // eslint-disable-next-line no-control-regex
    const plain = text.replace(/\x1b\[[0-9;]*m/g, "")
    assert.include(plain, "seq gaps: 3 gap(s), 8 reading(s) missing (9 reported, 1 late-filled since, 1 of them recovered from MQTT's own stream); 1 device restart(s), 3 duplicate(s)")
    const none = renderStatus([{ node: "n1", health: "ok", status: statusOf([makePartitionStats(0)]) }], 2_000).replace(/\x1b\[[0-9;]*m/g, "")
    assert.include(none, "seq gaps: 0 gap(s), 0 reading(s) missing")
  })
})
