/**
 * The pure parts of `bramble export`: time and duration arguments, the rows and their CSV /
 * NDJSON text, the filter subjects, and when a range counts as older than the stream holds.
 * (test/e2e/export.test.ts runs the command against a real node.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import { databaseHint, olderThanStreamMessage } from "../src/cli/ExportCommand.js"
import { filtersOf, missingBefore, type StreamHead } from "../src/cli/ExportLog.js"
import { alarmRow, byStart, csvField, readingRows, rowEncoder, windowRow } from "../src/cli/ExportRows.js"
import { formatDuration, parseDuration, parseTime } from "../src/cli/TimeArg.js"

const NOW = Date.parse("2026-11-21T12:00:00.000Z")

const time = (text: string) => {
  const parsed = parseTime(text, NOW)
  return Result.isSuccess(parsed) ? parsed.success : parsed.failure
}

describe("export arguments", () => {
  it("time - ISO-8601, now, relative and epoch milliseconds", () => {
    assert.strictEqual(time("2026-11-20T10:00:00Z"), Date.parse("2026-11-20T10:00:00Z"))
    assert.strictEqual(time("2026-11-20T10:00:00.250+01:00"), Date.parse("2026-11-20T09:00:00.250Z"))
    assert.strictEqual(time("2026-11-20"), Date.parse("2026-11-20T00:00:00Z"))
    assert.strictEqual(time("now"), NOW)
    assert.strictEqual(time("-2h"), NOW - 2 * 3_600_000)
    assert.strictEqual(time("now-90s"), NOW - 90_000)
    assert.strictEqual(time("now-1h30m"), NOW - 5_400_000)
    assert.strictEqual(time("now+5m"), NOW + 300_000)
    assert.strictEqual(time("-7d"), NOW - 7 * 86_400_000)
    assert.strictEqual(time("1763700000000"), 1763700000000)
  })

  it("time - what is not a time says why", () => {
    for (const bad of ["yesterday", "2", "-2", "now-", "-2x", "1763700000", "2026-13-45T00:00:00Z", ""]) {
      const parsed = parseTime(bad, NOW)
      assert.isTrue(Result.isFailure(parsed), bad)
      if (Result.isFailure(parsed)) assert.include(parsed.failure, "is not a time", bad)
    }
    const seconds = parseTime("1763700000", NOW)
    assert.isTrue(Result.isFailure(seconds) && seconds.failure.includes("seconds?"))
  })

  it("duration - units, combinations and the cluster file's spelling back", () => {
    assert.strictEqual(parseDuration("0"), 0)
    assert.strictEqual(parseDuration("0s"), 0)
    assert.strictEqual(parseDuration("500ms"), 500)
    assert.strictEqual(parseDuration("10m"), 600_000)
    assert.strictEqual(parseDuration("1h30m"), 5_400_000)
    assert.strictEqual(parseDuration("1.5h"), 5_400_000)
    assert.strictEqual(parseDuration("2w"), 14 * 86_400_000)
    for (const bad of ["", "10", "m", "10 m", "soon", "-5m"]) assert.isUndefined(parseDuration(bad), bad)
    assert.strictEqual(formatDuration(7 * 86_400_000), "7d")
    assert.strictEqual(formatDuration(5_400_000), "1h30m")
    assert.strictEqual(formatDuration(1_500), "1s500ms")
    assert.strictEqual(formatDuration(0), "0")
  })

  it("duration - formatDuration parses back to the same milliseconds", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 400 * 86_400_000 }), (ms) => parseDuration(formatDuration(ms)) === ms))
  })
})

describe("export rows", () => {
  const reading = { device: "greenhouse-1", sensor: "env", ts: Date.parse("2026-11-20T10:00:00.123Z"), values: { temperature: 21.5, humidity: 40 } }
  const window = {
    device: "barn",
    sensor: "env",
    metric: "temperature",
    window: "1m",
    start: Date.parse("2026-11-20T10:00:00Z"),
    end: Date.parse("2026-11-20T10:01:00Z"),
    count: 30,
    mean: 21.25,
    min: 20,
    max: 22.5,
    first: 20.5,
    last: 22,
    stddev: 0.5
  }

  it("csv - a reading is one row per metric, metrics by name, with a header", () => {
    const encode = rowEncoder("raw", "csv")
    assert.strictEqual(encode.header, "time,device,sensor,metric,value\n")
    assert.strictEqual(
      readingRows(reading).map(encode.line).join(""),
      "2026-11-20T10:00:00.123Z,greenhouse-1,env,humidity,40\n2026-11-20T10:00:00.123Z,greenhouse-1,env,temperature,21.5\n"
    )
  })

  it("csv - window results and alarms (an alarm without a value has an empty field)", () => {
    assert.strictEqual(
      rowEncoder("windows", "csv").line(windowRow(window)),
      "2026-11-20T10:00:00.000Z,2026-11-20T10:01:00.000Z,barn,env,temperature,1m,30,21.25,20,22.5,20.5,22,0.5\n"
    )
    const alarms = rowEncoder("alarms", "csv")
    assert.strictEqual(alarms.header, "at,device,rule,state,value,message\n")
    assert.strictEqual(
      alarms.line(alarmRow({ device: "barn", rule: "silent", state: "raised", message: "no reading for 5m, \"barn\" is quiet", at: window.start })),
      "2026-11-20T10:00:00.000Z,barn,silent,raised,,\"no reading for 5m, \"\"barn\"\" is quiet\"\n"
    )
  })

  it("csv - a field round-trips through RFC 4180 quoting", () => {
    const unquote = (field: string) => field.startsWith("\"") ? field.slice(1, -1).replace(/""/g, "\"") : field
    fc.assert(fc.property(fc.string(), (text) => {
      const field = csvField(text)
      const safe = !/[",\r\n]/.test(text)
      return unquote(field) === text && (safe ? field === text : field.startsWith("\""))
    }))
  })

  it("ndjson - one object per line with the CSV's names; null for no value", () => {
    const raw = rowEncoder("raw", "ndjson")
    assert.strictEqual(raw.header, "")
    assert.deepStrictEqual(readingRows(reading).map((r) => JSON.parse(raw.line(r))), [
      { time: "2026-11-20T10:00:00.123Z", device: "greenhouse-1", sensor: "env", metric: "humidity", value: 40 },
      { time: "2026-11-20T10:00:00.123Z", device: "greenhouse-1", sensor: "env", metric: "temperature", value: 21.5 }
    ])
    const line = rowEncoder("alarms", "ndjson").line(alarmRow({ device: "barn", rule: "r", state: "cleared", message: "ok", at: window.start }))
    assert.isTrue(line.endsWith("}\n"))
    assert.deepStrictEqual(JSON.parse(line), { at: "2026-11-20T10:00:00.000Z", device: "barn", rule: "r", state: "cleared", value: null, message: "ok" })
    assert.deepStrictEqual(Object.keys(JSON.parse(rowEncoder("windows", "ndjson").line(windowRow(window)))), [
      "start", "end", "device", "sensor", "metric", "window", "count", "mean", "min", "max", "first", "last", "stddev"
    ])
  })

  it("windows - sorted by start, then device, sensor, metric, window (code-unit order)", () => {
    const w = (start: number, device: string, metric = "t") => ({ ...window, start, device, metric })
    const sorted = [w(2, "a"), w(1, "b"), w(1, "B"), w(1, "a", "u"), w(1, "a")].sort(byStart)
    assert.deepStrictEqual(sorted.map((r) => `${r.start}${r.device}${r.metric}`), ["1Bt", "1at", "1au", "1bt", "2at"])
  })
})

describe("export plan", () => {
  it("filters - one per device, forecasts never match, every device without --devices", () => {
    assert.deepStrictEqual(filtersOf({ kind: "raw", devices: undefined }), ["readings.*.*.*"])
    assert.deepStrictEqual(filtersOf({ kind: "raw", devices: ["a", "b"] }), ["readings.*.a.*", "readings.*.b.*"])
    assert.deepStrictEqual(filtersOf({ kind: "windows", devices: ["a"], window: "1m" }), ["aggregates.a.*.*.1m"])
    assert.deepStrictEqual(filtersOf({ kind: "windows", devices: [] }), ["aggregates.*.*.*.*"])
    assert.deepStrictEqual(filtersOf({ kind: "alarms", devices: ["a"] }), ["alarms.a.*"])
  })

  it("older than the stream - only when the stream lost its head and the range starts before what is left", () => {
    const head = (firstSeq: number, firstStoredAt: number | undefined): StreamHead => ({
      stream: "READINGS",
      messages: firstStoredAt === undefined ? 0 : 10,
      firstSeq,
      firstStoredAt,
      maxAgeMs: 7 * 86_400_000
    })
    // A young stream that never lost a message holds everything there ever was.
    assert.isUndefined(missingBefore(head(1, NOW - 1_000), NOW - 86_400_000, NOW))
    assert.strictEqual(missingBefore(head(500, NOW - 1_000), NOW - 86_400_000, NOW), NOW - 1_000)
    assert.isUndefined(missingBefore(head(500, NOW - 1_000), NOW - 1_000, NOW))
    // Everything aged out: nothing before now is held.
    assert.strictEqual(missingBefore(head(500, undefined), NOW - 60_000, NOW), NOW)
  })

  it("older than the stream - the message names the limit and the database queries", () => {
    const plan = { kind: "windows" as const, from: Date.parse("2026-11-01T00:00:00Z"), to: NOW, devices: ["barn"], window: "1m", slackMs: 0 }
    const message = olderThanStreamMessage(plan, "AGGREGATES", Date.parse("2026-11-14T00:00:00Z"), 7 * 86_400_000, 1234)
    assert.include(message, "AGGREGATES no longer holds messages stored before 2026-11-14T00:00:00.000Z")
    assert.include(message, "1234 older message(s) were removed")
    assert.include(message, "streams.aggregates.maxAge")
    assert.include(message, "the stream keeps 7d")
    const hint = databaseHint(plan, Date.parse("2026-11-14T00:00:00Z"))
    assert.include(hint, `"SELECT * FROM \\"window\\" WHERE time >= '2026-11-01T00:00:00.000Z' AND time < '2026-11-14T00:00:00.000Z' AND (\\"device\\" = 'barn') AND \\"window\\" = '1m'"`)
    assert.include(hint, `range(start: 2026-11-01T00:00:00.000Z, stop: 2026-11-14T00:00:00.000Z)`)
    assert.include(hint, `r._measurement == "window" and (r.device == "barn") and r.window == "1m"`)
  })
})
