/**
 * Stream semantics against a real node, nats-server and database: out-of-order readings,
 * a late reading inside the allowed lateness (corrected window, emitted again), a reading
 * later than that (dead-lettered TooLate, raw point still stored), windows of quiet devices
 * closing on their own, refuel alarm hysteresis and a stale-device alarm (ALARMS stream,
 * MQTT topic, database), forecasts, and a replay that reproduces the stored windows exactly.
 *
 * The live node writes to InfluxDB 1.x, which overwrites a point written again at the same
 * timestamp (what makes corrected windows idempotent). VictoriaMetrics does not: for
 * duplicate timestamps it keeps one of the samples (the biggest value on 1.79), so it is
 * only used here for the replay, which writes every window once.
 */
import { describe, expect, it } from "@effect/vitest"
import { scopedTempDir, startInfluxDb1, startVictoriaMetrics } from "@bramble/deploy"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import mqtt from "mqtt"
import { BRAMBLE_CLI, startBrambleNode } from "../support/BrambleNode.js"
import { readDeadLetters } from "../support/DeadLetters.js"
import {
  checkExactlyOnce,
  compareWindows,
  expectedWindows,
  publishNats,
  readRawPoints,
  readStreamAlarms,
  readWindowResults,
  type TestReading,
  waitFor,
  type WindowRow
} from "../support/index.js"

const windows = [{ name: "1s", size: 1_000 }, { name: "5s", size: 5_000 }]
const STEP = 100

const readAlarms = readStreamAlarms

describe("stream semantics", () => {
  it.live("late and out-of-order readings, alarms, forecasts, and a replay that reproduces the stored windows", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-streams-" })
      const db = yield* startInfluxDb1({ dir: join(dir, "influx"), database: "bramble" })
      const node = yield* startBrambleNode({
        dir: join(dir, "node"),
        sink: { kind: "influx-v1", url: db.url, database: "bramble" },
        windows,
        processing: { watermarkDelay: "200ms", allowedLateness: "3s", idleAdvance: "4s", checkpointInterval: "300ms" },
        rules: [
          { kind: "threshold", name: "refuel", metric: "fuel", below: 500, clearAbove: 550, for: "1s" },
          { kind: "stale", name: "silent", after: "3s", devices: ["d-4"] }
        ]
      })
      const mqttAlarms: Array<string> = []
      const client = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const c = await mqtt.connectAsync(node.mqttUrl, { clientId: "streams-test" })
          c.on("message", (topic) => mqttAlarms.push(topic))
          await c.subscribeAsync("alarms/#", { qos: 1 })
          return c
        }),
        (c) => Effect.promise(() => c.endAsync())
      )
      void client

      // 20 s of event time, 10 minutes ago, aligned to the 5 s window.
      const base = Math.floor((Date.now() - 600_000) / 5_000) * 5_000
      const fuel = (i: number) => i < 50 ? 600 : i < 100 ? 490 : i < 150 ? 520 : 560
      const inOrder: Array<TestReading> = []
      for (let i = 0; i < 200; i++) {
        inOrder.push({ device: "gen-1", sensor: "tank", ts: base + i * STEP, seq: i, values: { fuel: fuel(i) } })
        for (let d = 0; d < 5; d++) {
          // d-4 goes quiet after 10 s: its windows must still close, and it goes stale.
          if (d === 4 && i >= 100) continue
          inOrder.push({ device: `d-${d}`, sensor: "env", ts: base + i * STEP + d, seq: i, values: { temperature: 20 + ((i * 7 + d) % 13) / 10 } })
        }
      }
      // Out of order: swap neighbours of the temperature devices (within the watermark delay).
      const published = [...inOrder]
      for (let i = 1; i + 1 < published.length; i += 7) {
        if (published[i]!.device !== "gen-1" && published[i + 1]!.device !== "gen-1") {
          const t = published[i]!
          published[i] = published[i + 1]!
          published[i + 1] = t
        }
      }
      // Late: d-1 reading 1.5 s behind the newest (inside the lateness: corrects its windows),
      // and d-2 reading 10 s behind (beyond it: TooLate, raw point stored, no window).
      const late: TestReading = { device: "d-1", sensor: "env", ts: base + 20_000 - 1_500 + 50, seq: 1000, values: { temperature: 99 } }
      const tooLate: TestReading = { device: "d-2", sensor: "env", ts: base + 20_000 - 10_000 + 50, seq: 1001, values: { temperature: -99 } }

      const first = yield* Effect.promise(() => publishNats(node.natsUrl, published))
      const second = yield* Effect.promise(() => publishNats(node.natsUrl, [late, tooLate]))
      expect(first.failed).toEqual([])
      expect(second.failed).toEqual([])
      const acknowledged = [...first.acknowledged, ...second.acknowledged]

      // Raw: every reading exactly once, the too-late one included.
      const dbRef = { kind: "influx-v1" as const, url: db.url, database: "bramble" }
      const raw = yield* Effect.promise(() =>
        waitFor(() => readRawPoints(dbRef), { until: (points) => points.length >= acknowledged.length, timeoutMs: 120_000, label: "raw points" })
      )
      const once = checkExactlyOnce(acknowledged, raw)
      expect(once.ok, once.text).toBe(true)

      // Windows: equal to the oracle over everything but the too-late reading, corrections included.
      const expected = expectedWindows([...published, late], windows)
      const live = yield* Effect.promise(() =>
        waitFor(async () => compareWindows(expected, await readWindowResults(dbRef)), { until: (c) => c.ok, timeoutMs: 120_000, label: "windows", show: (c) => c.text })
      )
      expect(live.ok).toBe(true)

      const deadLetters = yield* Effect.promise(() => readDeadLetters(node.natsUrl))
      const tooLateLetters = deadLetters.filter((d) => d.entry.reason === "TooLate")
      expect(tooLateLetters.length).toBe(1)
      expect(tooLateLetters[0]!.entry.subject).toMatch(/^readings\.\d+\.d-2\.env$/)

      // Alarms: refuel raised once after 1 s below 500, cleared once above 550 (no flapping
      // at 520); d-4 went silent.
      const alarms = yield* Effect.promise(() =>
        waitFor(() => readAlarms(node.natsUrl), { until: (a) => a.some((x) => x.rule === "silent") && a.filter((x) => x.rule === "refuel").length >= 2, timeoutMs: 60_000, label: "alarms" })
      )
      const refuel = alarms.filter((a) => a.rule === "refuel")
      expect(refuel.map((a) => [a.device, a.state, a.at])).toEqual([
        ["gen-1", "raised", base + 60 * STEP],
        ["gen-1", "cleared", base + 150 * STEP]
      ])
      expect(alarms.filter((a) => a.rule === "silent").map((a) => [a.device, a.state])).toEqual([["d-4", "raised"]])
      yield* Effect.promise(() => waitFor(() => mqttAlarms, { until: (t) => t.filter((x) => x === "alarms/gen-1/refuel").length === 2, timeoutMs: 30_000, label: "MQTT alarms" }))

      // Forecasts of the next window were stored for every device's metrics.
      const forecastKeys = yield* Effect.promise(async () => {
        const q = encodeURIComponent(`SELECT "mean" FROM "forecast" WHERE "window" = '5s' GROUP BY "device", "metric"`)
        const body = await (await fetch(`${db.url}/query?db=bramble&q=${q}`)).json() as { results: Array<{ series?: Array<{ tags: Record<string, string> }> }> }
        return new Set((body.results[0]?.series ?? []).map((s) => `${s.tags["device"]}/${s.tags["metric"]}`))
      })
      expect([...forecastKeys].sort()).toEqual(["d-0/temperature", "d-1/temperature", "d-2/temperature", "d-3/temperature", "d-4/temperature", "gen-1/fuel"])
      const status = yield* Effect.promise(() => node.status())
      expect(status.totals.tooLate).toBe(1)

      // Replay into a second database: the same windows, bit for bit (to VM's 12 digits).
      const db2 = yield* startVictoriaMetrics({ dir: join(dir, "vm2") })
      const file = JSON.parse(readFileSync(node.configFile, "utf8")) as { sink: unknown }
      file.sink = { kind: "influx-v2", url: db2.url }
      const replayFile = join(dir, "replay.yaml")
      writeFileSync(replayFile, JSON.stringify(file))
      const result = yield* Effect.promise(() =>
        promisify(execFile)(process.execPath, [BRAMBLE_CLI, "replay", "-c", replayFile, "--from", String(base), "--to", String(base + 20_000), "--server", node.natsUrl])
          .catch((error: { stdout: string; stderr: string; code: number }) => ({ stdout: error.stdout, stderr: `exit ${error.code}: ${error.stderr}` }))
      )
      expect(result.stdout, result.stderr).toContain("wrote")
      const replayed = yield* Effect.promise(() => readWindowResults({ kind: "victoria-metrics", url: db2.url }))
      const stored = (yield* Effect.promise(() => readWindowResults(dbRef))).filter((w: WindowRow) => w.start >= base && w.start + (w.window === "1s" ? 1_000 : 5_000) <= base + 20_000)
      const same = compareWindows(stored, replayed)
      expect(same.ok, same.text).toBe(true)
      expect(replayed.length).toBe(stored.length)
    })), 300_000)
})
