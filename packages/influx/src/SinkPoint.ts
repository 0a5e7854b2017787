/**
 * One data point as the storage actor builds it, independent of the wire, and its one way
 * onto the wire: a line of InfluxDB line protocol made by the client library's `Point`.
 *
 * The library escapes, we never concatenate. But its escaping is not total, and what it
 * cannot express it rewrites or drops without a word, so every point is checked before it
 * is encoded; a point that would not come back from the database exactly as it was sent is
 * refused with a reason instead. Checked against influxd 1.6.7 and victoria-metrics 1.79
 * (see the README for the table):
 *
 * - `\n`, `\r` and `\t` in a name or tag value are written as the two characters `\n`,
 *   which the server stores literally: the value would silently change.
 * - A backslash at the end of a name or tag value, or followed by `\`, `,`, `=` or a space,
 *   is ambiguous: influxd keeps `\\` as two characters where victoria-metrics (and
 *   InfluxDB 2.x) read it as an escaped one, and `a\` before a separator makes the server
 *   split the line elsewhere (victoria-metrics then drops the line with a 204).
 * - A measurement starting with `#` makes the line a comment: both servers ignore it.
 * - An empty tag value or key is dropped by `Point`, changing the series; an empty field
 *   key is dropped, and a point without fields is no line at all.
 * - NaN and ±Infinity have no line-protocol form; lone UTF-16 surrogates have no UTF-8 one.
 * - `Point` keeps tags and fields in plain objects, where a key `__proto__` vanishes.
 */
import { Point } from "@influxdata/influxdb-client"
import { Result } from "effect"

/**
 * One data point. `fields` are floats; `timestampMs` is milliseconds since the epoch (the
 * sinks write with `precision=ms`). Writing the same measurement, tag set and timestamp
 * again overwrites the point, which is what makes replays idempotent.
 */
export interface SinkPoint {
  readonly measurement: string
  readonly tags: Readonly<Record<string, string>>
  readonly fields: Readonly<Record<string, number>>
  readonly timestampMs: number
}

// A backslash the server could read as an escape once the library has escaped the rest.
const ambiguousBackslash = /\\(?:$|[\\, =])/
const lineBreakOrTab = /[\n\r\t]/
const loneSurrogate = /\p{Cs}/u

// Device ids, sensor and metric names repeat on every point: remember the ones already found
// clean (bounded, so hostile input cannot grow it) instead of running the regexes again.
const cleanNames = new Set<string>()
const CLEAN_NAMES_LIMIT = 100_000

const nameProblem = (what: string, value: string): string | undefined => {
  if (cleanNames.has(value)) return undefined
  const problem = findNameProblem(what, value)
  if (problem === undefined && value !== "__proto__") {
    if (cleanNames.size >= CLEAN_NAMES_LIMIT) cleanNames.clear()
    cleanNames.add(value)
  }
  return problem
}

const findNameProblem = (what: string, value: string): string | undefined => {
  if (value.length === 0) return `${what} is empty`
  if (lineBreakOrTab.test(value)) {
    return `${what} ${JSON.stringify(value)} contains a line break or tab, which line protocol cannot carry`
  }
  if (ambiguousBackslash.test(value)) {
    return `${what} ${JSON.stringify(value)} has a backslash at its end or before \\ , = or a space, which servers read differently`
  }
  if (loneSurrogate.test(value)) return `${what} ${JSON.stringify(value)} is not valid Unicode (lone surrogate)`
  if (value === "__proto__" && what.endsWith("key")) return `${what} "__proto__" would be lost by the client library`
  return undefined
}

const NO_PROBLEMS: ReadonlyArray<string> = []

/** Every reason `point` cannot be written exactly; empty when it can. Runs for every point
 * written, so it walks the records in place instead of allocating entry arrays. */
export const pointProblems = (point: SinkPoint): ReadonlyArray<string> => {
  let problems: Array<string> | undefined
  const add = (problem: string | undefined) => {
    if (problem !== undefined) (problems ??= []).push(problem)
  }
  add(nameProblem("measurement", point.measurement))
  if (point.measurement.startsWith("#")) {
    add(`measurement ${JSON.stringify(point.measurement)} starts with #, which makes the line a comment`)
  }
  for (const key in point.tags) {
    add(nameProblem("tag key", key))
    add(nameProblem(`tag ${JSON.stringify(key)} value`, point.tags[key]!))
  }
  let fields = 0
  for (const key in point.fields) {
    fields += 1
    add(nameProblem("field key", key))
    const value = point.fields[key]
    if (typeof value !== "number" || !Number.isFinite(value)) {
      add(`field ${JSON.stringify(key)} is ${String(value)}, which line protocol cannot express`)
    }
  }
  if (fields === 0) add("point has no fields")
  if (!Number.isSafeInteger(point.timestampMs)) {
    add(`timestamp ${String(point.timestampMs)} is not a whole number of milliseconds`)
  }
  return problems ?? NO_PROBLEMS
}

const millisecondPrecision = {
  convertTime: (value: string | number | Date | undefined): string | undefined =>
    value === undefined ? undefined : String(value)
}

/**
 * The line-protocol line for `point` (millisecond timestamp), escaped by
 * `@influxdata/influxdb-client`'s `Point`, or every reason it cannot be written exactly.
 */
export const toLineProtocol = (point: SinkPoint): Result.Result<string, ReadonlyArray<string>> => {
  const problems = pointProblems(point)
  if (problems.length > 0) return Result.fail(problems)
  const p = new Point(point.measurement)
  for (const key in point.tags) p.tag(key, point.tags[key]!)
  for (const key in point.fields) p.floatField(key, point.fields[key]!)
  p.timestamp(point.timestampMs)
  const line = p.toLineProtocol(millisecondPrecision)
  // The checks above should make both impossible; if the library changes, refuse rather
  // than send a line that splits or vanishes.
  if (line === undefined) return Result.fail(["the client library produced no line for this point"])
  if (/[\n\r]/.test(line)) {
    return Result.fail(["the client library produced a line break inside the line"])
  }
  return Result.succeed(line)
}
