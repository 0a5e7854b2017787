/**
 * Benchmark: CPU per reading of alarm rules in the device aggregator actors — 1,000 devices,
 * each reading `{ temperature, humidity }`, with 0, 10 and 100 expression rules, beside the
 * same numbers of threshold rules. The aggregators are the real ones (actors, windows of
 * 1m and 10m, rule state, latest values, compiled CEL expressions from a validated cluster
 * file) fed in-process, so the figure is what rules add to a node's CPU per reading without
 * the noise of NATS and the database; the rest of a node's cost per reading is in
 * `npm run bench` (throughput.ts) and docs/performance.md.
 *
 *   node --import tsx test/bench/rules.ts [--devices 1000] [--readings 200000]
 */
import { type DeviceMessage, type DeviceSnapshot, makeDeviceAggregators, type RuleSpec } from "@bramble/actor-aggregator"
import { compileRules, parseClusterConfig } from "@bramble/config"
import { type Deferred, Effect, Result } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"

const { values: args } = parseArgs({ options: { devices: { type: "string", default: "1000" }, readings: { type: "string", default: "200000" } } })
const DEVICES = Number(args.devices)
const READINGS = Number(args.readings)
const BATCH = 50

/** `count` rules of `kind`, distinct limits, compiled from a cluster file as a node does it. */
const rulesOf = (kind: "none" | "threshold" | "expr", count: number): ReadonlyArray<RuleSpec> => {
  if (kind === "none" || count === 0) return []
  const lines = Array.from({ length: count }, (_, i) =>
    kind === "threshold"
      ? `  - { kind: threshold, name: t${i}, metric: temperature, above: ${30 + i % 10}, for: 1m }`
      : i % 2 === 0
      ? `  - { kind: expr, name: e${i}, when: "temperature > ${30 + i % 10} && humidity < ${40 + i % 7}", for: 1m, clearWhen: "temperature < ${28 + i % 10}" }`
      : `  - { kind: expr, name: e${i}, when: "mean_10m(temperature) > ${25 + i % 10} || max_1m(humidity) - min_1m(humidity) > 20" }`
  )
  const file = `
cluster: { name: bench }
nodes: [{ name: a }]
sensors: [{ device: d, node: a, kind: dht22 }]
windows: [{ name: 1m, size: 1m }, { name: 10m, size: 10m }]
sink: { kind: influx-v2, url: "http://db" }
rules:
${lines.join("\n")}
`
  const parsed = parseClusterConfig(file)
  if (Result.isFailure(parsed)) throw new Error(parsed.failure.message)
  return compileRules(parsed.success) as ReadonlyArray<RuleSpec>
}

/** CPU µs per reading of `READINGS` readings through 1,000 device aggregators with `rules`. */
const run = (rules: ReadonlyArray<RuleSpec>) =>
  Effect.scoped(Effect.gen(function*() {
    let alarms = 0
    const devices = yield* makeDeviceAggregators({
      partition: 0,
      windows: [{ name: "1m", size: 60_000 }, { name: "10m", size: 600_000 }],
      passivateAfterMs: 3_600_000,
      capacity: 1024,
      ...(rules.length === 0 ? {} : { rules }),
      restore: () => Effect.succeed(undefined),
      emit: () => Effect.void,
      tooLate: () => Effect.void,
      alarm: (events) => Effect.sync(() => void (alarms += events.length))
    })
    // Every device reads every 2 s of event time: a slow diurnal swing and noise, so rules
    // raise and clear now and then.
    const start = Date.UTC(2026, 5, 1)
    const perDevice = Math.ceil(READINGS / DEVICES)
    const message = (d: number, from: number): DeviceMessage => ({
      _tag: "Ingest",
      items: Array.from({ length: BATCH }, (_, k) => {
        const i = from + k
        const ts = start + i * 2_000 + d
        const temperature = 28 + 6 * Math.sin(i / 300 + d) + ((i * 7919 + d) % 13) / 13
        const humidity = 45 + 15 * Math.cos(i / 500 + d)
        return { reading: { device: `dev-${d}`, sensor: "env", ts, values: { temperature, humidity } }, seq: i + 1, watermark: ts - 2_000 }
      })
    })
    // Warm-up (JIT, every actor started), then the measured part.
    for (let d = 0; d < DEVICES; d++) yield* devices.tell(`dev-${d}`, message(d, 0))
    yield* Effect.promise(() => new Promise((r) => setTimeout(r, 200)))
    const before = process.cpuUsage()
    const wallBefore = performance.now()
    let sent = 0
    for (let i = BATCH; i < perDevice + BATCH; i += BATCH) {
      for (let d = 0; d < DEVICES; d++) {
        yield* devices.tell(`dev-${d}`, message(d, i))
        sent += BATCH
      }
    }
    // Everything processed: one ask per device waits behind its mailbox.
    for (let d = 0; d < DEVICES; d++) yield* devices.ask(`dev-${d}`, (reply: Deferred.Deferred<DeviceSnapshot>) => ({ _tag: "Snapshot", reply }))
    const cpu = process.cpuUsage(before)
    const wall = performance.now() - wallBefore
    return { cpuUsPerReading: (cpu.user + cpu.system) / sent, wallUsPerReading: wall * 1000 / sent, readings: sent, alarms }
  }))

const configs: Array<{ label: string; kind: "none" | "threshold" | "expr"; count: number }> = [
  { label: "no rules", kind: "none", count: 0 },
  { label: "10 threshold rules", kind: "threshold", count: 10 },
  { label: "100 threshold rules", kind: "threshold", count: 100 },
  { label: "10 expression rules", kind: "expr", count: 10 },
  { label: "100 expression rules", kind: "expr", count: 100 }
]

const rows: Array<{ label: string; cpuUsPerReading: number; wallUsPerReading: number; readings: number; alarms: number }> = []
for (const c of configs) {
  const rules = rulesOf(c.kind, c.count)
  const result = await Effect.runPromise(run(rules))
  rows.push({ label: c.label, ...result })
}

const base = rows[0]!.cpuUsPerReading
console.log(`\nAlarm rules: aggregator CPU per reading, ${DEVICES} devices, ${rows[0]!.readings} readings each run (windows 1m and 10m)`)
console.log(`${"rules".padEnd(24)} ${"CPU µs/reading".padStart(15)} ${"added by rules".padStart(15)} ${"per rule".padStart(10)} ${"alarms".padStart(8)}`)
for (const r of rows) {
  const count = Number(r.label.split(" ")[0]) || 0
  const added = r.cpuUsPerReading - base
  console.log(
    `${r.label.padEnd(24)} ${r.cpuUsPerReading.toFixed(2).padStart(15)} ${(count === 0 ? "" : added.toFixed(2)).padStart(15)} ${(count === 0 ? "" : (added / count).toFixed(3)).padStart(10)} ${String(r.alarms).padStart(8)}`
  )
}
console.log("")
const out = resolve(import.meta.dirname, "results")
mkdirSync(out, { recursive: true })
writeFileSync(join(out, "rules.json"), JSON.stringify({ devices: DEVICES, rows }, null, 2))
