/**
 * Reading InfluxDB line protocol (`measurement,tag=v field=1.5,n=3i 1700000000000000000`),
 * as Telegraf's MQTT output and many gateways send it: one point per line, several lines
 * per message, `#` comments and blank lines skipped.
 *
 * Hand-rolled, on purpose: the InfluxDB client libraries for Node only write line protocol,
 * and the npm parsers found (none maintained since 2020) do not implement the escaping rules
 * (`\,` `\ ` `\=` in names, `\"` `\\` in strings). This follows the reference
 * (docs.influxdata.com, "Line protocol" for 1.x/2.x) and is property-tested against
 * `@influxdata/influxdb-client`'s own serializer (cluster/test/LineProtocol.test.ts).
 */

export type FieldValue = number | boolean | string

export interface LinePoint {
  readonly measurement: string
  readonly tags: Readonly<Record<string, string>>
  readonly fields: Readonly<Record<string, FieldValue>>
  /** The line's timestamp as written (an integer in the batch's precision), if any. */
  readonly timestamp: bigint | undefined
}

/** One line that could not be read, with InfluxDB-like wording. */
export interface LineError {
  readonly line: number
  readonly message: string
}

// What a backslash escapes in names (InfluxDB's parser, and its client, leave `\\` as is):
// comma and space in a measurement; comma, equals sign and space in tag keys, tag values
// and field keys.
const NAME_ESCAPES = ",= "
const MEASUREMENT_ESCAPES = ", "
const INTEGER = /^-?\d+$/
const FLOAT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/

class Cursor {
  i = 0
  constructor(readonly text: string) {}
  get done() {
    return this.i >= this.text.length
  }
  /** A method, not a getter: TypeScript would narrow a getter's value across calls. */
  char(): string | undefined {
    return this.text[this.i]
  }
  /** Text up to an unescaped character of `stops`; a backslash before one of `escapes` is dropped. */
  until(stops: string, escapes: string = NAME_ESCAPES): string {
    let out = ""
    while (this.i < this.text.length) {
      const c = this.text[this.i]!
      if (c === "\\" && this.i + 1 < this.text.length && escapes.includes(this.text[this.i + 1]!)) {
        out += this.text[this.i + 1]
        this.i += 2
        continue
      }
      if (stops.includes(c)) break
      out += c
      this.i += 1
    }
    return out
  }
}

const fieldValue = (raw: string): FieldValue | string => {
  if (raw.length === 0) return "a field has no value"
  const last = raw[raw.length - 1]
  if ((last === "i" || last === "u") && INTEGER.test(raw.slice(0, -1))) {
    const n = Number(raw.slice(0, -1))
    return Number.isSafeInteger(n) ? n : `integer ${raw} is out of range`
  }
  if (FLOAT.test(raw)) {
    const n = Number(raw)
    return Number.isFinite(n) ? n : `number ${raw} is out of range`
  }
  switch (raw) {
    case "t": case "T": case "true": case "True": case "TRUE":
      return true
    case "f": case "F": case "false": case "False": case "FALSE":
      return false
  }
  return `invalid field value ${JSON.stringify(raw.slice(0, 40))} (a number, 12i, true/false or a "string")`
}

/** Parse one non-blank, non-comment line; a string is the reason it is not a point. */
export const parseLine = (line: string): LinePoint | { readonly error: string } => {
  const c = new Cursor(line)
  const measurement = c.until(", ", MEASUREMENT_ESCAPES)
  if (measurement.length === 0) return { error: "missing measurement" }
  const tags: Record<string, string> = {}
  while (c.char() === ",") {
    c.i += 1
    const key = c.until("=, ")
    if (c.char() !== "=" || key.length === 0) return { error: `invalid tag ${JSON.stringify(key)}: expected key=value` }
    c.i += 1
    const value = c.until(", ")
    if (value.length === 0) return { error: `tag ${key} has no value` }
    tags[key] = value
  }
  if (c.char() !== " ") return { error: "missing fields" }
  while (c.char() === " ") c.i += 1
  const fields: Record<string, FieldValue> = {}
  while (true) {
    const key = c.until("=, ")
    if (c.char() !== "=" || key.length === 0) return { error: key.length === 0 ? "missing fields" : `invalid field ${JSON.stringify(key)}: expected key=value` }
    c.i += 1
    if (c.char() === "\"") {
      c.i += 1
      let text = ""
      while (!c.done && c.char() !== "\"") {
        if (c.char() === "\\" && (c.text[c.i + 1] === "\"" || c.text[c.i + 1] === "\\")) c.i += 1
        text += c.char()
        c.i += 1
      }
      if (c.done) return { error: `unbalanced quotes in field ${key}` }
      c.i += 1
      fields[key] = text
    } else {
      const raw = c.until(", ")
      const value = fieldValue(raw)
      if (typeof value === "string") return { error: `field ${key}: ${value}` }
      fields[key] = value
    }
    if (c.char() !== ",") break
    c.i += 1
  }
  while (c.char() === " ") c.i += 1
  const rest = line.slice(c.i).trimEnd()
  if (rest.length === 0) return { measurement, tags, fields, timestamp: undefined }
  if (!INTEGER.test(rest)) return { error: `invalid timestamp ${JSON.stringify(rest.slice(0, 40))}: expected an integer` }
  return { measurement, tags, fields, timestamp: BigInt(rest) }
}

/** Every point of a message, and the lines (1-based) that are not points. */
export const parseLines = (text: string): { readonly points: Array<LinePoint>; readonly errors: Array<LineError> } => {
  const points: Array<LinePoint> = []
  const errors: Array<LineError> = []
  text.split("\n").forEach((raw, index) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw
    if (line.trim().length === 0 || line.trimStart().startsWith("#")) return
    const parsed = parseLine(line.trimStart())
    if ("error" in parsed) errors.push({ line: index + 1, message: parsed.error })
    else points.push(parsed)
  })
  return { points, errors }
}

/** Nanoseconds per unit of a line-protocol precision. */
export const PRECISION_NS = { ns: 1n, us: 1_000n, µs: 1_000n, ms: 1_000_000n, s: 1_000_000_000n } as const
export type Precision = keyof typeof PRECISION_NS

/** A timestamp in `precision` as whole milliseconds (sub-millisecond digits dropped). */
export const timestampMs = (timestamp: bigint, precision: Precision): number => {
  const ns = timestamp * PRECISION_NS[precision]
  // Floor division for negative times too (BigInt division truncates toward zero).
  const ms = ns / 1_000_000n - (ns < 0n && ns % 1_000_000n !== 0n ? 1n : 0n)
  return Number(ms)
}
