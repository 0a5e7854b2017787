/**
 * One data point as the storage actor builds it, independent of the wire, and its one way
 * onto the wire: a line of InfluxDB line protocol, escaped by the client library and in exactly
 * the form its `Point` writes (a test holds the two equal).
 *
 * The library escapes; we never put a name on the wire that it has not escaped. But its escaping is not total, and what it
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
 * - `Point` (and plain objects, which a point's records are) lose a key `__proto__`.
 */
import { escape } from "@influxdata/influxdb-client"
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
// clean, with their escaped form (bounded, so hostile input cannot grow it), instead of running
// the checks and the escaper again. Measurements escape differently (no `=`), so apart.
const CLEAN_NAMES_LIMIT = 100_000
const cleanTagForms = new Map<string, string>()
const cleanMeasurementForms = new Map<string, string>()

/** `value`'s escaped form when it is a clean name, else undefined with its problem added. */
const nameForm = (
  forms: Map<string, string>,
  escapeName: (value: string) => string,
  what: string,
  value: string,
  add: (problem: string) => void
): string | undefined => {
  const known = forms.get(value)
  if (known !== undefined) return known
  const problem = findNameProblem(what, value)
  if (problem !== undefined) {
    add(problem)
    return undefined
  }
  const form = escapeName(value)
  if (value !== "__proto__") {
    if (forms.size >= CLEAN_NAMES_LIMIT) forms.clear()
    forms.set(value, form)
  }
  return form
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

/**
 * Keys in the order `Point` writes them (JavaScript's default sort: by UTF-16 code units, as
 * `<` compares strings). A point has a handful of keys, and `Array.prototype.sort` allocates
 * a work copy on every call — a fifth of all the bytes a node allocated per reading — so
 * short lists are sorted in place.
 */
const sortedKeys = (record: object): Array<string> => {
  const keys = Object.keys(record)
  if (keys.length > 8) return keys.sort()
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!
    let j = i - 1
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!
      j--
    }
    keys[j + 1] = key
  }
  return keys
}

/**
 * The line-protocol line for `point` (millisecond timestamp), or every reason it cannot be
 * written exactly. The names are escaped by `@influxdata/influxdb-client`'s `escape` and the
 * line has exactly the form its `Point.toLineProtocol` gives (sorted tags, sorted float
 * fields as `String(value)`, the timestamp as given): building a `Point` per reading cost a
 * tenth of a node's CPU, so this skips the object and caches the escaped names. A property
 * test (test/SinkPoint.test.ts) checks every accepted point against `Point` itself.
 * Runs for every point written, so it checks and encodes in one pass over the records.
 */
export const toLineProtocol = (point: SinkPoint): Result.Result<string, ReadonlyArray<string>> => {
  let problems: Array<string> | undefined
  const add = (problem: string) => {
    ;(problems ??= []).push(problem)
  }
  let line = nameForm(cleanMeasurementForms, escape.measurement, "measurement", point.measurement, add) ?? ""
  if (point.measurement.startsWith("#")) {
    add(`measurement ${JSON.stringify(point.measurement)} starts with #, which makes the line a comment`)
  }
  for (const key of sortedKeys(point.tags)) {
    const keyForm = nameForm(cleanTagForms, escape.tag, "tag key", key, add)
    const valueForm = nameForm(cleanTagForms, escape.tag, `tag ${JSON.stringify(key)} value`, point.tags[key]!, add)
    if (problems === undefined) line += `,${keyForm}=${valueForm}`
  }
  const fieldKeys = sortedKeys(point.fields)
  if (fieldKeys.length === 0) add("point has no fields")
  let separator = " "
  for (const key of fieldKeys) {
    const keyForm = nameForm(cleanTagForms, escape.tag, "field key", key, add)
    const value = point.fields[key]
    if (typeof value !== "number" || !Number.isFinite(value)) {
      add(`field ${JSON.stringify(key)} is ${String(value)}, which line protocol cannot express`)
    }
    if (problems === undefined) line += `${separator}${keyForm}=${String(value)}`
    separator = ","
  }
  if (!Number.isSafeInteger(point.timestampMs)) {
    add(`timestamp ${String(point.timestampMs)} is not a whole number of milliseconds`)
  }
  return problems === undefined ? Result.succeed(`${line} ${String(point.timestampMs)}`) : Result.fail(problems)
}

/** Every reason `point` cannot be written exactly; empty when it can. */
export const pointProblems = (point: SinkPoint): ReadonlyArray<string> => {
  const result = toLineProtocol(point)
  return Result.isFailure(result) ? result.failure : NO_PROBLEMS
}

