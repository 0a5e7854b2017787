/**
 * The test-support library checked against real servers and hand-computed answers, because
 * every system test, fault test and benchmark trusts it: if the oracle or the read-back were
 * wrong, a green suite would mean nothing.
 */
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { scopedTempDir, startInfluxDb1, startNatsServer, startVictoriaMetrics } from "@bramble/deploy"
import {
  checkExactlyOnce,
  compareWindows,
  createStream,
  type Db,
  DbReadError,
  expectedWindows,
  makeReadings,
  publishMqtt,
  publishNats,
  type RawPoint,
  readRawPoints,
  readStreamReadings,
  readWindowResults,
  steadyLoad,
  streamMessageCount,
  type TestReading,
  waitFor,
  WaitForTimeout,
  type WindowRow
} from "../support/index.js"

const T0 = 1_700_000_000_000 // a multiple of 10 s

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

const post = (url: string, body: string) =>
  promise(async () => {
    const response = await fetch(url, { method: "POST", body })
    assert.strictEqual(response.status, 204, `${url}: ${await response.text()}`)
  })

// ---------------------------------------------------------------------------------------
// Read-back from both databases

const LINES = [
  `reading,device=dev-a,sensor=env temperature=21.5,humidity=40 ${T0}`,
  `reading,device=dev-a,sensor=env temperature=22.25,humidity=41.5 ${T0 + 1_000}`,
  `reading,device=dev-b,sensor=env temperature=-3.75 ${T0 + 500}`,
  `reading,device=dev-b,sensor=door open=1 ${T0 + 500}`,
  `window,device=dev-a,sensor=env,metric=temperature,window=10s count=2,mean=21.875,min=21.5,max=22.25,first=21.5,last=22.25,stddev=0.53033008589 ${T0}`,
  `window,device=dev-b,sensor=env,metric=temperature,window=1m count=1,mean=-3.75,min=-3.75,max=-3.75,first=-3.75,last=-3.75,stddev=0 ${T0}`,
  // Other measurements must not leak into either reader.
  `readings_other,device=dev-a,sensor=env temperature=99 ${T0}`,
  `windowed,device=dev-a,sensor=env,metric=x,window=y count=9 ${T0}`
].join("\n")

const EXPECTED_RAW: Array<RawPoint> = [
  { device: "dev-a", sensor: "env", ts: T0, values: { temperature: 21.5, humidity: 40 } },
  { device: "dev-a", sensor: "env", ts: T0 + 1_000, values: { temperature: 22.25, humidity: 41.5 } },
  { device: "dev-b", sensor: "door", ts: T0 + 500, values: { open: 1 } },
  { device: "dev-b", sensor: "env", ts: T0 + 500, values: { temperature: -3.75 } }
]

const EXPECTED_WINDOWS: Array<WindowRow> = [
  {
    device: "dev-a",
    sensor: "env",
    metric: "temperature",
    window: "10s",
    start: T0,
    count: 2,
    mean: 21.875,
    min: 21.5,
    max: 22.25,
    first: 21.5,
    last: 22.25,
    stddev: 0.53033008589
  },
  {
    device: "dev-b",
    sensor: "env",
    metric: "temperature",
    window: "1m",
    start: T0,
    count: 1,
    mean: -3.75,
    min: -3.75,
    max: -3.75,
    first: -3.75,
    last: -3.75,
    stddev: 0
  }
]

const checkReadBack = (db: Db) =>
  Effect.gen(function*() {
    assert.deepStrictEqual(yield* promise(() => readRawPoints(db)), EXPECTED_RAW)
    assert.deepStrictEqual(yield* promise(() => readWindowResults(db)), EXPECTED_WINDOWS)
  })

describe("support - database read-back", () => {
  it.live("victoria-metrics: readRawPoints and readWindowResults return exactly the lines written", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-support-vm-" })
      const vm = yield* startVictoriaMetrics({ dir: join(dir, "vm") })
      const db: Db = { kind: "victoria-metrics", url: vm.url }
      assert.deepStrictEqual(yield* promise(() => readRawPoints(db)), [])
      yield* post(`${vm.url}/api/v2/write?org=x&bucket=y&precision=ms`, LINES)
      // The readers flush by themselves: no forceFlush here on purpose.
      yield* checkReadBack(db)
      // The v1 path adds a `db` label; rewriting the same points must read back the same.
      yield* post(`${vm.url}/write?db=bramble&precision=ms`, LINES)
      yield* checkReadBack(db)
    }))

  it.live("influxd 1.6.7: readRawPoints and readWindowResults return exactly the lines written", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-support-influx-" })
      const influx = yield* startInfluxDb1({ dir: join(dir, "influx"), database: "bramble" })
      const db: Db = { kind: "influx-v1", url: influx.url, database: influx.database }
      assert.deepStrictEqual(yield* promise(() => readRawPoints(db)), [])
      yield* post(`${influx.url}/write?db=${influx.database}&precision=ms`, LINES)
      yield* checkReadBack(db)
    }))

  it.live("influxd 1.6.7: a chunked read returns all of 25,000 points", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-support-influx-" })
      const influx = yield* startInfluxDb1({ dir: join(dir, "influx"), database: "bramble" })
      const readings = makeReadings({ devices: 5, perDevice: 5_000, startMs: T0, stepMs: 1_000 })
      const lines = readings.map((r) =>
        `reading,device=${r.device},sensor=${r.sensor} temperature=${r.values["temperature"]},humidity=${r.values["humidity"]} ${r.ts}`
      )
      for (let i = 0; i < lines.length; i += 5_000) {
        yield* post(`${influx.url}/write?db=bramble&precision=ms`, lines.slice(i, i + 5_000).join("\n"))
      }
      const stored = yield* promise(() => readRawPoints({ kind: "influx-v1", url: influx.url, database: "bramble" }))
      const check = checkExactlyOnce(readings, stored)
      assert.isTrue(check.ok, check.text)
      assert.strictEqual(check.okCount, 25_000)
    }))

  it("a server that is not there is a DbReadError naming the URL", async () => {
    const error = await readRawPoints({ kind: "victoria-metrics", url: "http://127.0.0.1:9" }).then(() => undefined, (e: unknown) => e)
    assert.instanceOf(error, DbReadError)
    assert.include((error as Error).message, "http://127.0.0.1:9/internal/force_flush")
  })
})

// ---------------------------------------------------------------------------------------
// Publishing into a real nats-server

/** Stored stream messages as raw points, for the exactly-once checker. */
const asRaw = (stored: ReadonlyArray<{ device: string; sensor: string; ts: number; values: Readonly<Record<string, number>> }>) =>
  stored.map(({ device, sensor, ts, values }): RawPoint => ({ device, sensor, ts, values }))

describe("support - publishers against nats-server", () => {
  it.live("publishNats and publishMqtt QoS 1 deliver every reading once into the stream, mapped to a partition", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-support-nats-" })
      const nats = yield* startNatsServer({ dir: join(dir, "nats"), partitions: 4 })
      yield* promise(() => createStream(nats.url, "TEST_READINGS"))

      const viaNats = makeReadings({ devices: 10, perDevice: 2_000, startMs: T0, stepMs: 1_000, seed: 7 })
      const natsReport = yield* promise(() => publishNats(nats.url, viaNats))
      assert.strictEqual(natsReport.failed.length, 0, JSON.stringify(natsReport.failed.slice(0, 3)))
      assert.strictEqual(natsReport.acknowledged.length, 20_000)
      assert.strictEqual(natsReport.duplicates, 0)
      console.log(`publishNats: ${Math.round(natsReport.ackedPerSec)} acked readings/s`)
      assert.strictEqual(yield* promise(() => streamMessageCount(nats.url, "TEST_READINGS")), 20_000)

      // Publishing the same readings again: every PubAck says duplicate, the stream does not grow.
      const again = yield* promise(() => publishNats(nats.url, viaNats.slice(0, 500)))
      assert.strictEqual(again.acknowledged.length, 500)
      assert.strictEqual(again.duplicates, 500)
      assert.strictEqual(yield* promise(() => streamMessageCount(nats.url, "TEST_READINGS")), 20_000)

      const viaMqtt = makeReadings({ devices: ["mqtt-a", "mqtt-b", "mqtt-c"], perDevice: 1_000, startMs: T0, stepMs: 1_000, seed: 8 })
      const mqttReport = yield* promise(() => publishMqtt(nats.mqttUrl, viaMqtt, { qos: 1, clients: 2 }))
      assert.strictEqual(mqttReport.failed.length, 0, JSON.stringify(mqttReport.failed.slice(0, 3)))
      assert.strictEqual(mqttReport.acknowledged.length, 3_000)
      console.log(`publishMqtt QoS 1: ${Math.round(mqttReport.ackedPerSec)} acked readings/s`)

      const stored = yield* promise(() =>
        waitFor(() => readStreamReadings(nats.url, "TEST_READINGS"), {
          until: (messages) => messages.length >= 23_000,
          show: (messages) => `${messages.length} messages`,
          label: "23,000 messages in TEST_READINGS"
        })
      )
      assert.strictEqual(stored.length, 23_000)
      for (const message of stored) {
        assert.strictEqual(message.subject, `readings.${message.partition}.${message.device}.${message.sensor}`)
        assert.isTrue(message.partition >= 0 && message.partition < 4, message.subject)
      }
      const check = checkExactlyOnce([...natsReport.acknowledged, ...mqttReport.acknowledged], asRaw(stored))
      assert.isTrue(check.ok, check.text)
      assert.strictEqual(check.okCount, 23_000)
      // Each device's readings arrive in publish order (one connection per device).
      const seqs = stored.filter((m) => m.device === "mqtt-b").map((m) => m.seq)
      assert.deepStrictEqual(seqs, Array.from({ length: 1_000 }, (_, i) => i))
    }))

  for (const transport of ["nats", "mqtt"] as const) {
    it.live(`steadyLoad over ${transport} records every acknowledged reading and stops on its signal`, () =>
      Effect.gen(function*() {
        const dir = yield* scopedTempDir({ prefix: "bramble-support-steady-" })
        const nats = yield* startNatsServer({ dir: join(dir, "nats") })
        yield* promise(() => createStream(nats.url, "TEST_READINGS"))

        const controller = new AbortController()
        const load = steadyLoad({
          url: transport === "nats" ? nats.url : nats.mqttUrl,
          ratePerSec: 2_000,
          devices: 4,
          until: controller.signal
        })
        yield* promise(() => load.started)
        // Wait on progress, not on time: the box may be slow.
        yield* promise(() => waitFor(() => load.progress(), { until: (p) => p.acknowledged >= 1_000, label: "1,000 acks" }))
        controller.abort()
        const report = yield* promise(() => load.done)
        assert.isAtLeast(report.acknowledged.length, 1_000)
        assert.strictEqual(report.failed.length, 0)
        assert.strictEqual(report.attempted.length, report.acknowledged.length)
        assert.deepStrictEqual(load.progress(), {
          attempted: report.attempted.length,
          acknowledged: report.acknowledged.length,
          failed: 0,
          inFlight: 0
        })

        const stored = yield* promise(() =>
          waitFor(() => readStreamReadings(nats.url, "TEST_READINGS"), { until: (m) => m.length >= report.acknowledged.length })
        )
        const check = checkExactlyOnce(report.acknowledged, asRaw(stored), { attempted: report.attempted })
        assert.isTrue(check.ok, check.text)
        // Per device: seq 0, 1, 2, … and strictly increasing event times.
        for (const device of ["dev-0000", "dev-0003"]) {
          const mine = report.acknowledged.filter((r) => r.device === device)
          assert.deepStrictEqual(mine.map((r) => r.seq), mine.map((_, i) => i))
          for (let i = 1; i < mine.length; i++) assert.isAbove(mine[i]!.ts, mine[i - 1]!.ts)
        }
      }))
  }

  it.live("steadyLoad keeps publishing across a nats-server restart; the outage's publishes are failed, never acknowledged", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-support-restart-" })
      const nats = yield* startNatsServer({ dir: join(dir, "nats") })
      yield* promise(() => createStream(nats.url, "TEST_READINGS"))
      const load = steadyLoad({ url: nats.url, ratePerSec: 1_000, devices: 3, timeoutMs: 1_000 })
      yield* promise(() => load.started)
      yield* promise(() => waitFor(() => load.progress(), { until: (p) => p.acknowledged >= 300, label: "300 acks before the restart" }))

      yield* nats.process.stop
      yield* promise(() => waitFor(() => load.progress(), { until: (p) => p.failed >= 10, label: "failures while the server is down" }))
      const before = load.progress().acknowledged
      yield* nats.process.start
      yield* promise(() =>
        waitFor(() => load.progress(), { until: (p) => p.acknowledged >= before + 300, label: "300 acks after the restart" })
      )
      const report = yield* promise(() => load.stop())
      assert.isAtLeast(report.failed.length, 10)
      assert.strictEqual(report.acknowledged.length + report.failed.length, report.attempted.length)

      // A graceful stop flushes JetStream: nothing acknowledged may be missing. Publishes
      // buffered by the client during the outage may have landed after the reconnect.
      const stored = yield* promise(() => readStreamReadings(nats.url, "TEST_READINGS"))
      const check = checkExactlyOnce(report.acknowledged, asRaw(stored), { attempted: report.attempted })
      assert.isTrue(check.ok, check.text)
    }))

  it.live("publishNats counts nothing as acknowledged when no stream captures the subjects", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-support-nostream-" })
      const nats = yield* startNatsServer({ dir: join(dir, "nats") })
      const readings = makeReadings({ devices: 2, perDevice: 5, startMs: T0, stepMs: 1_000 })
      const report = yield* promise(() => publishNats(nats.url, readings, { timeoutMs: 2_000 }))
      assert.strictEqual(report.acknowledged.length, 0)
      assert.strictEqual(report.failed.length, 10)
      const check = checkExactlyOnce(report.acknowledged, [], { attempted: report.attempted })
      assert.isTrue(check.ok, check.text)
    }))

  it.live("nats-server 2.9 PUBACKs an MQTT QoS 1 publish no stream stores: why MQTT acks are weak evidence", () =>
    Effect.gen(function*() {
      // If a newer server stops doing this, the note in Load.ts can be relaxed.
      const dir = yield* scopedTempDir({ prefix: "bramble-support-weakack-" })
      const nats = yield* startNatsServer({ dir: join(dir, "nats") })
      const readings = makeReadings({ devices: 2, perDevice: 5, startMs: T0, stepMs: 1_000 })
      const report = yield* promise(() => publishMqtt(nats.mqttUrl, readings, { qos: 1, timeoutMs: 5_000 }))
      assert.strictEqual(report.acknowledged.length, 10)
      const check = checkExactlyOnce(report.acknowledged, [])
      assert.strictEqual(check.missing.length, 10, check.text)
    }))
})

// ---------------------------------------------------------------------------------------
// Load generation, oracle and checkers (no servers)

describe("support - makeReadings", () => {
  it("is deterministic, unique per (device, seq) and (device, ts), and in time order", () => {
    const options = { devices: 3, perDevice: 100, startMs: T0, stepMs: 1_000, seed: 42 }
    const readings = makeReadings(options)
    assert.deepStrictEqual(makeReadings(options), readings)
    assert.notDeepEqual(makeReadings({ ...options, seed: 43 }).map((r) => r.values), readings.map((r) => r.values))
    assert.strictEqual(readings.length, 300)
    assert.strictEqual(new Set(readings.map((r) => `${r.device}#${r.seq}`)).size, 300)
    assert.strictEqual(new Set(readings.map((r) => `${r.device}@${r.ts}`)).size, 300)
    for (let i = 1; i < readings.length; i++) assert.isAtLeast(readings[i]!.ts, readings[i - 1]!.ts)
    assert.deepStrictEqual(readings.slice(0, 4).map((r) => [r.device, r.seq, r.ts - T0]), [
      ["dev-0000", 0, 0],
      ["dev-0001", 0, 333],
      ["dev-0002", 0, 666],
      ["dev-0000", 1, 1_000]
    ])
    for (const r of readings) {
      assert.deepStrictEqual(Object.keys(r.values), ["temperature", "humidity"])
      assert.strictEqual(r.sensor, "env")
      assert.strictEqual(Math.round(r.values["temperature"]! * 100) / 100, r.values["temperature"])
    }
  })
})

const r = (device: string, ts: number, temperature: number, seq = 0): TestReading => ({
  device,
  sensor: "env",
  seq,
  ts,
  values: { temperature }
})

describe("support - oracle", () => {
  it("expectedWindows matches a hand-computed example: [start, end), ties, sample stddev", () => {
    const readings = [
      r("d1", T0 + 1_000, 1),
      r("d1", T0 + 3_000, 3), // published before an earlier event time
      r("d1", T0 + 2_000, 2),
      r("d1", T0 + 9_999, 4), // last millisecond of the first window
      r("d1", T0 + 10_000, 5), // first millisecond of the second window
      r("d1", T0 + 20_000, 7), // two readings at one time: first is the first to arrive…
      r("d1", T0 + 20_000, 8), // …last is the last to arrive
      r("d2", T0 + 500, 10)
    ]
    // T0 is a multiple of 10 s but not of 1 min (T0 mod 60 s = 20 s): the 1m window starts earlier.
    const windows = expectedWindows(readings, [{ name: "10s", size: 10_000 }, { name: "1m", size: 60_000 }])
    const row = (device: string, window: string, start: number, stats: Omit<WindowRow, "device" | "sensor" | "metric" | "window" | "start">): WindowRow => ({
      device,
      sensor: "env",
      metric: "temperature",
      window,
      start,
      ...stats
    })
    const all = [1, 3, 2, 4, 5, 7, 8]
    const mean = all.reduce((a, b) => a + b, 0) / all.length
    const stddevAll = Math.sqrt(all.reduce((a, v) => a + (v - mean) ** 2, 0) / 6)
    assert.deepStrictEqual(windows, [
      row("d1", "10s", T0, { count: 4, mean: 2.5, min: 1, max: 4, first: 1, last: 4, stddev: Math.sqrt(5 / 3) }),
      row("d1", "10s", T0 + 10_000, { count: 1, mean: 5, min: 5, max: 5, first: 5, last: 5, stddev: 0 }),
      row("d1", "10s", T0 + 20_000, { count: 2, mean: 7.5, min: 7, max: 8, first: 7, last: 8, stddev: Math.SQRT1_2 }),
      row("d1", "1m", T0 - 20_000, { count: 7, mean: 30 / 7, min: 1, max: 8, first: 1, last: 8, stddev: stddevAll }),
      row("d2", "10s", T0, { count: 1, mean: 10, min: 10, max: 10, first: 10, last: 10, stddev: 0 }),
      row("d2", "1m", T0 - 20_000, { count: 1, mean: 10, min: 10, max: 10, first: 10, last: 10, stddev: 0 })
    ])
  })

  it("expectedWindows: windows are aligned to the epoch, and hopping windows cover every start", () => {
    const aligned = expectedWindows([r("d", 61_000, 1)], [{ name: "1m", size: 60_000 }, { name: "h", size: 30_000, hop: 10_000 }])
    assert.deepStrictEqual(aligned.map((w) => [w.window, w.start]), [["1m", 60_000], ["h", 40_000], ["h", 50_000], ["h", 60_000]])
  })

  it("compareWindows reports missing, extra and mismatched rows, within the tolerance", () => {
    const expected = expectedWindows([r("d1", T0, 1), r("d1", T0 + 1, 2), r("d2", T0, 3)], [{ name: "10s", size: 10_000 }])
    assert.isTrue(compareWindows(expected, expected).ok)
    const [d1, d2] = expected as [WindowRow, WindowRow]
    const nearly = { ...d1, mean: d1.mean * (1 + 1e-12), stddev: d1.stddev + 1e-12 }
    assert.isTrue(compareWindows(expected, [nearly, d2]).ok)

    const stranger = { ...d2, device: "d9" }
    const diff = compareWindows(expected, [{ ...d1, count: 3, max: 2.5 }, stranger, stranger])
    assert.isFalse(diff.ok)
    assert.deepStrictEqual(diff.missing, [d2])
    assert.deepStrictEqual(diff.extra, [stranger, stranger])
    assert.deepStrictEqual(diff.mismatched, [{
      key: `d1/env/temperature/10s@${T0}`,
      fields: [{ field: "count", expected: 2, actual: 3 }, { field: "max", expected: 2, actual: 2.5 }]
    }])
    assert.include(diff.text, "1 missing, 2 extra, 1 mismatched")
    assert.include(diff.text, "count: expected 2, got 3")
    // A statistic the database lost reads as NaN and is a mismatch, never equal.
    assert.isFalse(compareWindows(expected, [{ ...d1, stddev: Number.NaN }, d2]).ok)
  })

  it("checkExactlyOnce finds lost, duplicated, unexpected and corrupted points, and allows recovered ones", () => {
    const attempted = [r("d1", T0, 1, 0), r("d1", T0 + 1, 2, 1), r("d1", T0 + 2, 3, 2), r("d2", T0, 4, 0), r("d2", T0 + 1, 5, 1)]
    const acknowledged = attempted.slice(0, 4) // d2 seq 1 was published, its ack never came
    const [a, b, c, d, e] = attempted as [TestReading, TestReading, TestReading, TestReading, TestReading]
    const raw = (x: TestReading): RawPoint => ({ device: x.device, sensor: x.sensor, ts: x.ts, values: { ...x.values } })

    const clean = checkExactlyOnce(acknowledged, [a, b, c, d, e].map(raw), { attempted })
    assert.isTrue(clean.ok, clean.text)
    assert.strictEqual(clean.okCount, 4)
    assert.deepStrictEqual(clean.recovered, [raw(e)])

    const ghost: RawPoint = { device: "d3", sensor: "env", ts: T0, values: { temperature: 9 } }
    const bad = checkExactlyOnce(
      acknowledged,
      [raw(a), raw(a), { ...raw(c), values: { temperature: 3.5 } }, raw(d), ghost],
      { attempted }
    )
    assert.isFalse(bad.ok)
    assert.deepStrictEqual(bad.missing, [b])
    assert.deepStrictEqual(bad.duplicated, [raw(a)])
    assert.deepStrictEqual(bad.unexpected, [ghost])
    assert.deepStrictEqual(bad.corrupted, [{ expected: c, stored: { ...raw(c), values: { temperature: 3.5 } } }])
    assert.strictEqual(bad.okCount, 2)
    assert.include(bad.text, "1 missing (lost), 1 duplicated, 1 unexpected, 1 corrupted")

    // Without `attempted`, a stored reading that was never acknowledged is unexpected.
    assert.deepStrictEqual(checkExactlyOnce(acknowledged, [a, b, c, d, e].map(raw)).unexpected, [raw(e)])
    // A metric missing from the stored point is corruption too.
    assert.strictEqual(checkExactlyOnce([a], [{ ...raw(a), values: {} }]).corrupted.length, 1)
  })
})

describe("support - waitFor", () => {
  it("resolves with the first observation that satisfies the condition", async () => {
    let n = 0
    const seen = await waitFor(() => ++n, { until: (v) => v >= 3, intervalMs: 1 })
    assert.strictEqual(seen, 3)
  })

  it("on timeout names what it waited for and what it last saw, or the last error", async () => {
    let n = 0
    const timeout = await waitFor(() => ({ count: ++n }), { until: () => false, timeoutMs: 50, intervalMs: 5, label: "ten points" })
      .then(() => undefined, (error: unknown) => error)
    assert.instanceOf(timeout, WaitForTimeout)
    assert.match((timeout as Error).message, /waiting for ten points; last saw: \{"count":\d+\}/)

    const failing = await waitFor(() => Promise.reject(new Error("connection refused")), { timeoutMs: 30, intervalMs: 5 })
      .then(() => undefined, (error: unknown) => error)
    assert.include((failing as Error).message, "last attempt failed: connection refused")
  })
})
