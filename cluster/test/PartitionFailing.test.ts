/**
 * The partition pieces of issue 15 without servers: the intake (refusals dead-lettered and
 * counted, wrong clocks listed with their skew), a partition that keeps failing (recorded,
 * cleared only once a checkpoint gets past it) and how status, health, `bramble status` and
 * `/metrics` show it.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Admin, DEAD_LETTER_PAYLOAD_LIMIT, encodeBatchRecord, readDeadLetter, type RejectionReason } from "@bramble/protocol"
import { Effect, Exit } from "effect"
import { nodeStatus } from "../src/admin/NodeStatus.js"
import { renderClocks, renderFailing } from "../src/cli/StatusCommand.js"
import { healthOf } from "../src/client/Health.js"
import { nodeMetrics } from "../src/metrics/NodeMetrics.js"
import { FORGET_AFTER_MS } from "../src/partition/ClockSkews.js"
import { Intake } from "../src/partition/Intake.js"
import { makePartitionStats, recordCheckpoint, recordFailure } from "../src/partition/PartitionStats.js"
import { makePublishes, PublishFailed } from "../src/partition/Publishes.js"

const HOUR = 3_600_000
const NOW = 1_800_000_000_000
const encoder = new TextEncoder()

const fakePublishes = () => {
  const letters: Array<{ reason: RejectionReason; seq: number }> = []
  return { letters, deadLetter: (reason: RejectionReason, _message: string, _subject: string, seq: number) => void letters.push({ reason, seq }) }
}

const limits = { maxPayloadBytes: 16 * 1024, maxFutureSkewMs: 24 * HOUR, maxClockAheadMs: 60_000 }
const message = (device: string, seq: number, ts: number, storedAt = NOW) => ({
  subject: `readings.0.${device}.env`,
  data: encoder.encode(JSON.stringify({ ts, values: { t: 1 } })),
  seq,
  storedAt
})

describe("intake", () => {
  it("a clock ahead - refused as ClockAhead, counted, its device listed with its skew until a plausible reading", () => {
    const stats = makePartitionStats(0)
    const publishes = fakePublishes()
    const intake = new Intake(limits, stats, publishes)
    assert.lengthOf(intake.take(message("good", 1, NOW - 100), NOW), 1)
    assert.isEmpty(intake.take(message("fast", 2, NOW + HOUR), NOW))
    assert.isEmpty(intake.take(message("fast", 3, NOW + HOUR + 1), NOW))
    assert.deepStrictEqual(publishes.letters, [{ reason: "ClockAhead", seq: 2 }, { reason: "ClockAhead", seq: 3 }])
    assert.strictEqual(stats.rejected, 2)
    assert.strictEqual(stats.clockAhead, 2)
    assert.deepStrictEqual(stats.clocks.list(NOW).map((c) => [c.device, c.skewMs, c.refused, c.reason]), [["fast", -HOUR - 1, 2, "ClockAhead"]])
    // Within the bound again: its clock looks right, it is no longer listed.
    assert.lengthOf(intake.take(message("fast", 4, NOW + 1_000), NOW), 1)
    assert.deepStrictEqual(stats.clocks.list(NOW), [])
  })

  it("a batch record - its readings share the message; refused items dead-lettered once per reason, the good ones kept", () => {
    const stats = makePartitionStats(0)
    const publishes = fakePublishes()
    const data = encodeBatchRecord([{ ts: NOW - 3, values: { t: 1 } }, { ts: NOW + HOUR, values: { t: 2 } }, { ts: NOW - 1, values: { t: 3 } }, { ts: NOW + HOUR, values: { t: 4 } }])
    const readings = new Intake(limits, stats, publishes).take({ subject: "readings.0.gh.env", data, seq: 5, storedAt: NOW }, NOW)
    assert.deepStrictEqual(readings.map((r) => r.values["t"]), [1, 3])
    assert.deepStrictEqual(publishes.letters, [{ reason: "ClockAhead", seq: 5 }])
    assert.strictEqual(stats.rejected, 2)
  })

  it("a device listed as late is forgotten after a while; a bad subject is dead-lettered", () => {
    const stats = makePartitionStats(0)
    stats.clocks.refused("slow", "TooLate", NOW, NOW - 30_000, NOW)
    assert.strictEqual(stats.clocks.list(NOW + 1_000)[0]?.skewMs, 30_000)
    assert.deepStrictEqual(stats.clocks.list(NOW + FORGET_AFTER_MS), [])
    const publishes = fakePublishes()
    assert.isEmpty(new Intake(limits, stats, publishes).take({ ...message("x", 9, NOW), subject: "readings.0.a b.env" }, NOW))
    assert.deepStrictEqual(publishes.letters, [{ reason: "BadSubject", seq: 9 }])
  })
})

describe("a partition that keeps failing", () => {
  it("failing until a checkpoint covers the sequence it failed at; failures in a row are one streak", () => {
    const stats = makePartitionStats(3)
    recordCheckpoint(stats, 100, NOW)
    stats.lastSeq = 140
    recordFailure(stats, "publishing to deadletter.Oversized for stream sequence 120 failed", 120, NOW + 1)
    recordFailure(stats, "publishing to deadletter.Oversized for stream sequence 120 failed", 120, NOW + 2)
    assert.deepStrictEqual(stats.failing, {
      since: NOW + 1,
      at: NOW + 2,
      failures: 2,
      reason: "publishing to deadletter.Oversized for stream sequence 120 failed",
      seq: 120,
      checkpointedSeq: 100,
      clearsAt: 120
    })
    // A checkpoint short of it (the readings before it) does not clear it.
    recordCheckpoint(stats, 119, NOW + 3)
    assert.isDefined(stats.failing)
    recordCheckpoint(stats, 125, NOW + 4)
    assert.isUndefined(stats.failing)
    assert.strictEqual(stats.failures, 2)
  })

  it("a failure not tied to a message clears once the worker checkpoints what it had read", () => {
    const stats = makePartitionStats(0)
    recordCheckpoint(stats, 50, NOW)
    stats.lastSeq = 50
    recordFailure(stats, "cannot write checkpoint part.0", undefined, NOW)
    assert.isUndefined(stats.failing?.seq)
    recordCheckpoint(stats, 50, NOW + 1)
    assert.isUndefined(stats.failing)
  })

  it("status, health, bramble status and /metrics say failing, with the reason and the sequence", () => {
    const stats = makePartitionStats(2)
    stats.received = 10
    recordCheckpoint(stats, 5, NOW)
    recordFailure(stats, "publishing to deadletter.MalformedJson for stream sequence 6 failed", 6, NOW)
    stats.clocks.refused("fast", "ClockAhead", NOW, NOW + HOUR, NOW)
    const node = {
      name: "n1",
      natsUrl: "nats://x",
      mqttUrl: undefined,
      httpUrl: undefined,
      startedAt: NOW - 1_000,
      partitions: [stats],
      sensors: [],
      storage: { pointsWritten: 0, readingsWritten: 0, writes: 0, writeFailures: 0, pointsRejected: 0, lastWriteMs: 0, unavailableSince: undefined, lastError: undefined, storedLag: { count: 0, max: 0 } },
      clock: () => ({ synchronized: true, detail: "NTP synchronized (timedatectl)" })
    } as unknown as Parameters<typeof nodeStatus>[0]["node"]
    const status = (owns: boolean) =>
      nodeStatus({
        node,
        versions: { bramble: "0", node: "0", natsServer: "0" } as Admin.Versions,
        rates: { readingsIn: 0, readingsOut: 0, windowsOut: 0, overSeconds: 0 },
        lag: undefined,
        owns: () => owns,
        now: NOW
      })
    const s = status(true)
    assert.deepStrictEqual(s.partitions[0]!.failing, { since: NOW, at: NOW, failures: 1, reason: "publishing to deadletter.MalformedJson for stream sequence 6 failed", seq: 6, checkpointedSeq: 5 })
    const health = healthOf(s)
    assert.strictEqual(health.health, "failing")
    assert.include(health.problem ?? "", "partition 2 failing at stream sequence 6")
    const rows = [{ node: "n1", ...health, status: s }]
    const table = renderFailing(rows, NOW + 2_000)
    assert.match(table, /^PARTITION\s+NODE\s+STATE\s+FAILURES\s+STREAM SEQ\s+REASON/)
    assert.match(table, /\n\s+2\s+n1\s+failing 2s\s+1\s+6\s+publishing to deadletter/)
    assert.match(renderClocks(rows, NOW), /fast\s+2\s+1h 0m ahead\s+ClockAhead\s+1/)
    const families = nodeMetrics({ status: s, actors: [], writeLatency: undefined })
    const sample = (name: string) => families.find((f) => f.name === name)?.samples[0]?.value
    assert.strictEqual(sample("bramble_partition_failing"), 1)
    assert.strictEqual(sample("bramble_partition_failing_seq"), 6)
    assert.strictEqual(sample("bramble_device_clock_skew_seconds"), -3600)
    assert.strictEqual(sample("bramble_node_clock_synchronized"), 1)
    // A partition that moved away is not this node's to report as failing.
    assert.isUndefined(status(false).partitions[0]!.failing)
    assert.strictEqual(healthOf(status(false)).health, "ok")
  })
})

describe("publishes", () => {
  it.effect("a dead letter of a 2 MiB payload is published with its beginning; a publish that fails names its stream sequence", () =>
    Effect.gen(function*() {
      const sent: Array<{ subject: string; data: Uint8Array; msgID: string }> = []
      const ok = makePublishes(0, { publish: (subject, data, msgID) => (sent.push({ subject, data, msgID }), Promise.resolve({})) })
      ok.deadLetter("Oversized", "payload is 2097152 bytes", "readings.0.big.env", 41, new Uint8Array(2 * 1024 * 1024).fill(7))
      yield* ok.take()
      assert.strictEqual(sent.length, 1)
      assert.strictEqual(sent[0]!.subject, "deadletter.Oversized")
      assert.strictEqual(sent[0]!.msgID, "dl.Oversized.41")
      assert.isBelow(sent[0]!.data.length, DEAD_LETTER_PAYLOAD_LIMIT + 1024)
      const entry = readDeadLetter(sent[0]!.data)
      assert.strictEqual(entry.truncated, 2 * 1024 * 1024)
      assert.strictEqual(entry.payload.length, DEAD_LETTER_PAYLOAD_LIMIT)

      const failing = makePublishes(3, { publish: () => Promise.reject(new Error("JetStream error 10054: message size exceeds maximum allowed")) })
      failing.publish("aggregates.d.env.t.1m", new Uint8Array(1), "w")
      failing.deadLetter("MalformedJson", "not JSON", "readings.3.d.env", 77, new Uint8Array(3))
      const exit = yield* Effect.exit(failing.take())
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail")?.error : undefined
      assert.instanceOf(error, PublishFailed)
      // The first to fail is the window result's (no sequence) or the dead letter's (77): both say what.
      assert.include((error as PublishFailed).message, "message size exceeds maximum allowed")
      // Taken: the next checkpoint does not wait for them again.
      yield* failing.take()
    }))
})
