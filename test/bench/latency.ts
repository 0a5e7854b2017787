/**
 * Benchmark: latency percentiles at a fixed offered load, one node.
 * - publish → raw point stored: the node's own event-time-to-durable histogram (readings are
 *   stamped when published, on the same clock);
 * - publish → alarm published: a threshold rule on ten devices raises or clears an alarm on
 *   about half of their readings; the benchmark receives the alarms and measures receipt
 *   time minus the reading's event time.
 * Prints a table and writes JSON to test/bench/results/.
 *
 *   node --import tsx test/bench/latency.ts [--rates 2000,10000] [--seconds 20]
 */
import { scopedTempDir } from "@bramble/deploy"
import { readAlarm } from "@bramble/protocol"
import { jetstream } from "@nats-io/jetstream"
import { Effect } from "effect"
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import { deviceNames, steadyLoad } from "../support/index.js"
import { startNodeUnderTest } from "./NodeUnderTest.js"

const { values: args } = parseArgs({
  options: { rates: { type: "string", default: "2000,10000" }, seconds: { type: "string", default: "20" }, warmup: { type: "string", default: "2" } }
})
const rates = args.rates.split(",").map(Number)
const seconds = Number(args.seconds)
// Steady state is what the percentiles describe: alarms for readings of the first seconds of
// load (the node has just started; its partitions are being claimed) are reported apart.
const warmupMs = Number(args.warmup) * 1000
const DEVICES = 100

const percentile = (sorted: ReadonlyArray<number>, q: number) => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!

const runAt = (rate: number) =>
  Effect.scoped(Effect.gen(function*() {
    const dir = yield* scopedTempDir({ prefix: "bramble-latency-" })
    const hot = deviceNames(DEVICES).slice(0, 10)
    const node = yield* startNodeUnderTest({
      dir,
      extra: [
        "processing: { watermarkDelay: 500ms, checkpointInterval: 500ms }",
        `rules: [{ kind: threshold, name: hot, metric: level, above: 50, clearBelow: 50, devices: [${hot.join(", ")}] }]`
      ].join("\n")
    })
    const alarmLatency: Array<number> = []
    const warmupLatency: Array<number> = []
    const receivedLatency: Array<number> = []
    const worst: Array<[number, number]> = []
    const loadStart = Date.now()
    // Also as a subscriber sees it — but this process is busy publishing 10,000 readings/s,
    // so its own event loop adds to that figure; the stream's timestamp below does not.
    const sub = node.nc.subscribe("alarms.>", {
      callback: (_error, msg) => {
        const alarm = readAlarm(msg.data)
        if (alarm.at >= loadStart + warmupMs) receivedLatency.push(Date.now() - alarm.at)
      }
    })
    const load = steadyLoad({ url: node.natsUrl, ratePerSec: rate, devices: DEVICES, durationMs: warmupMs + seconds * 1000, metrics: ["temperature", "level"] })
    const report = yield* Effect.promise(() => load.done)
    // Let the last readings and alarms land.
    const target = report.acknowledged.length
    while ((yield* Effect.promise(() => node.status())).storage.readingsWritten < target) yield* Effect.sleep(100)
    yield* Effect.sleep(1000)
    sub.unsubscribe()
    // publish → alarm published: the time ALARMS stored the alarm (nats-server's clock, the
    // same machine's) minus the reading's event time (stamped by the publisher just before
    // it published).
    const alarms = yield* Effect.promise(async () => {
      const consumer = await jetstream(node.nc).consumers.get("ALARMS")
      const info = await consumer.info()
      const out: Array<{ at: number; storedAt: number }> = []
      if (info.num_pending === 0) return out
      for await (const m of await consumer.consume()) {
        out.push({ at: readAlarm(m.data).at, storedAt: Math.floor(m.info.timestampNanos / 1e6) })
        if (m.info.pending === 0) break
      }
      return out
    })
    for (const { at, storedAt } of alarms) {
      const latency = storedAt - at
      if (at < loadStart + warmupMs) warmupLatency.push(latency)
      else alarmLatency.push(latency)
      if (latency > 50) worst.push([at - loadStart, latency])
    }
    const status = (yield* Effect.promise(() => node.status())) as unknown as { storage: { storedLag: { p50: number; p99: number; max: number } } }
    const lag = status.storage.storedLag
    if (process.env["LATENCY_DEBUG"]) console.log(`rate ${rate}: alarms over 100 ms (ms after load start, latency):`, JSON.stringify(worst.slice(0, 40)))
    if (process.env["LATENCY_LOG"]) copyFileSync(join(dir, "node.log"), `${process.env["LATENCY_LOG"]}-${rate}.log`)
    const sorted = [...alarmLatency].sort((a, b) => a - b)
    const received = [...receivedLatency].sort((a, b) => a - b)
    return {
      rate,
      offered: report.attempted.length / (seconds + warmupMs / 1000),
      acknowledged: report.acknowledged.length,
      stored: { p50: lag.p50, p99: lag.p99, max: lag.max },
      alarms: { count: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? NaN },
      warmup: { alarms: warmupLatency.length, maxMs: Math.max(0, ...warmupLatency) },
      receivedBySubscriber: { count: received.length, p50: percentile(received, 0.5), p99: percentile(received, 0.99), max: received.at(-1) ?? NaN }
    }
  }))

const program = Effect.gen(function*() {
  const results = []
  for (const rate of rates) results.push(yield* runAt(rate))
  console.log(`\nBramble latency, one node, ${cpus().length} cores, ${DEVICES} devices, ${seconds} s per rate`)
  console.log(`stored: publish → raw point durable (upper bucket bound, ms); alarms: publish → alarm stored in ALARMS (ms), after ${warmupMs / 1000} s of warm-up`)
  console.log(`${"rate/s".padStart(8)} ${"offered/s".padStart(10)} ${"stored p50".padStart(11)} ${"p99".padStart(7)} ${"max".padStart(7)} ${"alarms".padStart(8)} ${"alarm p50".padStart(10)} ${"p99".padStart(7)} ${"max".padStart(7)}`)
  for (const r of results) {
    console.log(`${String(r.rate).padStart(8)} ${r.offered.toFixed(0).padStart(10)} ${String(r.stored.p50).padStart(11)} ${String(r.stored.p99).padStart(7)} ${String(r.stored.max).padStart(7)} ${String(r.alarms.count).padStart(8)} ${String(r.alarms.p50).padStart(10)} ${String(r.alarms.p99).padStart(7)} ${String(r.alarms.max).padStart(7)}   (warm-up: ${r.warmup.alarms} alarms, max ${r.warmup.maxMs} ms; received by this busy process: p50 ${r.receivedBySubscriber.p50}, p99 ${r.receivedBySubscriber.p99} ms)`)
  }
  const out = resolve(import.meta.dirname, "results")
  mkdirSync(out, { recursive: true })
  const file = join(out, `latency-${new Date().toISOString().replace(/[:.]/g, "-")}.json`)
  writeFileSync(file, JSON.stringify({ benchmark: "latency", devices: DEVICES, seconds, results }, null, 2))
  console.log(`result: ${file}`)
})

Effect.runPromise(program).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
