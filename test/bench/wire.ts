/**
 * Benchmark: the two wire formats Bramble uses, on the messages it actually sends — msgpack
 * (msgpackr, through the project's one Packr: `Codec.encode`/`Codec.decode`) against JSON
 * (`Codec.encodeJson`/`Codec.decodeJson`: JSON.stringify + TextEncoder, TextDecoder +
 * JSON.parse, as JSON goes on the wire). For a single reading as a sensor actor publishes it,
 * a batch record of 100 readings as the ingest router and the write endpoint publish it, a
 * window result and an alarm: encoded bytes, encode and decode CPU ns per message (median of
 * several timed rounds after a warm-up; the two formats interleaved round by round, so a
 * machine shared with other work slows both alike), and what Bramble's own reader of that
 * message costs in each format (`decodeReadings`, `readWindowResult`, `parseAlarm`: codec plus
 * validation), so the codec's share of a message's cost is in the same table.
 *
 * Before timing anything, every message is checked to round-trip through both formats to an
 * equal value and to pass Bramble's own reader: a bench that measured a message the project
 * would refuse, or one that a format silently changes, aborts with the reason instead.
 * (This lives here rather than in a unit test because vitest does not run test/bench.)
 *
 *   node --import tsx test/bench/wire.ts [--rounds 15] [--ms 40]
 *
 * docs/performance.md and the README (Subscribing from MQTT) have the figures and what they
 * decide.
 */
import { Stats } from "@bramble/actor-aggregator"
import { roundForModel, simulatedClimate } from "@bramble/hardware"
import {
  type Alarm,
  Codec,
  decodeAlarm,
  decodeReadings,
  decodeWindowResult,
  encodeAlarm,
  encodeBatchRecord,
  encodeReadingPayload,
  encodeWindowResult,
  parseAlarm,
  type ReadingPayload,
  readWindowResult,
  type WindowResult
} from "@bramble/protocol"
import { Result } from "effect"
import { isNativeAccelerationEnabled } from "msgpackr"
import { deepStrictEqual } from "node:assert/strict"
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"

const { values: args } = parseArgs({ options: { rounds: { type: "string", default: "15" }, ms: { type: "string", default: "40" } } })
const ROUNDS = Number(args.rounds)
const ROUND_MS = Number(args.ms)

// ---------------------------------------------------------------------------------------
// The messages: what a DHT22 on a simulated greenhouse produces, every 2 s.

const DEVICE = "greenhouse-1"
const SENSOR = "env"
const START = Date.UTC(2026, 5, 1, 12)
const SAMPLE_MS = 2_000

/** The i-th reading of the device, rounded as a DHT22 reports it (0.1 °C, 0.1 %RH). */
const payloadAt = (i: number): ReadingPayload => {
  const ts = START + i * SAMPLE_MS
  const { temperatureC, humidityPct } = simulatedClimate(1, 4, ts)
  return { ts, seq: 1 + i, values: { temperature: roundForModel("dht22", temperatureC), humidity: roundForModel("dht22", humidityPct) } }
}

/** The 1-minute window result of the first 30 readings' temperature, computed with the
 * aggregator's own running statistics (full-precision mean and stddev, as published). */
const windowResult = (): WindowResult => {
  const values = Array.from({ length: 30 }, (_, i) => payloadAt(i))
  const stats = Stats.emptyStats(values[0]!.values.temperature!, values[0]!.ts as number)
  for (const p of values.slice(1)) Stats.addValue(stats, p.values.temperature!, p.ts as number)
  return {
    device: DEVICE,
    sensor: SENSOR,
    metric: "temperature",
    window: "1m",
    start: START,
    end: START + 60_000,
    count: stats.count,
    mean: Stats.mean(stats),
    min: stats.min,
    max: stats.max,
    first: stats.first,
    last: stats.last,
    stddev: Stats.stddev(stats)
  }
}

/** A threshold rule's raised event, worded as actors/aggregator Rules.ts words it. */
const alarm = (): Alarm => {
  const value = payloadAt(40).values.temperature!
  return {
    device: DEVICE,
    rule: "too-warm",
    severity: "warning",
    state: "raised",
    value,
    at: START + 40 * SAMPLE_MS,
    message: `temperature ${value} above 20 for 60000 ms`
  }
}

interface Case {
  readonly name: string
  /** Readings the message carries (ns per reading = ns per message ÷ this). */
  readonly readings: number
  readonly value: unknown
  /** The bytes Bramble publishes today (checked to be one of the two formats below). */
  readonly published: Uint8Array
  /** Bramble's own reader of this message: codec plus validation. Returns something to keep. */
  readonly read: (bytes: Uint8Array) => unknown
}

const STORED_AT = START + 3_600_000
const readingsOf = (bytes: Uint8Array): number => {
  const { readings, refusals } = decodeReadings(bytes, DEVICE, SENSOR, STORED_AT)
  if (refusals.length > 0) throw new Error(refusals[0]!.message)
  return readings.length
}

const single = payloadAt(0)
const batch = Array.from({ length: 100 }, (_, i) => payloadAt(i))
const window = windowResult()
const event = alarm()

const cases: ReadonlyArray<Case> = [
  { name: "reading (sensor actor)", readings: 1, value: single, published: encodeReadingPayload(single), read: readingsOf },
  { name: "batch record, 100 readings", readings: 100, value: { readings: batch }, published: encodeBatchRecord(batch), read: readingsOf },
  { name: "window result", readings: 0, value: window, published: encodeWindowResult(window), read: readWindowResult },
  {
    name: "alarm",
    readings: 0,
    value: event,
    published: encodeAlarm(event),
    read: (bytes) => {
      const parsed = parseAlarm(bytes)
      if (Result.isFailure(parsed)) throw new Error(parsed.failure.message)
      return parsed.success
    }
  }
]

const formats = {
  msgpack: { encode: Codec.encode, decode: Codec.decode },
  json: { encode: Codec.encodeJson, decode: Codec.decodeJson }
} as const
type Format = keyof typeof formats
const FORMATS = Object.keys(formats) as ReadonlyArray<Format>

/** What a NATS client hands a subscriber: a plain Uint8Array of its own (not the Buffer
 * msgpackr packed into, which is a view of its reused scratch buffer). */
const wire = (format: Format, value: unknown): Uint8Array => new Uint8Array(formats[format].encode(value))

// ---------------------------------------------------------------------------------------
// The guard: measure nothing that does not round-trip or that Bramble would refuse.

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])
const problems: Array<string> = []
for (const c of cases) {
  const check = (what: string, f: () => void) => {
    try {
      f()
    } catch (error) {
      problems.push(`${c.name}, ${what}: ${(error as Error).message.split("\n")[0]}`)
    }
  }
  if (!FORMATS.some((format) => sameBytes(c.published, wire(format, c.value)))) {
    problems.push(`${c.name}: the bytes Bramble publishes are neither Codec.encode nor Codec.encodeJson of the value measured`)
  }
  for (const format of FORMATS) {
    const bytes = wire(format, c.value)
    check(`${format} round trip`, () => deepStrictEqual(formats[format].decode(bytes), c.value))
    check(`${format} round trip through decodeAny`, () => deepStrictEqual(Codec.decodeAny(bytes), c.value))
    check(`Bramble's reader, ${format}`, () => {
      const read = c.read(bytes)
      if (c.readings > 0 && read !== c.readings) throw new Error(`read ${String(read)} readings, expected ${c.readings}`)
    })
  }
}
// The Schema-typed messages must also be what their Schemas accept (a reader that passed
// them through decodeAny checked that above; this names the Schema when it does not).
try {
  decodeWindowResult(window)
  decodeAlarm(event)
} catch (error) {
  problems.push(`schema: ${(error as Error).message.split("\n")[0]}`)
}
if (problems.length > 0) {
  console.error("wire bench: refusing to measure, the messages are not what Bramble sends and reads:")
  for (const p of problems) console.error(`  - ${p}`)
  process.exit(1)
}

// ---------------------------------------------------------------------------------------
// Timing

/** Defeats dead-code elimination: every result feeds it. */
let sink = 0
const keep = (x: unknown): void => {
  sink = (sink + (x instanceof Uint8Array ? x.length : typeof x === "number" ? x : x === undefined ? 0 : 1)) | 0
}

/** ns per call of `op` over `iterations` calls: wall clock, and the process's CPU time. The
 * CPU figure is the one reported: on a machine shared with other work (a CI run, other
 * sessions) a round's wall time includes whatever time the scheduler gave others, its CPU
 * time does not (GC threads' time is in it, which is part of the cost). */
const timeOnce = (op: () => unknown, iterations: number): { wall: number; cpu: number } => {
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) keep(op())
  const wall = Number(process.hrtime.bigint() - t0) / iterations
  const cpu = process.cpuUsage(cpu0)
  return { wall, cpu: ((cpu.user + cpu.system) * 1000) / iterations }
}

/** Enough calls for a round of about ROUND_MS, after warming `op` up (JIT, inline caches). */
const calibrate = (op: () => unknown): number => {
  let iterations = 64
  const warmUntil = performance.now() + Math.max(200, 3 * ROUND_MS)
  while (performance.now() < warmUntil) timeOnce(op, iterations)
  let ns = timeOnce(op, iterations).wall
  while (ns * iterations < 5e6) {
    iterations *= 2
    ns = timeOnce(op, iterations).wall
  }
  return Math.max(16, Math.round((ROUND_MS * 1e6) / ns))
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

type Op = "encode" | "decode" | "read"
interface Series {
  readonly case: string
  readonly format: Format
  readonly op: Op
  readonly run: () => unknown
  iterations: number
  /** CPU ns per call, one per round. */
  readonly ns: Array<number>
  /** Wall-clock ns per call, one per round (in the JSON result, to compare). */
  readonly wallNs: Array<number>
}

const series: Array<Series> = []
for (const c of cases) {
  for (const format of FORMATS) {
    const bytes = wire(format, c.value)
    const { encode, decode } = formats[format]
    series.push(
      { case: c.name, format, op: "encode", run: () => encode(c.value), iterations: 0, ns: [], wallNs: [] },
      { case: c.name, format, op: "decode", run: () => decode(bytes), iterations: 0, ns: [], wallNs: [] },
      { case: c.name, format, op: "read", run: () => c.read(bytes), iterations: 0, ns: [], wallNs: [] }
    )
  }
}

const loadBefore = loadavg()
console.log(`\nWire formats: msgpack (msgpackr ${isNativeAccelerationEnabled ? "with" : "WITHOUT"} msgpackr-extract) vs JSON; Node ${process.version}, ${cpus().length} cores, load ${loadBefore.map((l) => l.toFixed(2)).join(" ")}`)
console.log(`warming up and calibrating ${series.length} series, then ${ROUNDS} rounds of ~${ROUND_MS} ms each…`)
for (const s of series) s.iterations = calibrate(s.run)
for (let round = 0; round < ROUNDS; round++) {
  for (const s of series) {
    const { wall, cpu } = timeOnce(s.run, s.iterations)
    s.ns.push(cpu)
    s.wallNs.push(wall)
  }
}
const loadAfter = loadavg()

// ---------------------------------------------------------------------------------------
// Report

const seriesOf = (c: Case, format: Format, op: Op) => series.find((s) => s.case === c.name && s.format === format && s.op === op)!
const nsOf = (c: Case, format: Format, op: Op) => median(seriesOf(c, format, op).ns)
const wallOf = (c: Case, format: Format, op: Op) => median(seriesOf(c, format, op).wallNs)
const spreadOf = (c: Case, format: Format, op: Op) => {
  const ns = seriesOf(c, format, op).ns
  return (Math.max(...ns) - Math.min(...ns)) / median(ns)
}
const rows = cases.flatMap((c) =>
  FORMATS.map((format) => ({
    message: c.name,
    format,
    bytes: wire(format, c.value).length,
    published: sameBytes(c.published, wire(format, c.value)),
    encodeNs: nsOf(c, format, "encode"),
    decodeNs: nsOf(c, format, "decode"),
    readNs: nsOf(c, format, "read"),
    wallNs: { encode: wallOf(c, format, "encode"), decode: wallOf(c, format, "decode"), read: wallOf(c, format, "read") },
    readings: c.readings,
    /** (max − min) / median over the rounds: how much the shared machine moved the figure. */
    spread: { encode: spreadOf(c, format, "encode"), decode: spreadOf(c, format, "decode"), read: spreadOf(c, format, "read") }
  }))
)

const f0 = (n: number) => Math.round(n).toLocaleString("en-US")
const header = `${"message".padEnd(28)} ${"format".padEnd(8)} ${"bytes".padStart(7)} ${"encode ns".padStart(10)} ${"decode ns".padStart(10)} ${"read ns".padStart(10)} ${"enc+dec /reading".padStart(17)}`
console.log(`\n${header}\n${"-".repeat(header.length)}`)
for (const r of rows) {
  const perReading = r.readings === 0 ? "" : f0((r.encodeNs + r.decodeNs) / r.readings)
  console.log(
    `${r.message.padEnd(28)} ${`${r.format}${r.published ? "*" : ""}`.padEnd(8)} ${f0(r.bytes).padStart(7)} ${f0(r.encodeNs).padStart(10)} ${f0(r.decodeNs).padStart(10)} ${f0(r.readNs).padStart(10)} ${perReading.padStart(17)}`
  )
}
console.log(`\n* what Bramble publishes today. ns are CPU ns per message, median of ${ROUNDS} rounds; "read" is Bramble's own reader`)
console.log(`(codec + validation: decodeReadings, readWindowResult, parseAlarm). json ÷ msgpack, same run:`)
for (const c of cases) {
  const ratio = (op: Op) => (nsOf(c, "json", op) / nsOf(c, "msgpack", op)).toFixed(2)
  const bytes = (wire("json", c.value).length / wire("msgpack", c.value).length).toFixed(2)
  console.log(`  ${c.name.padEnd(28)} bytes ${bytes}  encode ${ratio("encode")}  decode ${ratio("decode")}  read ${ratio("read")}`)
}
const worst = Math.max(...rows.flatMap((r) => [r.spread.encode, r.spread.decode, r.spread.read]))
const cpuShare = median(series.map((s) => median(s.ns) / median(s.wallNs)))
console.log(`largest spread between rounds (max−min)/median: ${(worst * 100).toFixed(0)}%; CPU ÷ wall time, median: ${cpuShare.toFixed(2)}; load after ${loadAfter.map((l) => l.toFixed(2)).join(" ")}`)

const out = resolve(import.meta.dirname, "results")
mkdirSync(out, { recursive: true })
const file = join(out, `wire-${new Date().toISOString().replace(/[:.]/g, "-")}.json`)
writeFileSync(
  file,
  JSON.stringify({ benchmark: "wire", node: process.version, nativeMsgpack: isNativeAccelerationEnabled, rounds: ROUNDS, roundMs: ROUND_MS, loadBefore, loadAfter, rows, sink }, null, 2)
)
console.log(`result: ${file}\n`)
