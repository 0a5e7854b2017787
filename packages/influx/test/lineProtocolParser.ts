/**
 * An independent reader of InfluxDB line protocol, written from the spec
 * (https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/), so the
 * property tests can check what the client library's `Point` produced without trusting it:
 *
 *   measurement[,tag=value...] field=value[,field=value...] timestamp
 *
 * Measurements escape `,` and space; tag keys, tag values and field keys escape `,`, `=`
 * and space. A backslash before any other character is a literal backslash. Field values
 * here are floats only (all the sinks write).
 */
export interface ParsedLine {
  readonly measurement: string
  readonly tags: Record<string, string>
  readonly fields: Record<string, number>
  readonly timestamp: string
}

export class LineParseError extends Error {}

export const parseLine = (line: string): ParsedLine => {
  let i = 0
  // Read until an unescaped character in `stops`, unescaping `escapable`.
  const token = (stops: string, escapable: string): string => {
    let out = ""
    while (i < line.length) {
      const c = line[i]!
      if (c === "\\" && i + 1 < line.length && escapable.includes(line[i + 1]!)) {
        out += line[i + 1]
        i += 2
        continue
      }
      if (stops.includes(c)) break
      out += c
      i++
    }
    return out
  }
  const expect = (c: string) => {
    if (line[i] !== c) throw new LineParseError(`expected ${JSON.stringify(c)} at ${i} in ${JSON.stringify(line)}`)
    i++
  }

  if (line.includes("\n")) throw new LineParseError("line break inside a line")
  const measurement = token(", ", ", ")
  const tags: Record<string, string> = {}
  while (line[i] === ",") {
    i++
    const key = token("=", ",= ")
    expect("=")
    const value = token(", ", ",= ")
    if (Object.hasOwn(tags, key)) throw new LineParseError(`duplicate tag ${key}`)
    tags[key] = value
  }
  expect(" ")
  const fields: Record<string, number> = {}
  for (;;) {
    const key = token("=", ",= ")
    expect("=")
    const raw = token(", ", "")
    const value = Number(raw)
    if (raw === "" || !Number.isFinite(value)) throw new LineParseError(`field ${key} value ${raw} is not a float`)
    if (Object.hasOwn(fields, key)) throw new LineParseError(`duplicate field ${key}`)
    fields[key] = value
    if (line[i] !== ",") break
    i++
  }
  expect(" ")
  const timestamp = line.slice(i)
  if (!/^-?\d+$/.test(timestamp)) throw new LineParseError(`timestamp ${JSON.stringify(timestamp)}`)
  return { measurement, tags, fields, timestamp }
}
