/**
 * Reading back what the storage actor wrote, through each database's own query API (never
 * through Bramble's code), normalized to the shapes the oracle produces, and `waitFor`, the
 * polling helper system tests wait on instead of sleeping.
 *
 * - victoria-metrics (1.79): `/internal/force_flush`, then `/api/v1/export`. A line-protocol
 *   field becomes the series `<measurement>_<field>` with the tags as labels (the `/write`
 *   path adds a `db` label, ignored here), values keep 12 significant decimal digits, and
 *   points more than 2 days in the future are refused at ingestion.
 * - InfluxDB 1.x (1.6.7): `/query` with `SELECT * … GROUP BY *`, `epoch=ms`, chunked so a
 *   benchmark's million points do not come back as one giant JSON document.
 */
import { compareRaw, compareWindowRows, type RawPoint, WINDOW_FIELDS, type WindowRow } from "./Points.js"

/** A database Bramble's storage actor writes to. */
export type Db =
  | { readonly kind: "victoria-metrics"; readonly url: string }
  | { readonly kind: "influx-v1"; readonly url: string; readonly database: string }

/** A read-back request failed; the message names the URL and the server's answer. */
export class DbReadError extends Error {
  override readonly name = "DbReadError"
}

const MEASUREMENT_RAW = "reading"
const MEASUREMENT_WINDOW = "window"

const fetchText = async (url: string, init?: RequestInit): Promise<string> => {
  let response: Response
  try {
    response = await fetch(url, init)
  } catch (error) {
    throw new DbReadError(`${url}: ${error instanceof Error ? error.message : String(error)}`)
  }
  const text = await response.text()
  if (!response.ok) throw new DbReadError(`${url}: HTTP ${response.status} ${text.slice(0, 500)}`)
  return text
}

// ---------------------------------------------------------------------------------------
// Both databases, reduced to rows of (measurement, tags, time, field, value)

interface FieldPoint {
  readonly tags: Readonly<Record<string, string>>
  readonly ts: number
  readonly fields: Record<string, number>
}

/** Merges per-field samples into points keyed by tag set and time. */
class PointMerger {
  private readonly points = new Map<string, FieldPoint>()

  add(tags: Readonly<Record<string, string>>, ts: number, field: string, value: number): void {
    const key = `${JSON.stringify(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}@${ts}`
    let point = this.points.get(key)
    if (point === undefined) {
      point = { tags, ts, fields: {} }
      this.points.set(key, point)
    }
    point.fields[field] = value
  }

  values(): Iterable<FieldPoint> {
    return this.points.values()
  }
}

interface ExportedSeries {
  readonly metric: Record<string, string>
  readonly values: ReadonlyArray<number | string>
  readonly timestamps: ReadonlyArray<number>
}

// 2 days ahead is the latest time victoria-metrics accepts; ask a little beyond it, in seconds.
const exportEnd = () => String(Math.ceil((Date.now() + 3 * 24 * 3600_000) / 1000))

const readVictoriaMetrics = async (url: string, measurement: string): Promise<Array<FieldPoint>> => {
  await fetchText(`${url}/internal/force_flush`)
  const query = new URLSearchParams({ "match[]": `{__name__=~"${measurement}_.+"}`, start: "0", end: exportEnd() })
  const text = await fetchText(`${url}/api/v1/export?${query}`)
  const merger = new PointMerger()
  const prefix = `${measurement}_`
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue
    const series = JSON.parse(line) as ExportedSeries
    const { __name__: name = "", db: _db, ...tags } = series.metric
    if (!name.startsWith(prefix)) continue
    const field = name.slice(prefix.length)
    series.values.forEach((value, i) => merger.add(tags, series.timestamps[i]!, field, Number(value)))
  }
  return [...merger.values()]
}

interface InfluxChunk {
  readonly results?: ReadonlyArray<{
    readonly error?: string
    readonly series?: ReadonlyArray<{
      readonly name: string
      readonly tags?: Readonly<Record<string, string>>
      readonly columns: ReadonlyArray<string>
      readonly values: ReadonlyArray<ReadonlyArray<unknown>>
    }>
  }>
  readonly error?: string
}

const quoteIdentifier = (name: string): string => `"${name.replace(/\\/g, "\\\\").replace(/"/g, "\\\"")}"`

const readInfluxV1 = async (url: string, database: string, measurement: string): Promise<Array<FieldPoint>> => {
  const query = new URLSearchParams({
    db: database,
    epoch: "ms",
    chunked: "true",
    chunk_size: "10000",
    q: `SELECT * FROM ${quoteIdentifier(measurement)} GROUP BY *`
  })
  const text = await fetchText(`${url}/query?${query}`)
  const points: Array<FieldPoint> = []
  // Chunked answers are one JSON document per line; a series may continue in the next chunk.
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue
    const chunk = JSON.parse(line) as InfluxChunk
    if (chunk.error !== undefined) throw new DbReadError(`${url}/query: ${chunk.error}`)
    for (const result of chunk.results ?? []) {
      if (result.error !== undefined) throw new DbReadError(`${url}/query: ${result.error}`)
      for (const series of result.series ?? []) {
        // GROUP BY * lists every tag key of the measurement; a point without one shows "".
        const tags = Object.fromEntries(Object.entries(series.tags ?? {}).filter(([, value]) => value !== ""))
        const timeColumn = series.columns.indexOf("time")
        for (const row of series.values) {
          const fields: Record<string, number> = {}
          series.columns.forEach((column, i) => {
            const value = row[i]
            if (i !== timeColumn && value !== null && value !== undefined) fields[column] = Number(value)
          })
          points.push({ tags, ts: Number(row[timeColumn]), fields })
        }
      }
    }
  }
  return points
}

const readMeasurement = (db: Db, measurement: string): Promise<Array<FieldPoint>> =>
  db.kind === "victoria-metrics" ? readVictoriaMetrics(db.url, measurement) : readInfluxV1(db.url, db.database, measurement)

// ---------------------------------------------------------------------------------------

/**
 * Every raw point (measurement `reading`) stored in `db`, sorted by device, sensor, ts.
 * Tags other than device and sensor are ignored; a point missing one of them reads as "".
 */
export const readRawPoints = async (db: Db): Promise<Array<RawPoint>> =>
  (await readMeasurement(db, MEASUREMENT_RAW))
    .map((point) => ({
      device: point.tags["device"] ?? "",
      sensor: point.tags["sensor"] ?? "",
      ts: point.ts,
      values: point.fields
    }))
    .sort(compareRaw)

/** Every raw point's tags other than device and sensor (what an ingest route keeps), by
 * `device/sensor/ts`; a point without any is absent. */
export const readRawTags = async (db: Db): Promise<Map<string, Record<string, string>>> => {
  const out = new Map<string, Record<string, string>>()
  for (const point of await readMeasurement(db, MEASUREMENT_RAW)) {
    const { device = "", sensor = "", ...tags } = point.tags
    if (Object.keys(tags).length > 0) out.set(`${device}/${sensor}/${point.ts}`, tags)
  }
  return out
}

/**
 * Every window result (measurement `window`) stored in `db`, sorted by device, sensor,
 * metric, window, start. A statistic the database does not hold reads as NaN, so a partly
 * written result shows up as a mismatch in `compareWindows`.
 */
export const readWindowResults = async (db: Db): Promise<Array<WindowRow>> =>
  (await readMeasurement(db, MEASUREMENT_WINDOW))
    .map((point): WindowRow => {
      const stat = (field: (typeof WINDOW_FIELDS)[number]) => point.fields[field] ?? Number.NaN
      return {
        device: point.tags["device"] ?? "",
        sensor: point.tags["sensor"] ?? "",
        metric: point.tags["metric"] ?? "",
        window: point.tags["window"] ?? "",
        start: point.ts,
        count: stat("count"),
        mean: stat("mean"),
        min: stat("min"),
        max: stat("max"),
        first: stat("first"),
        last: stat("last"),
        stddev: stat("stddev")
      }
    })
    .sort(compareWindowRows)

// ---------------------------------------------------------------------------------------

export interface WaitForOptions<A> {
  /** When the observation is good enough. Default: the observation is truthy. */
  readonly until?: (seen: A) => boolean
  /** Default 30,000. */
  readonly timeoutMs?: number
  /** Default 250. */
  readonly intervalMs?: number
  /** What is being waited for, for the timeout message. */
  readonly label?: string
  /** How to print the last observation on timeout. Default: JSON, cut to 2,000 characters. */
  readonly show?: (seen: A) => string
}

/** `waitFor` gave up; the message says what it last saw (or the last error). */
export class WaitForTimeout extends Error {
  override readonly name = "WaitForTimeout"
}

const defaultShow = (seen: unknown): string => {
  let text: string
  try {
    text = JSON.stringify(seen) ?? String(seen)
  } catch {
    text = String(seen)
  }
  return text.length > 2000 ? `${text.slice(0, 2000)}… (${text.length} characters)` : text
}

/**
 * Polls `observe` every `intervalMs` until `until(observation)` holds, and resolves with that
 * observation. An observation that throws counts as not yet (the error is remembered).
 * On timeout rejects with a `WaitForTimeout` naming the label and the last observation.
 *
 * @example
 * const points = await waitFor(() => readRawPoints(db), {
 *   until: (points) => points.length >= 1000,
 *   show: (points) => `${points.length} points`,
 *   label: "1000 raw points in victoria-metrics"
 * })
 */
export const waitFor = async <A>(observe: () => A | Promise<A>, options: WaitForOptions<A> = {}): Promise<A> => {
  const until = options.until ?? ((seen: A) => Boolean(seen))
  const timeoutMs = options.timeoutMs ?? 30_000
  const intervalMs = options.intervalMs ?? 250
  const show = options.show ?? defaultShow
  const deadline = performance.now() + timeoutMs
  let last: { readonly kind: "none" } | { readonly kind: "value"; readonly value: A } | { readonly kind: "error"; readonly error: unknown } = {
    kind: "none"
  }
  let attempts = 0
  for (;;) {
    attempts++
    try {
      const value = await observe()
      if (until(value)) return value
      last = { kind: "value", value }
    } catch (error) {
      last = { kind: "error", error }
    }
    if (performance.now() >= deadline) break
    await new Promise<void>((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - performance.now()))))
  }
  const lastSeen = last.kind === "value"
    ? `last saw: ${show(last.value)}`
    : last.kind === "error"
    ? `last attempt failed: ${last.error instanceof Error ? last.error.message : String(last.error)}`
    : "nothing observed"
  throw new WaitForTimeout(`timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${options.label ?? "condition"}; ${lastSeen}`)
}
