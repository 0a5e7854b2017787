/**
 * kill -9 of a `bramble node` (and the nats-server it runs) while a client writes line
 * protocol to its write endpoint in batches, retrying a batch until it gets its 204, as
 * Telegraf does: every 204-acknowledged line is stored exactly once — in the database and in
 * the log, where a batch stored before the kill and sent again after it is de-duplicated.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { join } from "node:path"
import { startVictoriaMetrics } from "@bramble/deploy"
import { checkExactlyOnce, type Db, type RawPoint, readLogReadings, readRawPoints, waitFor } from "../support/index.js"
import { startBrambleNode, waitUntilCheckpointed } from "../support/BrambleNode.js"
import { PROCESSING, promise, testDir, WAIT_MS, WINDOWS, withNodeLog } from "../support/SystemTest.js"

const BATCHES = 40
const DEVICES = 10
const PER_DEVICE = 50

describe("faults - write endpoint, node killed", () => {
  it.live("every 204-acknowledged line is stored exactly once across a kill -9 and a restart", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-write-kill-")
      const vm = yield* startVictoriaMetrics({ dir: join(dir, "db") })
      const db: Db = { kind: "victoria-metrics", url: vm.url }
      const node = yield* startBrambleNode({ dir: join(dir, "node"), sink: { kind: "influx-v2", url: vm.url }, windows: WINDOWS, processing: PROCESSING, http: true })
      const url = `${node.httpUrl!}/api/v2/write?org=o&bucket=b&precision=ms`

      yield* withNodeLog(
        node,
        Effect.gen(function*() {
          const base = Date.now() - 10 * 60_000
          const acknowledged: Array<RawPoint> = []
          let failures = 0
          let stop = false
          // The client: each batch sent until it gets its 204 (connection refused, 503: again).
          const writer = (async () => {
            for (let b = 0; b < BATCHES && !stop; b++) {
              const points: Array<RawPoint> = []
              for (let d = 0; d < DEVICES; d++) {
                for (let j = 0; j < PER_DEVICE; j++) points.push({ device: `w-${d}`, sensor: "lp", ts: base + b * 1_000 + j * 20, values: { v: b * 1_000 + j } })
              }
              const body = points.map((p) => `lp,device=${p.device} v=${p.values["v"]} ${p.ts}`).join("\n")
              while (!stop) {
                const status = await fetch(url, { method: "POST", body, signal: AbortSignal.timeout(10_000) }).then((r) => r.status, () => 0)
                if (status === 204) break
                failures += 1
                await new Promise((r) => setTimeout(r, 200))
              }
              if (!stop) acknowledged.push(...points)
            }
          })()

          yield* promise(() => waitFor(() => acknowledged.length, { until: (n) => n >= 10 * DEVICES * PER_DEVICE, timeoutMs: WAIT_MS, label: "10 batches acknowledged before the kill" }))
          yield* node.process.signal("SIGKILL")
          yield* promise(() => waitFor(() => failures, { until: (n) => n > 0, timeoutMs: WAIT_MS, label: "writes failing while the node is down" }))
          yield* node.restart
          yield* promise(() => Promise.race([writer, new Promise((r) => setTimeout(r, 240_000))]))
          stop = true
          assert.strictEqual(acknowledged.length, BATCHES * DEVICES * PER_DEVICE, "every batch was acknowledged in the end")

          const stored = yield* promise(() =>
            waitFor(() => readRawPoints(db), { until: (p) => p.length >= acknowledged.length, timeoutMs: WAIT_MS, intervalMs: 500, label: `${acknowledged.length} raw points` })
          )
          yield* promise(() => waitUntilCheckpointed(node, WAIT_MS))
          const once = checkExactlyOnce(acknowledged, stored)
          assert.isTrue(once.ok, once.text)
          // The database de-duplicates equal points itself; the log must hold each line once too.
          // (batch records: one message per device and sensor per batch, taken apart here).
          const log = yield* promise(() => readLogReadings(node.natsUrl))
          assert.strictEqual(log.readings.length, acknowledged.length, `READINGS holds ${log.readings.length} readings (${log.messages} messages) for ${acknowledged.length} lines (${failures} failed attempts)`)
        })
      )
    }), { timeout: 400_000 })
})
