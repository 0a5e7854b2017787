/**
 * The pieces behind status, metrics and logs, without servers: rates from counters
 * (TestClock), the Prometheus text rendering and histogram, the write-latency hook on the
 * storage stats, the node's metric families, and the log format selection.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock, TestConsole } from "effect/testing"
import type { Admin } from "@bramble/protocol"
import { makeRateMeter, runRateMeter } from "../src/admin/RateMeter.js"
import { logFormat, logLevel, nodeLoggerLayer } from "../src/metrics/NodeLogger.js"
import { nodeMetrics } from "../src/metrics/NodeMetrics.js"
import { makeHistogram, renderPrometheus } from "../src/metrics/Prometheus.js"
import { instrumentedStorageStats } from "../src/metrics/SinkLatency.js"

describe("rate meter", () => {
  it.effect("rates - per second over the window, from counters sampled every second", () =>
    Effect.gen(function*() {
      const counters = { readingsIn: 0, readingsOut: 0, windowsOut: 0 }
      const meter = makeRateMeter(() => counters, 10_000)
      assert.deepStrictEqual(yield* meter.rates, { readingsIn: 0, readingsOut: 0, windowsOut: 0, overSeconds: 0 })
      yield* runRateMeter(meter)
      yield* Effect.yieldNow // the first sample, at t = 0, sees the counters at zero
      for (let s = 0; s < 5; s++) {
        counters.readingsIn += 100
        counters.readingsOut += 50
        counters.windowsOut += 2
        yield* TestClock.adjust("1 second")
      }
      const r = yield* meter.rates
      assert.strictEqual(r.overSeconds, 5)
      assert.strictEqual(r.readingsIn, 100)
      assert.strictEqual(r.readingsOut, 50)
      assert.strictEqual(r.windowsOut, 2)
      // After the traffic stops, the window slides past it and the rates fall to zero.
      yield* TestClock.adjust("12 seconds")
      const idle = yield* meter.rates
      assert.strictEqual(idle.readingsIn, 0)
      assert.isAtLeast(idle.overSeconds, 10)
    }))
})

describe("prometheus text", () => {
  it("render - HELP and TYPE before samples, labels escaped, special values spelled", () => {
    const text = renderPrometheus([
      { name: "x_total", help: "a \\ back\nslash", type: "counter", samples: [{ labels: { a: "q\"u\\o\nte" }, value: 3 }] },
      { name: "y", help: "y", type: "gauge", samples: [{ value: Infinity }, { labels: { k: "v" }, value: Number.NaN }] }
    ])
    assert.strictEqual(
      text,
      [
        "# HELP x_total a \\\\ back\\nslash",
        "# TYPE x_total counter",
        "x_total{a=\"q\\\"u\\\\o\\nte\"} 3",
        "# HELP y y",
        "# TYPE y gauge",
        "y +Inf",
        "y{k=\"v\"} NaN",
        ""
      ].join("\n")
    )
  })

  it("histogram - cumulative buckets, +Inf equals the count, sum of observations", () => {
    const h = makeHistogram([0.01, 0.1, 1])
    for (const v of [0.005, 0.05, 0.05, 0.5, 5]) h.observe(v)
    const samples = h.samples({ node: "n1" })
    assert.deepStrictEqual(samples.filter((s) => s.suffix === "_bucket").map((s) => [s.labels?.["le"], s.value]), [
      ["0.01", 1],
      ["0.1", 3],
      ["1", 4],
      ["+Inf", 5]
    ])
    assert.strictEqual(samples.find((s) => s.suffix === "_count")?.value, 5)
    assert.closeTo(samples.find((s) => s.suffix === "_sum")!.value, 5.605, 1e-9)
  })

  it("sink latency - every write the storage actor records is one observation", () => {
    const { stats, writeLatency } = instrumentedStorageStats()
    stats.lastWriteMs = 4
    stats.lastWriteMs = 40
    stats.lastWriteMs = 4000
    assert.strictEqual(stats.lastWriteMs, 4000)
    const samples = writeLatency.samples()
    assert.strictEqual(samples.find((s) => s.suffix === "_count")?.value, 3)
    assert.strictEqual(samples.find((s) => s.labels?.["le"] === "0.005")?.value, 1)
    // The stats still serialise as plain data (the admin status copies them).
    assert.strictEqual(JSON.parse(JSON.stringify(stats)).lastWriteMs, 4000)
  })

  it("node metrics - per-partition counters, lag, aggregators summed rather than one series per device", () => {
    const status: Admin.NodeStatus = {
      node: "n1",
      versions: { bramble: "0.1.0", node: "v20", natsServer: "2.9.10" },
      startedAt: 1_000,
      uptimeMs: 9_000,
      nats: "nats://x",
      partitions: [0, 1].map((partition) => ({
        partition,
        received: 10 + partition,
        accepted: 9,
        rejected: 1,
        tooLate: 0,
        windowsEmitted: 2,
        checkpointedSeq: 5,
        lastCheckpointAt: 9_000,
        lag: { pending: 3, ackPending: 1 }
      })),
      sensors: [],
      storage: { pointsWritten: 7, readingsWritten: 5, writes: 2, writeFailures: 1, pointsRejected: 0, lastWriteMs: 12 },
      totals: { received: 21, accepted: 18, rejected: 2, tooLate: 0, windowsEmitted: 4, pointsWritten: 7 },
      rates: { readingsIn: 1, readingsOut: 1, windowsOut: 0, overSeconds: 5 }
    }
    const actor = (name: string, kind: string, restarts: number, mailboxSize = 0): Admin.ActorInfo => ({
      name,
      kind,
      state: "running",
      mailboxSize,
      mailboxCapacity: 10,
      processed: 0,
      restarts,
      restartable: true
    })
    const families = nodeMetrics({
      status,
      actors: [actor("partition-0", "partition", 2), actor("dev-a", "aggregator", 1, 3), actor("dev-b", "aggregator", 0, 4)],
      writeLatency: undefined
    })
    const family = (name: string) => families.find((f) => f.name === name)!
    assert.deepStrictEqual(family("bramble_readings_received_total").samples.map((s) => [s.labels?.["partition"], s.value]), [["0", 10], ["1", 11]])
    assert.deepStrictEqual(family("bramble_consumer_pending").samples.map((s) => s.value), [3, 3])
    const restarts = family("bramble_actor_restarts_total").samples
    assert.deepStrictEqual(restarts.map((s) => [s.labels?.["actor"], s.value]), [["partition-0", 2], ["aggregators", 1]])
    assert.isFalse(JSON.stringify(families).includes("dev-a"), "no per-device series")
    assert.strictEqual(family("bramble_aggregators_live").samples[0]!.value, 2)
    // The whole document renders.
    assert.include(renderPrometheus(families), "bramble_sink_write_failures_total{node=\"n1\"} 1")
  })
})

describe("node logger", () => {
  it("format - JSON when asked or when stdout is not a terminal, pretty on a terminal", () => {
    assert.strictEqual(logFormat({ BRAMBLE_LOG_FORMAT: "json" }, true), "json")
    assert.strictEqual(logFormat({ BRAMBLE_LOG_FORMAT: "pretty" }, false), "pretty")
    assert.strictEqual(logFormat({}, false), "json")
    assert.strictEqual(logFormat({}, true), "pretty")
    assert.strictEqual(logLevel({ BRAMBLE_LOG_LEVEL: "debug" }), "Debug")
    assert.isUndefined(logLevel({ BRAMBLE_LOG_LEVEL: "nonsense" }))
    assert.isUndefined(logLevel({}))
  })

  it.effect("json - one JSON object per line, with level, message, annotations and cause", () =>
    Effect.gen(function*() {
      yield* Effect.logWarning("database unavailable").pipe(
        Effect.annotateLogs({ partition: 3 }),
        Effect.provide(nodeLoggerLayer({ BRAMBLE_LOG_FORMAT: "json" }))
      )
      yield* Effect.logDebug("not shown at the default level").pipe(Effect.provide(nodeLoggerLayer({ BRAMBLE_LOG_FORMAT: "json" })))
      const lines = yield* TestConsole.logLines
      assert.strictEqual(lines.length, 1)
      const entry = JSON.parse(String(lines[0])) as { level: string; message: unknown; annotations: Record<string, unknown>; timestamp: string }
      assert.strictEqual(entry.level, "WARN")
      assert.strictEqual(entry.message, "database unavailable")
      assert.strictEqual(entry.annotations["partition"], 3)
      assert.isFalse(Number.isNaN(Date.parse(entry.timestamp)))
    }).pipe(Effect.provide(TestConsole.layer)))
})
