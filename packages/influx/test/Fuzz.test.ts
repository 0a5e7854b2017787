/**
 * From hostile device input to the database: whatever the protocol's validator accepts
 * (decodeReading, and the window results, alarms and forecasts built from accepted ids)
 * becomes exactly one line of line protocol per point, with exactly the tags and fields it
 * should have — no input can add points, fields or lines — and real databases take every
 * such line without a write error and give it back exactly: influxd 1.6.7 bit for bit,
 * victoria-metrics 1.79 to its 12 significant digits.
 *
 * Hostile input means arbitrary bytes, Unicode ids with spaces, commas, equals signs, line
 * breaks and backslashes, huge numbers, NaN/Infinity and out-of-range timestamps. What the
 * validator refuses never gets here (packages/protocol/test/Fuzz.test.ts); the allowed set is
 * `[A-Za-z0-9_-]{1,64}` for ids and a letter then `[A-Za-z0-9_-]{0,63}` for metric names.
 */
import { assert, describe, it } from "@effect/vitest"
import { alarmPoint, forecastPoint, readingPoint, windowPoint } from "@bramble/actor-storage"
import { InfluxSink, type SinkPoint, toLineProtocol } from "@bramble/influx"
import { Codec, decodeReading, parseAlarm, type Reading, readForecast, readWindowResult } from "@bramble/protocol"
import { Effect, Result } from "effect"
import fc from "fast-check"
import { influxDb1, sinkFrom, victoriaMetrics } from "./fixtures.js"
import { canonical, readInfluxDb1, readVictoriaMetrics } from "./readBack.js"
import { parseLine } from "./lineProtocolParser.js"

const encoder = new TextEncoder()
const DAY = 24 * 3600_000
// Event times within the last 30 days: both databases keep them, victoria-metrics included.
const NOW = Math.floor(Date.now() / 1000) * 1000
const MIN_TS = NOW - 30 * DAY

const nastyChar = fc.constantFrom(" ", ",", "=", "\n", "\r", "\t", "\\", "\"", "#", ".", "é", "温", "🌡", "\uD800", "\u0000", "a", "-", "_", "7")
const hostile = fc.oneof(fc.string({ unit: nastyChar, maxLength: 40 }), fc.constantFrom("__proto__", "a\\", "x y", "k=v", "#m", "a".repeat(65)))
const token = fc.oneof({ weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/) }, { weight: 1, arbitrary: hostile })
const metric = fc.oneof({ weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/) }, { weight: 1, arbitrary: hostile })
const value = fc.oneof(
  { weight: 6, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom(Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 1e300, -0, NaN, Infinity, -Infinity, "1", null) }
)
const ts = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: MIN_TS, max: NOW }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 0, 1.5, 1e20, "2026-13-01", null) })

/** What a hostile device sends on its subject: the subject's device and sensor, and the payload bytes. */
const published = fc.record({
  device: token,
  sensor: token,
  bytes: fc.oneof(
    { weight: 4, arbitrary: fc.record({ ts, values: fc.dictionary(metric, value, { minKeys: 1, maxKeys: 8 }) }).map((p) => Codec.encode(p)) },
    { weight: 2, arbitrary: fc.record({ ts, values: fc.dictionary(metric, value, { minKeys: 1, maxKeys: 8 }) }).map((p) => encoder.encode(JSON.stringify(p))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 100 }) }
  )
})

/**
 * Accepted readings only. The subject's device and sensor are checked as the partition worker
 * does (parseReadingsSubject: tokens or BadSubject), then the payload by decodeReading.
 */
const accepted = (inputs: ReadonlyArray<{ device: string; sensor: string; bytes: Uint8Array }>): Array<Reading> =>
  inputs.flatMap(({ device, sensor, bytes }) => {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(device) || !/^[A-Za-z0-9_-]{1,64}$/.test(sensor)) return []
    const result = decodeReading(bytes, device, sensor, NOW)
    return Result.isSuccess(result) ? [result.success] : []
  })

/** The one line of `point`, checked against an independent parser: exactly its measurement, tags, fields and time. */
const exactlyOneLine = (point: SinkPoint): string => {
  const result = toLineProtocol(point)
  if (Result.isFailure(result)) assert.fail(`an accepted input was refused on its way to the database: ${result.failure.join("; ")} (${JSON.stringify(point)})`)
  const line = result.success
  assert.notMatch(line, /[\n\r]/)
  assert.deepStrictEqual(parseLine(line), {
    measurement: point.measurement,
    tags: { ...point.tags },
    fields: Object.fromEntries(Object.entries(point.fields).map(([k, v]) => [k, v === 0 ? 0 : v])),
    timestamp: String(point.timestampMs)
  })
  return line
}

describe("fuzz - from hostile input to line protocol", () => {
  it("every reading the validator accepts is exactly one line with exactly its tags and fields", () => {
    let count = 0
    fc.assert(
      fc.property(fc.array(published, { minLength: 1, maxLength: 20 }), (inputs) => {
        for (const reading of accepted(inputs)) {
          count++
          exactlyOneLine(readingPoint(reading))
        }
      }),
      { numRuns: 1_000 }
    )
    assert.isAbove(count, 1_000, "the generators must reach the accepting side")
  })

  it("window results, alarms and forecasts the decoders accept are exactly one line each", () => {
    const finite = fc.double({ noNaN: true, noDefaultInfinity: true })
    const windowLike = fc.record({ device: token, sensor: token, metric, window: token, start: ts, end: ts, count: fc.oneof(fc.nat(), value), mean: value, min: finite, max: finite, first: finite, last: finite, stddev: finite })
    const alarmLike = fc.record({ device: token, rule: token, state: fc.constantFrom("raised", "cleared", "x"), value, message: hostile, at: ts }, { requiredKeys: ["device", "rule", "state", "message", "at"] })
    const forecastLike = fc.record({ device: token, sensor: token, metric, window: token, start: ts, mean: value, basedOn: fc.nat() })
    let lines = 0
    fc.assert(
      fc.property(windowLike, alarmLike, forecastLike, (w, a, f) => {
        try {
          exactlyOneLine(windowPoint(readWindowResult(Codec.encode(w))))
          lines++
        } catch (error) {
          if ((error as Error).name === "AssertionError") throw error
        }
        const alarm = parseAlarm(Codec.encode(a))
        if (Result.isSuccess(alarm)) {
          exactlyOneLine(alarmPoint(alarm.success))
          lines++
        }
        try {
          exactlyOneLine(forecastPoint(readForecast(Codec.encode(f))))
          lines++
        } catch (error) {
          if ((error as Error).name === "AssertionError") throw error
        }
      }),
      { numRuns: 2_000 }
    )
    assert.isAbove(lines, 500)
  })
})

/** A deterministic sample of accepted readings, one per (device, sensor, time): the databases' key. */
const sample = (seed: number, size: number): Array<Reading> => {
  const readings = accepted(fc.sample(published, { numRuns: size * 3, seed })).filter((r) => r.ts >= MIN_TS)
  const byKey = new Map(readings.map((r) => [`${r.device}/${r.sensor}@${r.ts}`, r]))
  return [...byKey.values()].slice(0, size)
}

/**
 * victoria-metrics stores a value as a decimal of about 12 significant digits, so values come
 * back within that precision, and magnitudes below about 1e-290 (many digits at the very end
 * of the float range) come back as 0. Everything else — which points, their tags, field names
 * and times — must match exactly.
 */
const assertSameWithinVmPrecision = (stored: ReadonlyArray<SinkPoint>, written: ReadonlyArray<SinkPoint>) => {
  const key = (p: SinkPoint) => JSON.stringify([p.measurement, Object.entries(p.tags).sort(), Object.keys(p.fields).sort(), p.timestampMs])
  const byKey = new Map(stored.map((p) => [key(p), p]))
  assert.strictEqual(byKey.size, stored.length)
  for (const point of written) {
    const got = byKey.get(key(point))
    assert.isDefined(got, `not stored (or stored with other tags or fields): ${JSON.stringify(point)}`)
    for (const [field, expected] of Object.entries(point.fields)) {
      const actual = got!.fields[field]!
      const close = Math.abs(actual - expected) <= Math.abs(expected) * 1e-11 || (Math.abs(expected) < 1e-290 && actual === 0)
      assert.isTrue(close, `${field}: wrote ${expected}, read ${actual} (${JSON.stringify(point.tags)} @ ${point.timestampMs})`)
    }
  }
}

describe("fuzz - accepted hostile input in real databases", () => {
  it.live("influxd 1.6.7 takes every accepted reading without an error and gives each back bit for bit", () =>
    Effect.gen(function*() {
      const influx = yield* influxDb1("bramble")
      const sink = yield* sinkFrom(InfluxSink.layerV1({ url: influx.url, database: "bramble", batchSize: 500 }))
      const points = sample(1, 600).map(readingPoint)
      assert.isAbove(points.length, 500)
      yield* sink.write(points)
      const stored = yield* readInfluxDb1(influx.url, "bramble")
      assert.strictEqual(stored.length, points.length, "one stored point per point written: nothing added, nothing lost")
      assert.deepStrictEqual(canonical(stored), canonical(points.map((p) => ({ ...p, fields: Object.fromEntries(Object.entries(p.fields).map(([k, v]) => [k, v === 0 ? 0 : v])) }))))
    }))

  it.live("victoria-metrics takes every accepted reading without an error and gives each back (to its decimal precision)", () =>
    Effect.gen(function*() {
      const vm = yield* victoriaMetrics()
      const sink = yield* sinkFrom(InfluxSink.layerV2({ url: vm.url, org: "bramble", bucket: "bramble", batchSize: 500 }))
      const points = sample(2, 600).map(readingPoint)
      assert.isAbove(points.length, 500)
      yield* sink.write(points)
      const stored = yield* readVictoriaMetrics(vm.url, ["reading"])
      assert.strictEqual(stored.length, points.length, "one stored point per point written: nothing added, nothing lost")
      assertSameWithinVmPrecision(stored, points)
    }))
})


