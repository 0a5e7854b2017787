/**
 * Reading everything back from the databases, to compare with what was written: the
 * tests trust the server's own query API, not the sink.
 *
 * - victoria-metrics: `/api/v1/export` after `/internal/force_flush`; a line-protocol
 *   field becomes the metric `<measurement>_<field>`, so callers name the measurements.
 * - influxd 1.x: `/query` selecting every measurement (a regex) `GROUP BY *`, epoch in ms.
 */
import { Effect } from "effect"
import type { SinkPoint } from "@bramble/influx"

export class ReadBackError extends Error {}

const getJson = (url: string, init?: RequestInit) =>
  Effect.tryPromise({
    try: async () => {
      const response = await fetch(url, init)
      const text = await response.text()
      if (!response.ok) throw new ReadBackError(`${url}: ${response.status} ${text}`)
      return text
    },
    catch: (error) => error instanceof ReadBackError ? error : new ReadBackError(String(error))
  })

/** Merge per-field rows into points keyed by measurement, tags and time. */
const mergeFields = (
  rows: ReadonlyArray<{ measurement: string; tags: Record<string, string>; field: string; value: number; ts: number }>
): Array<SinkPoint> => {
  const points = new Map<string, { measurement: string; tags: Record<string, string>; fields: Record<string, number>; timestampMs: number }>()
  for (const row of rows) {
    const key = JSON.stringify([row.measurement, Object.entries(row.tags).sort(), row.ts])
    let point = points.get(key)
    if (point === undefined) {
      point = { measurement: row.measurement, tags: row.tags, fields: {}, timestampMs: row.ts }
      points.set(key, point)
    }
    point.fields[row.field] = row.value
  }
  return [...points.values()]
}

/**
 * Every point of `measurements` stored in victoria-metrics (the `db` label that `/write`
 * adds is dropped). `basicAuth` is `user:password` for a server started with `-httpAuth.*`.
 */
export const readVictoriaMetrics = (url: string, measurements: ReadonlyArray<string>, basicAuth?: string) =>
  Effect.gen(function*() {
    const headers: Record<string, string> = basicAuth === undefined
      ? {}
      : { authorization: `Basic ${Buffer.from(basicAuth).toString("base64")}` }
    yield* getJson(`${url}/internal/force_flush`, { headers })
    const text = yield* getJson(`${url}/api/v1/export`, {
      method: "POST",
      headers,
      body: new URLSearchParams({ "match[]": `{__name__=~".+"}` })
    })
    const byLength = [...measurements].sort((a, b) => b.length - a.length)
    const rows: Array<{ measurement: string; tags: Record<string, string>; field: string; value: number; ts: number }> = []
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue
      const series = JSON.parse(line) as {
        metric: Record<string, string>
        values: Array<number>
        timestamps: Array<number>
      }
      const { __name__: name = "", db: _db, ...tags } = series.metric
      const measurement = byLength.find((m) => name.startsWith(`${m}_`))
      if (measurement === undefined) continue
      const field = name.slice(measurement.length + 1)
      series.values.forEach((value, i) => rows.push({ measurement, tags, field, value, ts: series.timestamps[i]! }))
    }
    return mergeFields(rows)
  })

/** Every point in `database` of influxd 1.x. */
export const readInfluxDb1 = (url: string, database: string) =>
  Effect.gen(function*() {
    const query = new URLSearchParams({ db: database, epoch: "ms", q: "SELECT * FROM /.*/ GROUP BY *" })
    const text = yield* getJson(`${url}/query?${query}`)
    const body = JSON.parse(text) as {
      results: Array<{
        error?: string
        series?: Array<{ name: string; tags?: Record<string, string>; columns: Array<string>; values: Array<Array<unknown>> }>
      }>
    }
    const result = body.results[0]
    if (result?.error !== undefined) return yield* Effect.fail(new ReadBackError(result.error))
    const points: Array<SinkPoint> = []
    for (const series of result?.series ?? []) {
      // GROUP BY * lists every tag key of the measurement; a point without one shows "".
      const tags = Object.fromEntries(Object.entries(series.tags ?? {}).filter(([, v]) => v !== ""))
      for (const row of series.values) {
        const fields: Record<string, number> = {}
        series.columns.forEach((column, i) => {
          if (i > 0 && row[i] !== null && row[i] !== undefined) fields[column] = row[i] as number
        })
        points.push({ measurement: series.name, tags, fields, timestampMs: row[0] as number })
      }
    }
    return points
  })

/** A canonical, sorted form of points, for deep equality regardless of order. */
export const canonical = (points: ReadonlyArray<SinkPoint>): Array<string> =>
  points
    .map((p) =>
      JSON.stringify([
        p.measurement,
        Object.entries(p.tags).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
        Object.entries(p.fields).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
        p.timestampMs
      ])
    )
    .sort()
