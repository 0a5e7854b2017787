/**
 * `bramble export` as users run it: the built CLI as a child process against a real node
 * (`bramble node` with nats-server and VictoriaMetrics), after known readings went through
 * it. The files it writes are parsed and compared with what was published (raw), with the
 * independent oracle (windows), and with the ALARMS stream (alarms): content, the device
 * filter, the [from, to) edges in event time, the --slack cut-off, stdout, usage errors, and
 * a range older than the stream holds (a warning with the database query, or exit 1 with
 * --strict).
 *
 * The tests share one node and run in order; the last one purges the head of READINGS.
 */
import { assert, layer } from "@effect/vitest"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { parseAlarm } from "@bramble/protocol"
import { Context, Effect, Layer, Result } from "effect"
import { execFile } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { startVictoriaMetrics } from "@bramble/deploy"
import {
  compareWindows,
  expectedWindows,
  makeReadings,
  publishNats,
  readStreamReadings,
  type TestReading,
  type WindowRow
} from "../support/index.js"
import { BRAMBLE_CLI, startBrambleNode } from "../support/BrambleNode.js"
import { PROCESSING, promise, settled, testDir, WINDOWS, withNodeLog } from "../support/SystemTest.js"

const DEVICES = ["dev-a", "dev-b", "dev-c"] as const
const PER_DEVICE = 200
const STEP_MS = 100

interface Setup {
  readonly dir: string
  readonly natsUrl: string
  /** Event time of the first reading (a multiple of 5 s, a minute before publishing). */
  readonly base: number
  readonly readings: ReadonlyArray<TestReading>
  readonly windows: ReadonlyArray<WindowRow>
}

class Fixture extends Context.Service<Fixture, Setup>()("test/e2e/export/Fixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    if (!existsSync(BRAMBLE_CLI)) return yield* Effect.die(new Error(`${BRAMBLE_CLI} is missing: run \`npm run build\` first (\`npm test\` does)`))
    const dir = yield* testDir("bramble-export-")
    const vm = yield* startVictoriaMetrics({ dir: join(dir, "db") })
    const node = yield* startBrambleNode({
      dir: join(dir, "node"),
      sink: { kind: "influx-v2", url: vm.url },
      windows: WINDOWS,
      processing: PROCESSING,
      rules: [{ kind: "threshold", name: "hot", metric: "temperature", above: 27, clearBelow: 25 }]
    })
    const base = Math.floor((Date.now() - 60_000) / 5_000) * 5_000
    const readings = makeReadings({ devices: DEVICES, perDevice: PER_DEVICE, startMs: base, stepMs: STEP_MS })
    const report = yield* promise(() => publishNats(node.natsUrl, readings))
    assert.strictEqual(report.acknowledged.length, readings.length, "every reading acknowledged")
    const windows = expectedWindows(report.acknowledged, WINDOWS)
    yield* withNodeLog(node, settled(node, { kind: "victoria-metrics", url: vm.url }, { raw: readings.length, windows: windows.length }, windows))
    return { dir, natsUrl: node.natsUrl, base, readings: report.acknowledged, windows }
  })
)

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** `bramble export ...args` against the node. */
const exportCli = (args: ReadonlyArray<string>) =>
  Effect.flatMap(Fixture, (setup) =>
    promise(() =>
      new Promise<Run>((resolve) => {
        execFile(
          process.execPath,
          [BRAMBLE_CLI, "export", "--server", setup.natsUrl, ...args],
          { env: { ...process.env, NO_COLOR: "1" }, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
          (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr })
        )
      })
    ))

/** RFC 4180: quoted fields may hold commas, quotes ("") and line breaks. */
const parseCsv = (text: string): Array<Record<string, string>> => {
  const records: Array<Array<string>> = []
  let field = ""
  let record: Array<string> = []
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === "\"" && text[i + 1] === "\"") {
        field += "\""
        i++
      } else if (c === "\"") quoted = false
      else field += c
    } else if (c === "\"") quoted = true
    else if (c === ",") {
      record.push(field)
      field = ""
    } else if (c === "\n") {
      record.push(field)
      records.push(record)
      record = []
      field = ""
    } else field += c
  }
  assert.strictEqual(field + record.join(""), "", "the file ends with a line break")
  const [header, ...rows] = records
  return rows.map((r) => {
    assert.strictEqual(r.length, header!.length, `row ${r.join(",")}`)
    return Object.fromEntries(header!.map((name, i) => [name, r[i]!]))
  })
}

const parseNdjson = (text: string): Array<Record<string, unknown>> =>
  text.split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line) as Record<string, unknown>)

const iso = (ms: number) => new Date(ms).toISOString()

/** Published readings as export rows (one per metric), as sortable strings. */
const rawLines = (readings: ReadonlyArray<Pick<TestReading, "device" | "sensor" | "ts" | "values">>) =>
  readings.flatMap((r) => Object.entries(r.values).map(([metric, value]) => `${iso(r.ts)},${r.device},${r.sensor},${metric},${value}`)).sort()

const exportedLines = (rows: ReadonlyArray<Record<string, unknown>>) =>
  rows.map((r) => `${r["time"]},${r["device"]},${r["sensor"]},${r["metric"]},${Number(r["value"])}`).sort()

const summaryRows = (run: Run) => Number(/exported (\d+) rows?/.exec(run.stdout + run.stderr)?.[1] ?? Number.NaN)

layer(fixture, { excludeTestServices: true, timeout: "300 seconds" })("bramble export", (it) => {
  it.effect("export - raw CSV of every device is what was published, one row per metric", () =>
    Effect.gen(function*() {
      const { dir, base, readings } = yield* Fixture
      const out = join(dir, "raw.csv")
      const run = yield* exportCli(["--from", iso(base), "--to", iso(base + PER_DEVICE * STEP_MS), "--out", out])
      assert.strictEqual(run.code, 0, run.stderr)
      assert.notInclude(run.stderr, "warning", "the stream holds the whole range")
      const text = readFileSync(out, "utf8")
      assert.isTrue(text.startsWith("time,device,sensor,metric,value\n"))
      const rows = parseCsv(text)
      assert.deepStrictEqual(exportedLines(rows), rawLines(readings))
      assert.strictEqual(summaryRows(run), rows.length)
      assert.include(run.stdout, out)
      assert.isFalse(existsSync(`${out}.partial`))
    }))

  it.effect("export - the range is [from, to) in event time; --devices keeps only those devices (NDJSON)", () =>
    Effect.gen(function*() {
      const { dir, base, readings } = yield* Fixture
      // dev-a's readings fall on whole 100 ms steps: one is exactly at `from`, one exactly at `to`.
      const from = base + 5_000
      const to = base + 10_000
      assert.isTrue(readings.some((r) => r.device === "dev-a" && r.ts === from) && readings.some((r) => r.device === "dev-a" && r.ts === to))
      const out = join(dir, "some.ndjson")
      const run = yield* exportCli(["--from", String(from), "--to", iso(to), "--devices", "dev-a,dev-c", "--format", "ndjson", "--out", out])
      assert.strictEqual(run.code, 0, run.stderr)
      const rows = parseNdjson(readFileSync(out, "utf8"))
      assert.deepStrictEqual(Object.keys(rows[0]!), ["time", "device", "sensor", "metric", "value"])
      assert.isTrue(rows.every((r) => typeof r["value"] === "number"))
      const expected = readings.filter((r) => (r.device === "dev-a" || r.device === "dev-c") && r.ts >= from && r.ts < to)
      assert.deepStrictEqual(exportedLines(rows), rawLines(expected))
      assert.isTrue(rows.some((r) => r["time"] === iso(from)), "from is inclusive")
      assert.isFalse(rows.some((r) => r["time"] === iso(to)), "to is exclusive")
    }))

  it.effect("export - window results are the oracle's, keyed by window start; --window keeps one window", () =>
    Effect.gen(function*() {
      const { dir, base, windows } = yield* Fixture
      const from = base
      const to = base + PER_DEVICE * STEP_MS
      const out = join(dir, "windows.csv")
      const run = yield* exportCli(["--kind", "windows", "--from", iso(from), "--to", iso(to), "--out", out])
      assert.strictEqual(run.code, 0, run.stderr)
      const text = readFileSync(out, "utf8")
      assert.isTrue(text.startsWith("start,end,device,sensor,metric,window,count,mean,min,max,first,last,stddev\n"))
      const rows = parseCsv(text)
      const size = new Map<string, number>(WINDOWS.map((w) => [w.name, w.size]))
      assert.isTrue(rows.every((r) => Date.parse(r["end"]!) - Date.parse(r["start"]!) === size.get(r["window"]!)))
      const toRow = (r: Record<string, string>): WindowRow => ({
        device: r["device"]!,
        sensor: r["sensor"]!,
        metric: r["metric"]!,
        window: r["window"]!,
        start: Date.parse(r["start"]!),
        count: Number(r["count"]),
        mean: Number(r["mean"]),
        min: Number(r["min"]),
        max: Number(r["max"]),
        first: Number(r["first"]),
        last: Number(r["last"]),
        stddev: Number(r["stddev"])
      })
      const expected = windows.filter((w) => w.start >= from && w.start < to)
      const diff = compareWindows(expected, rows.map(toRow))
      assert.isTrue(diff.ok, diff.text)
      // Sorted by start.
      for (let i = 1; i < rows.length; i++) assert.isAtLeast(Date.parse(rows[i]!["start"]!), Date.parse(rows[i - 1]!["start"]!))

      const five = join(dir, "windows-5s.ndjson")
      const one = yield* exportCli(["--kind", "windows", "--window", "5s", "--devices", "dev-b", "--from", iso(from), "--to", iso(to), "--format", "ndjson", "--out", five])
      assert.strictEqual(one.code, 0, one.stderr)
      const fiveRows = parseNdjson(readFileSync(five, "utf8"))
      assert.strictEqual(fiveRows.length, expected.filter((w) => w.window === "5s" && w.device === "dev-b").length)
      assert.isTrue(fiveRows.length > 0 && fiveRows.every((r) => r["window"] === "5s" && r["device"] === "dev-b" && typeof r["count"] === "number"))
    }))

  it.effect("export - alarm events are the ALARMS stream's events in the range", () =>
    Effect.gen(function*() {
      const { dir, base, natsUrl } = yield* Fixture
      const from = base
      const to = base + PER_DEVICE * STEP_MS
      const stored = yield* promise(async () => {
        const nc = await connect({ servers: natsUrl })
        try {
          const info = await (await jetstreamManager(nc)).streams.info("ALARMS")
          const consumer = await jetstream(nc).consumers.get("ALARMS")
          const events: Array<string> = []
          for (let read = 0; read < info.state.messages;) {
            const m = await consumer.next({ expires: 5_000 })
            if (m === null) break
            read++
            const alarm = parseAlarm(m.data)
            if (Result.isSuccess(alarm) && alarm.success.at >= from && alarm.success.at < to) {
              const a = alarm.success
              events.push(JSON.stringify([iso(a.at), a.device, a.rule, a.state, a.value ?? null, a.message]))
            }
          }
          return events
        } finally {
          await nc.close()
        }
      })
      assert.isAbove(stored.length, 0, "the threshold rule raised alarms")
      const out = join(dir, "alarms.csv")
      const run = yield* exportCli(["--kind", "alarms", "--from", iso(from), "--to", iso(to), "--out", out])
      assert.strictEqual(run.code, 0, run.stderr)
      const text = readFileSync(out, "utf8")
      assert.isTrue(text.startsWith("at,device,rule,state,value,message\n"))
      const rows = parseCsv(text).map((r) =>
        JSON.stringify([r["at"], r["device"], r["rule"], r["state"], r["value"] === "" ? null : Number(r["value"]), r["message"]])
      )
      assert.deepStrictEqual(rows, stored, "same events, in log order")
    }))

  it.effect("export - a reading stored more than --slack after --to is not read", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* Fixture
      // Every reading was published about a minute after its event time.
      const out = join(dir, "no-slack.csv")
      const run = yield* exportCli(["--from", iso(base), "--to", iso(base + 20_000), "--slack", "0s", "--out", out])
      assert.strictEqual(run.code, 0, run.stderr)
      assert.strictEqual(summaryRows(run), 0)
      assert.include(run.stderr, "Nothing matched")
      assert.strictEqual(readFileSync(out, "utf8"), "time,device,sensor,metric,value\n")
    }))

  it.effect("export - --out - writes to stdout; bad arguments are usage errors (exit 2) and write nothing", () =>
    Effect.gen(function*() {
      const { dir, base, readings } = yield* Fixture
      const run = yield* exportCli(["--from", iso(base), "--to", iso(base + 1_000), "--devices", "dev-b", "--out", "-"])
      assert.strictEqual(run.code, 0, run.stderr)
      const rows = parseCsv(run.stdout)
      assert.deepStrictEqual(exportedLines(rows), rawLines(readings.filter((r) => r.device === "dev-b" && r.ts < base + 1_000)))
      assert.include(run.stderr, "exported")
      const out = join(dir, "never.csv")
      for (
        const args of [
          ["--from", "yesterday"],
          ["--from", iso(base), "--to", iso(base - 1)],
          ["--from", iso(base), "--devices", "dev a"],
          ["--from", iso(base), "--window", "1s"],
          ["--from", iso(base), "--slack", "soon"],
          ["--from", iso(base), "--kind", "everything"]
        ]
      ) {
        const bad = yield* exportCli([...args, "--out", out])
        assert.strictEqual(bad.code, 2, `${args.join(" ")}: ${bad.stderr}`)
      }
      assert.isFalse(existsSync(out))
    }))

  it.effect("export - a range older than the stream holds: a warning with the database query, or exit 1 with --strict", () =>
    Effect.gen(function*() {
      const { dir, base, natsUrl } = yield* Fixture
      // Remove the stream's first 100 messages, as its age limit would.
      const head = yield* promise(async () => {
        const nc = await connect({ servers: natsUrl })
        try {
          const jsm = await jetstreamManager(nc)
          const first = (await jsm.streams.info("READINGS")).state.first_seq
          await jsm.streams.purge("READINGS", { seq: first + 100 })
          return (await jsm.streams.info("READINGS")).state
        } finally {
          await nc.close()
        }
      })
      assert.isAbove(head.first_seq, 100)
      const remaining = yield* promise(() => readStreamReadings(natsUrl, "READINGS"))
      const to = base + PER_DEVICE * STEP_MS

      const strictOut = join(dir, "strict.csv")
      const strict = yield* exportCli(["--from", iso(base), "--to", iso(to), "--strict", "--out", strictOut])
      assert.strictEqual(strict.code, 1, strict.stderr)
      assert.include(strict.stderr, "no longer holds")
      assert.isFalse(existsSync(strictOut), "--strict writes nothing")
      assert.isFalse(existsSync(`${strictOut}.partial`))

      const out = join(dir, "older.csv")
      const run = yield* exportCli(["--from", iso(base), "--to", iso(to), "--devices", "dev-a", "--out", out])
      assert.strictEqual(run.code, 0, run.stderr)
      assert.include(run.stderr, "warning: READINGS no longer holds messages stored before")
      assert.include(run.stderr, "100 older message(s) were removed")
      assert.include(run.stderr, "streams.readings.maxAge")
      assert.include(run.stderr, `SELECT * FROM \\"reading\\" WHERE time >= '${iso(base)}'`)
      assert.include(run.stderr, `(\\"device\\" = 'dev-a')`)
      assert.include(run.stderr, "from(bucket:")
      const rows = parseCsv(readFileSync(out, "utf8"))
      assert.deepStrictEqual(exportedLines(rows), rawLines(remaining.filter((r) => r.device === "dev-a")))

      // A range that starts after the stream's first message is not warned about.
      const later = yield* exportCli(["--from", iso(Date.now() - 1_000), "--out", join(dir, "later.csv")])
      assert.strictEqual(later.code, 0, later.stderr)
      assert.notInclude(later.stderr, "warning")
    }))
})
