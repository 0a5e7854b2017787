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

const query = (dbUrl: string, promql: string) =>
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
