/**
 * What `bramble export` writes: one row per value, in long format, which is what pandas,
 * R and spreadsheets group and pivot easily. The columns (docs/export.md):
 *
 *   raw      time,device,sensor,metric,value                      one row per metric of a reading
 *   windows  start,end,device,sensor,metric,window,count,mean,min,max,first,last,stddev
 *   alarms   at,device,rule,state,value,message
 *
 * CSV is RFC 4180 (a header line, fields quoted only when they need it, `\n` line ends);
 * NDJSON is one JSON object per line with the same names. Times are ISO-8601 in UTC with
 * milliseconds (`2026-11-20T10:00:00.000Z`); an alarm without a value has an empty field
 * (CSV) or null (NDJSON).
 */
import type { Alarm, Reading, WindowResult } from "@bramble/protocol"

export const EXPORT_KINDS = ["raw", "windows", "alarms"] as const
export type ExportKind = (typeof EXPORT_KINDS)[number]

export const EXPORT_FORMATS = ["csv", "ndjson"] as const
export type ExportFormat = (typeof EXPORT_FORMATS)[number]

/** The columns of each kind, in order. */
export const COLUMNS: Record<ExportKind, ReadonlyArray<string>> = {
  raw: ["time", "device", "sensor", "metric", "value"],
  windows: ["start", "end", "device", "sensor", "metric", "window", "count", "mean", "min", "max", "first", "last", "stddev"],
  alarms: ["at", "device", "rule", "state", "value", "message"]
}

/** One row, in the order of its kind's columns. */
export type Row = ReadonlyArray<string | number | null>

/** An ISO-8601 UTC time with milliseconds. */
export const isoTime = (ms: number): string => new Date(ms).toISOString()

/** A reading's rows: one per metric, metrics in name order. */
export const readingRows = (reading: Reading): Array<Row> =>
  Object.keys(reading.values).sort().map((metric) => [isoTime(reading.ts), reading.device, reading.sensor, metric, reading.values[metric]!])

export const windowRow = (r: WindowResult): Row => [
  isoTime(r.start),
  isoTime(r.end),
  r.device,
  r.sensor,
  r.metric,
  r.window,
  r.count,
  r.mean,
  r.min,
  r.max,
  r.first,
  r.last,
  r.stddev
]

export const alarmRow = (a: Alarm): Row => [isoTime(a.at), a.device, a.rule, a.state, a.value ?? null, a.message]

/** One CSV field: quoted (quotes doubled) only when it holds a comma, a quote or a line break. */
export const csvField = (value: string | number | null): string => {
  if (value === null) return ""
  const text = String(value)
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, "\"\"")}"` : text
}

/** How rows of one kind become text in one format. */
export interface RowEncoder {
  /** What comes before the first row ("" for NDJSON). */
  readonly header: string
  /** One row, with its line end. */
  readonly line: (row: Row) => string
}

export const rowEncoder = (kind: ExportKind, format: ExportFormat): RowEncoder => {
  const columns = COLUMNS[kind]
  if (format === "csv") {
    return { header: `${columns.join(",")}\n`, line: (row) => `${row.map(csvField).join(",")}\n` }
  }
  return {
    header: "",
    line: (row) => {
      const object: Record<string, string | number | null> = {}
      columns.forEach((column, i) => {
        object[column] = row[i] ?? null
      })
      return `${JSON.stringify(object)}\n`
    }
  }
}

/** Window results ordered as the export writes them: by start, then device, sensor, metric, window. */
export const byStart = (a: WindowResult, b: WindowResult): number =>
  a.start - b.start || order(a.device, b.device) || order(a.sensor, b.sensor) || order(a.metric, b.metric) || order(a.window, b.window)

/** Code-unit order: the same on every machine, whatever its locale. */
const order = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0
