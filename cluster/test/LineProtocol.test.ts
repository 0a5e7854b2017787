import { assert, describe, it } from "@effect/vitest"
import { Point } from "@influxdata/influxdb-client"
import fc from "fast-check"
import { parseLine, parseLines, timestampMs } from "../src/ingest/LineProtocol.js"

// Names as the InfluxDB client escapes them (commas, spaces, equals signs, backslashes),
// minus what line protocol cannot carry at all (line breaks) and a leading `#` (a comment).
const name = fc.string({ unit: fc.constantFrom("a", "b", "Z", "0", "_", "-", " ", ",", "=", "\\", "é", "\"", "."), minLength: 1, maxLength: 12 })
  .filter((s) => !s.startsWith("#") && !s.endsWith("\\"))
const tagValue = name
const fieldValue = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => ({ kind: "float" as const, v })),
  fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }).map((v) => ({ kind: "int" as const, v })),
  fc.boolean().map((v) => ({ kind: "bool" as const, v })),
  fc.string({ maxLength: 20 }).filter((s) => !s.includes("\n") && !s.endsWith("\\")).map((v) => ({ kind: "string" as const, v }))
)

describe("line protocol - reading what devices send", () => {
  it("property - reads back exactly what @influxdata/influxdb-client writes", () => {
    fc.assert(
      fc.property(
        name,
        fc.dictionary(name, tagValue, { maxKeys: 3 }),
        fc.dictionary(name, fieldValue, { minKeys: 1, maxKeys: 4 }),
        fc.option(fc.bigInt({ min: 0n, max: 2n ** 62n }), { nil: undefined }),
        (measurement, tags, fields, timestamp) => {
          const point = new Point(measurement)
          for (const [k, v] of Object.entries(tags)) point.tag(k, v)
          for (const [k, f] of Object.entries(fields)) {
            if (f.kind === "float") point.floatField(k, f.v)
            else if (f.kind === "int") point.intField(k, f.v)
            else if (f.kind === "bool") point.booleanField(k, f.v)
            else point.stringField(k, f.v)
          }
          if (timestamp !== undefined) point.timestamp(timestamp.toString())
          const line = point.toLineProtocol()!
          const parsed = parseLine(line)
          assert.notProperty(parsed, "error", line)
          const p = parsed as Exclude<typeof parsed, { error: string }>
          assert.strictEqual(p.measurement, measurement)
          // The client drops empty tag values; every other tag comes back as written.
          assert.deepStrictEqual(p.tags, Object.fromEntries(Object.entries(tags).filter(([, v]) => v !== "")))
          const expected = Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.v === 0 ? 0 : f.v]))
          assert.deepStrictEqual(Object.fromEntries(Object.entries(p.fields).map(([k, v]) => [k, v === 0 ? 0 : v])), expected)
          // Without a timestamp the client writes the current time.
          if (timestamp !== undefined) assert.strictEqual(p.timestamp, timestamp)
        }
      ),
      { numRuns: 500 }
    )
  })

  it("several lines per message; comments and blank lines skipped; bad lines reported by number", () => {
    const { points, errors } = parseLines("cpu,host=a usage=1.5 1000\n\n# note\r\nmem,host=a used=3i\nbad line\ncpu,host=b x=\"unterminated\n")
    assert.deepStrictEqual(points.map((p) => [p.measurement, p.tags["host"], p.fields]), [["cpu", "a", { usage: 1.5 }], ["mem", "a", { used: 3 }]])
    assert.deepStrictEqual(errors.map((e) => e.line), [5, 6])
    assert.include(errors[1]!.message, "unbalanced quotes")
  })

  it("refusals say what is wrong", () => {
    assert.deepStrictEqual(parseLine("cpu"), { error: "missing fields" })
    assert.deepStrictEqual(parseLine("cpu,host usage=1"), { error: "invalid tag \"host\": expected key=value" })
    assert.include((parseLine("cpu usage=abc") as { error: string }).error, "invalid field value")
    assert.include((parseLine("cpu usage=1 12:00") as { error: string }).error, "invalid timestamp")
  })

  it("timestamps in every precision become whole milliseconds", () => {
    assert.strictEqual(timestampMs(1700000000123456789n, "ns"), 1700000000123)
    assert.strictEqual(timestampMs(1700000000123456n, "us"), 1700000000123)
    assert.strictEqual(timestampMs(1700000000123n, "ms"), 1700000000123)
    assert.strictEqual(timestampMs(1700000000n, "s"), 1700000000000)
    assert.strictEqual(timestampMs(-1n, "ns"), -1)
  })
})
