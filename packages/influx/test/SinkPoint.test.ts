import { assert, describe, it } from "@effect/vitest"
import { Point } from "@influxdata/influxdb-client"
import { Result } from "effect"
import fc from "fast-check"
import { pointProblems, type SinkPoint, toLineProtocol } from "@bramble/influx"
import { parseLine } from "./lineProtocolParser.js"

const lineOf = (point: SinkPoint): string => {
  const result = toLineProtocol(point)
  if (Result.isFailure(result)) assert.fail(`expected a line, got: ${result.failure.join("; ")}`)
  return result.success
}

const problemsOf = (point: SinkPoint): ReadonlyArray<string> => {
  const result = toLineProtocol(point)
  if (Result.isSuccess(result)) assert.fail(`expected a refusal, got line ${JSON.stringify(result.success)}`)
  return result.failure
}

const base: SinkPoint = { measurement: "env", tags: { device: "d1" }, fields: { t: 21.5 }, timestampMs: 1_795_000_000_123 }

// Characters that break naive line-protocol writers, weighted against plain ones.
const nastyChar = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(" ", ",", "=", "\"", "'", "\\", "\n", "\r", "\t", "#", "é", "温", "🌡", "\uD800", "\uDC00", "\u0000") },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.constantFrom("a", "b", "_", "-", "1") }
)
const nastyString = fc.string({ unit: nastyChar, minLength: 0, maxLength: 8 })
const arbitraryPoint: fc.Arbitrary<SinkPoint> = fc.record({
  measurement: nastyString,
  tags: fc.dictionary(nastyString, nastyString, { maxKeys: 3 }),
  fields: fc.dictionary(
    nastyString,
    fc.oneof(fc.double(), fc.integer().map((n) => n / 100)),
    { minKeys: 0, maxKeys: 3 }
  ),
  timestampMs: fc.oneof(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.double())
})

// Characters writers must escape but line protocol can carry; `\\x` is a backslash that
// escapes nothing.
const awkwardChar = fc.constantFrom(" ", ",", "=", "\"", "'", "#", "\\x", "é", "温", "🌡", "\u0000", "a", "_")
const awkwardString = fc.string({ unit: awkwardChar, minLength: 1, maxLength: 8 })
const awkwardPoint: fc.Arbitrary<SinkPoint> = fc.record({
  measurement: awkwardString,
  tags: fc.dictionary(awkwardString, awkwardString, { maxKeys: 4 }),
  fields: fc.dictionary(awkwardString, fc.double({ noNaN: true, noDefaultInfinity: true }), { minKeys: 1, maxKeys: 3 }),
  timestampMs: fc.integer({ min: -1e15, max: 1e15 })
})
// Many tags and fields (both ways of sorting them: in place for a few, Array.sort beyond).
const widePoint: fc.Arbitrary<SinkPoint> = fc.record({
  measurement: awkwardString,
  tags: fc.dictionary(awkwardString, awkwardString, { maxKeys: 14 }),
  fields: fc.dictionary(awkwardString, fc.double({ noNaN: true, noDefaultInfinity: true }), { minKeys: 1, maxKeys: 14 }),
  timestampMs: fc.integer({ min: 0, max: 4_102_444_800_000 })
})

describe("SinkPoint", () => {
  it("line protocol - a plain point is one escaped line with a millisecond timestamp", () => {
    assert.strictEqual(lineOf(base), "env,device=d1 t=21.5 1795000000123")
  })

  it("line protocol - spaces, commas, equals, quotes, backslashes and Unicode are escaped by the library", () => {
    const line = lineOf({
      measurement: "room temp,x=1",
      tags: { "a b": "c,d=e", quote: "say \"hi\"", path: "C:\\temp", unicode: "ü温度🌡" },
      fields: { "f=1 x": 1 },
      timestampMs: 5
    })
    assert.strictEqual(
      line,
      "room\\ temp\\,x=1,a\\ b=c\\,d\\=e,path=C:\\temp,quote=say\\ \"hi\",unicode=ü温度🌡 f\\=1\\ x=1 5"
    )
  })

  it("line protocol - values line protocol cannot carry exactly are refused with a reason", () => {
    const cases: ReadonlyArray<[SinkPoint, RegExp]> = [
      [{ ...base, fields: { t: Number.NaN } }, /field "t" is NaN/],
      [{ ...base, fields: { t: Number.POSITIVE_INFINITY } }, /field "t" is Infinity/],
      [{ ...base, fields: { t: Number.NEGATIVE_INFINITY } }, /field "t" is -Infinity/],
      [{ ...base, fields: {} }, /no fields/],
      [{ ...base, tags: { device: "a\nb" } }, /line break/],
      [{ ...base, tags: { device: "a\rb" } }, /line break/],
      [{ ...base, tags: { "dev\tice": "a" } }, /tag key .* tab/],
      [{ ...base, measurement: "env\nx f=1 1" }, /measurement .* line break/],
      [{ ...base, tags: { device: "trailing\\" } }, /backslash/],
      [{ ...base, tags: { device: "a\\,b" } }, /backslash/],
      [{ ...base, tags: { device: "a\\\\b" } }, /backslash/],
      [{ ...base, fields: { "x\\ y": 1 } }, /field key .* backslash/],
      [{ ...base, measurement: "#comment" }, /starts with #/],
      [{ ...base, measurement: "" }, /measurement is empty/],
      [{ ...base, tags: { device: "" } }, /tag "device" value is empty/],
      [{ ...base, tags: { "": "x" } }, /tag key is empty/],
      [{ ...base, fields: { "": 1 } }, /field key is empty/],
      [{ ...base, tags: { device: "\uD800" } }, /lone surrogate/],
      [{ ...base, tags: JSON.parse(`{"__proto__":"x"}`) }, /tag key "__proto__"/],
      [{ ...base, fields: JSON.parse(`{"__proto__":1}`) }, /field key "__proto__"/],
      [{ ...base, timestampMs: 1.5 }, /timestamp 1.5/],
      [{ ...base, timestampMs: Number.NaN }, /timestamp NaN/]
    ]
    for (const [point, pattern] of cases) {
      const problems = problemsOf(point)
      assert.isTrue(problems.some((p) => pattern.test(p)), `${JSON.stringify(problems)} should match ${pattern}`)
    }
  })

  it("line protocol - every problem of a point is reported, not just the first", () => {
    const problems = pointProblems({ measurement: "#m", tags: { a: "x\n" }, fields: { v: Number.NaN }, timestampMs: 0.5 })
    assert.strictEqual(problems.length, 4)
  })

  it("line protocol - any point gives exactly one line, or a refusal; never a line break", () => {
    fc.assert(
      fc.property(fc.oneof(arbitraryPoint, awkwardPoint), (point) => {
        const result = toLineProtocol(point)
        if (Result.isSuccess(result)) assert.notMatch(result.success, /[\n\r]/)
      }),
      { numRuns: 2_000 }
    )
  })

  it("line protocol - an accepted point reads back exactly: same measurement, tags, fields, no extras", () => {
    let accepted = 0
    fc.assert(
      fc.property(fc.oneof(arbitraryPoint, awkwardPoint), (point) => {
        const result = toLineProtocol(point)
        if (Result.isFailure(result)) return
        accepted++
        assert.deepStrictEqual(parseLine(result.success), {
          measurement: point.measurement,
          tags: { ...point.tags },
          // -0 is written as 0 (String(-0)); the sign of zero is the one thing not kept.
          fields: Object.fromEntries(Object.entries(point.fields).map(([k, v]) => [k, v === 0 ? 0 : v])),
          timestamp: String(point.timestampMs)
        })
      }),
      { numRuns: 2_000 }
    )
    // The generator must exercise the accepting side too, or the property says nothing.
    assert.isAbove(accepted, 500)
  })

  it("line protocol - an accepted point is exactly the line the client library's Point writes", () => {
    let accepted = 0
    const ms = { convertTime: (value: string | number | Date | undefined) => value === undefined ? undefined : String(value) }
    fc.assert(
      fc.property(fc.oneof(arbitraryPoint, awkwardPoint, widePoint), (point) => {
        const result = toLineProtocol(point)
        if (Result.isFailure(result)) return
        accepted++
        const p = new Point(point.measurement)
        for (const key in point.tags) p.tag(key, point.tags[key]!)
        for (const key in point.fields) p.floatField(key, point.fields[key]!)
        p.timestamp(point.timestampMs)
        assert.strictEqual(result.success, p.toLineProtocol(ms))
      }),
      { numRuns: 3_000 }
    )
    assert.isAbove(accepted, 500)
  })

  it("line protocol - a name is refused the same way the second time (the clean-name cache keeps only clean names)", () => {
    const bad: SinkPoint = { ...base, tags: { device: "a\\" } }
    assert.deepStrictEqual(problemsOf(bad), problemsOf(bad))
    assert.strictEqual(lineOf(base), lineOf(base))
  })

  it("line protocol - only the documented hazards cause a refusal", () => {
    fc.assert(
      fc.property(fc.oneof(arbitraryPoint, awkwardPoint), (point) => {
        const result = toLineProtocol(point)
        if (Result.isSuccess(result)) return
        const names = [point.measurement, ...Object.keys(point.tags), ...Object.values(point.tags), ...Object.keys(point.fields)]
        const hazard = names.some((s) => s === "" || /[\n\r\t\\]|\p{Cs}/u.test(s)) ||
          point.measurement.startsWith("#") ||
          Object.keys(point.fields).length === 0 ||
          Object.values(point.fields).some((v) => !Number.isFinite(v)) ||
          !Number.isSafeInteger(point.timestampMs)
        assert.isTrue(hazard, `refused without a hazard: ${JSON.stringify(point)}: ${result.failure.join("; ")}`)
      }),
      { numRuns: 2_000 }
    )
  })
})
