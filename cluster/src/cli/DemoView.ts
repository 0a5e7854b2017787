/**
 * The demo's live view: every few seconds, what the node has done and what the database
 * holds, plus the latest closed window per device — read back from the database, so what
 * you see is what was stored.
 */
import { Console, Effect, Schedule } from "effect"
import type { RunningNode } from "../node/Node.js"

interface Sample {
  readonly metric: Record<string, string>
  readonly value: [number, string]
}

export const query = (dbUrl: string, promql: string) =>
  Effect.tryPromise(async () => {
    const response = await fetch(`${dbUrl}/api/v1/query?query=${encodeURIComponent(promql)}`)
    const body = await response.json() as { data?: { result?: ReadonlyArray<Sample> } }
    return body.data?.result ?? []
  }).pipe(Effect.orElseSucceed((): ReadonlyArray<Sample> => []))

const pad = (text: string, width: number) => text.length >= width ? text : text + " ".repeat(width - text.length)

export const watchDemo = (node: RunningNode, dbUrl: string, windows: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const t = node.partitions.reduce(
      (a, p) => ({ received: a.received + p.received, rejected: a.rejected + p.rejected, windows: a.windows + p.windowsEmitted }),
      { received: 0, rejected: 0, windows: 0 }
    )
    const published = node.sensors.reduce((a, s) => a + s.published, 0)
    const rawStored = yield* query(dbUrl, "sum(count_over_time(reading_temperature[1d]))")
    const windowsStored = yield* query(dbUrl, "sum(count_over_time(window_count[1d]))")
    const latest = yield* query(dbUrl, `last_over_time(window_mean{window="${windows[0]}"}[5m])`)
    const count = (samples: ReadonlyArray<Sample>) => samples[0]?.value[1] ?? "0"
    const lines = [
      `[${new Date().toISOString().slice(11, 19)}] sensors published ${published}, node received ${t.received} (rejected ${t.rejected}), ` +
      `windows closed ${t.windows}; in the database: ${count(rawStored)} raw readings, ${count(windowsStored)} window results`
    ]
    const rows = [...latest].sort((a, b) => `${a.metric["device"]}${a.metric["metric"]}`.localeCompare(`${b.metric["device"]}${b.metric["metric"]}`))
    for (const row of rows) {
      lines.push(`    ${pad(row.metric["device"] ?? "?", 14)} ${pad(row.metric["metric"] ?? "?", 12)} ${windows[0]} mean ${Number(row.value[1]).toFixed(2)}`)
    }
    yield* Console.log(lines.join("\n"))
  }).pipe(Effect.repeat(Schedule.spaced("5 seconds")), Effect.asVoid)

/** What one run of the demo stored, read back from the database. */
export interface DemoStored {
  /** Raw readings with an event time since the run started. */
  readonly readings: number
  /** Window results of windows that were open when the run started or began after it. */
  readonly windows: number
}

/**
 * Counts what this run stored. The demo's database outlives a run (`--dir` is kept), so the
 * counts are bounded by time: readings by their event time, window results by their start,
 * which for a run's first window of each size lies up to one window before the run began.
 */
export const storedSince = Effect.fn("DemoView.storedSince")(function*(
  dbUrl: string,
  sinceMs: number,
  windows: ReadonlyArray<{ readonly name: string; readonly size: number }>
) {
  const now = Date.now()
  const lookback = (fromMs: number) => `${Math.max(1, now - fromMs)}ms`
  const count = (samples: ReadonlyArray<Sample>) => Number(samples[0]?.value[1] ?? "0")
  const readings = count(yield* query(dbUrl, `sum(count_over_time(reading_temperature[${lookback(sinceMs)}]))`))
  let results = 0
  for (const w of windows) {
    const firstStart = Math.floor(sinceMs / w.size) * w.size
    results += count(yield* query(dbUrl, `sum(count_over_time(window_count{window="${w.name}"}[${lookback(firstStart)}]))`))
  }
  return { readings, windows: results } satisfies DemoStored
})
