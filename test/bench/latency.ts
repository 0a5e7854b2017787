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
import { Effect } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import { deviceNames, steadyLoad } from "../support/index.js"
import { startNodeUnderTest } from "./NodeUnderTest.js"

const { values: args } = parseArgs({ options: { rates: { type: "string", default: "2000,10000" }, seconds: { type: "string", default: "20" } } })
const rates = args.rates.split(",").map(Number)
const seconds = Number(args.seconds)
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
    const worst: Array<[number, number]> = []
    const loadStart = Date.now()
    const sub = node.nc.subscribe("alarms.>", {
      callback: (_error, msg) => {
        const alarm = readAlarm(msg.data)
        alarmLatency.push(Date.now() - alarm.at)
        if (Date.now() - alarm.at > 100) worst.push([alarm.at - loadStart, Date.now() - alarm.at])
      }
    })
    const load = steadyLoad({ url: node.natsUrl, ratePerSec: rate, devices: DEVICES, durationMs: seconds * 1000, metrics: ["temperature", "level"] })
    const report = yield* Effect.promise(() => load.done)
    // Let the last readings and alarms land.
    const target = report.acknowledged.length
    while ((yield* Effect.promise(() => node.status())).storage.readingsWritten < target) yield* Effect.sleep(100)
    yield* Effect.sleep(1000)
    sub.unsubscribe()
    const status = (yield* Effect.promise(() => node.status())) as unknown as { storage: { storedLag: { p50: number; p99: number; max: number } } }
    const lag = status.storage.storedLag
    if (process.env["LATENCY_DEBUG"]) console.log(`rate ${rate}: alarms over 100 ms (ms after load start, latency):`, JSON.stringify(worst.slice(0, 40)))
    const sorted = [...alarmLatency].sort((a, b) => a - b)
    return {
      rate,
      offered: report.attempted.length / seconds,
      acknowledged: report.acknowledged.length,
      stored: { p50: lag.p50, p99: lag.p99, max: lag.max },
      alarms: { count: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? NaN }
    }
  }))

const program = Effect.gen(function*() {
  const results = []
  for (const rate of rates) results.push(yield* runAt(rate))
  console.log(`\nBramble latency, one node, ${cpus().length} cores, ${DEVICES} devices, ${seconds} s per rate`)
  console.log("stored: publish → raw point durable (upper bucket bound, ms); alarms: publish → alarm received (ms)")
  console.log(`${"rate/s".padStart(8)} ${"offered/s".padStart(10)} ${"stored p50".padStart(11)} ${"p99".padStart(7)} ${"max".padStart(7)} ${"alarms".padStart(8)} ${"alarm p50".padStart(10)} ${"p99".padStart(7)} ${"max".padStart(7)}`)
  for (const r of results) {
    console.log(`${String(r.rate).padStart(8)} ${r.offered.toFixed(0).padStart(10)} ${String(r.stored.p50).padStart(11)} ${String(r.stored.p99).padStart(7)} ${String(r.stored.max).padStart(7)} ${String(r.alarms.count).padStart(8)} ${String(r.alarms.p50).padStart(10)} ${String(r.alarms.p99).padStart(7)} ${String(r.alarms.max).padStart(7)}`)
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
