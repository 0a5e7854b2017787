/**
 * The InfluxDB-compatible write endpoint against a real `bramble node`, with two clients that
 * are not Bramble's code: `@influxdata/influxdb-client` (v2 API, gzip, batches of 5,000) and
 * Debian's python3-influxdb (v1 `/write`). Every 204-acknowledged point is stored exactly once
 * with its device, sensor, values and time — a batch sent twice included — the windows equal
 * the oracle's, and a batch with bad lines keeps its good ones, answers 400 with InfluxDB's
 * error JSON and dead-letters the bad ones.
 */
import { assert, describe, it } from "@effect/vitest"
import { InfluxDB, Point } from "@influxdata/influxdb-client"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { join } from "node:path"
import { promisify } from "node:util"
import { startVictoriaMetrics } from "@bramble/deploy"
import { checkExactlyOnce, compareWindows, type Db, expectedWindows, type RawPoint, readLogReadings, readRawTags } from "../support/index.js"
import { readDeadLetters } from "../support/DeadLetters.js"
import { startBrambleNode } from "../support/BrambleNode.js"
import { PROCESSING, promise, settled, testDir, WAIT_MS, WINDOWS, withNodeLog } from "../support/SystemTest.js"
import { waitFor } from "../support/Db.js"

const run = promisify(execFile)

/** Write points with Python's influxdb (v1) client: `[device, ts_ms, temperature]` each. */
const pythonWrite = (httpUrl: string, points: ReadonlyArray<readonly [string, number, number]>) => {
  const { port } = new URL(httpUrl)
  const script = `
import json, sys
from influxdb import InfluxDBClient
client = InfluxDBClient(host="127.0.0.1", port=int(sys.argv[1]), database="telemetry")
points = [{"measurement": "dht", "tags": {"device": d, "region": "r" + d[-1]}, "time": ts, "fields": {"temperature": float(t)}} for d, ts, t in json.loads(sys.argv[2])]
if not client.write_points(points, time_precision="ms", batch_size=500):
    sys.exit("write_points returned False")
`
  // Debian's python3 (python3-influxdb is its module), not one a version manager puts first on PATH.
  return run("/usr/bin/python3", ["-c", script, port, JSON.stringify(points)])
}

describe("write endpoint - bramble node", () => {
  it.live("InfluxDB clients write into Bramble unchanged; 204 means stored, once", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-write-")
      const vm = yield* startVictoriaMetrics({ dir: join(dir, "db") })
      const db: Db = { kind: "victoria-metrics", url: vm.url }
      const node = yield* startBrambleNode({ dir: join(dir, "node"), sink: { kind: "influx-v2", url: vm.url }, windows: WINDOWS, processing: PROCESSING, http: true })
      const httpUrl = node.httpUrl!

      yield* withNodeLog(
        node,
        Effect.gen(function*() {
          // Each step's event times follow the previous step's: a partition's watermark is shared
          // by its devices, so a step in the past of another would be too late for its windows.
          const base = Date.now() - 5 * 60_000
          const expected: Array<RawPoint> = []

          // 1. The v2 client, as Telegraf or Node-RED would use it: 10,000 points in batches of 5,000, gzip.
          const writeApi = new InfluxDB({ url: httpUrl, token: "unused" }).getWriteApi("org", "bucket", "ms", { batchSize: 5_001, flushInterval: 0, gzipThreshold: 1_000, maxRetries: 0 })
          for (let i = 0; i < 10_000; i++) {
            const host = `pi-${i % 4}`
            const ts = base + Math.floor(i / 4) * 20
            writeApi.writePoint(new Point("cpu").tag("host", host).tag("cpu", "cpu-total").floatField("usage_idle", 90 + (i % 7)).intField("procs", i % 100).timestamp(ts))
            expected.push({ device: host, sensor: "cpu", ts, values: { usage_idle: 90 + (i % 7), procs: i % 100 } })
            // One batch at a time, as Telegraf sends them: two batches in flight at once may be
            // stored in either order, and the later half of a device's readings would then be
            // stored first (the earlier ones too late for their windows). The client sends a full
            // batch by itself without waiting for it (batchSize 5,000 would), so batches of
            // 5,000 are flushed here and awaited (batchSize 5,001 keeps it from sending first).
            if ((i + 1) % 5_000 === 0) yield* promise(() => writeApi.flush())
          }
          yield* promise(() => writeApi.close())

          // 2. Debian's python3-influxdb, v1 /write.
          const pyPoints: Array<readonly [string, number, number]> = []
          for (let i = 0; i < 600; i++) {
            const p = [`dht-${i % 3}`, base + 60_001 + Math.floor(i / 3) * 50, 15 + (i % 11) / 2] as const
            pyPoints.push(p)
            expected.push({ device: p[0], sensor: "dht", ts: p[1], values: { temperature: p[2] } })
          }
          yield* promise(() => pythonWrite(httpUrl, pyPoints))

          // 3. The same batch twice (a client's retry after a lost answer): stored once.
          const batch = Array.from({ length: 50 }, (_, i) => `mem,device=retry-1 used=${i} ${(BigInt(base + 80_007 + i * 100) * 1_000_000n).toString()}`).join("\n")
          for (let attempt = 0; attempt < 2; attempt++) {
            const answer = yield* promise(() => fetch(`${httpUrl}/api/v2/write?org=o&bucket=b`, { method: "POST", body: batch }))
            assert.strictEqual(answer.status, 204)
          }
          for (let i = 0; i < 50; i++) expected.push({ device: "retry-1", sensor: "mem", ts: base + 80_007 + i * 100, values: { used: i } })

          // 4. Bad lines among good ones: the good are kept, 400 with InfluxDB's error JSON.
          const mixed = [
            `disk,device=mixed-1 free=1 ${base + 90_009}`,
            "disk,device=mixed-1 free=",
            `disk free=3 ${base + 90_010}`,
            `disk,device=mixed-1 free=4 ${base + 90_011}`
          ].join("\n")
          const v1 = yield* promise(() => fetch(`${httpUrl}/write?db=x&precision=ms`, { method: "POST", body: mixed }))
          assert.strictEqual(v1.status, 400)
          const v1Body = (yield* promise(() => v1.json())) as { error: string }
          assert.include(v1Body.error, "partial write: unable to parse 'disk,device=mixed-1 free='")
          assert.include(v1Body.error, "neither a device nor a host tag")
          expected.push({ device: "mixed-1", sensor: "disk", ts: base + 90_009, values: { free: 1 } }, { device: "mixed-1", sensor: "disk", ts: base + 90_011, values: { free: 4 } })
          const v2 = yield* promise(() => fetch(`${httpUrl}/api/v2/write?org=o&bucket=b&precision=fortnights`, { method: "POST", body: mixed }))
          assert.strictEqual(v2.status, 400)
          assert.deepInclude((yield* promise(() => v2.json())) as object, { code: "invalid" })

          // The database: every acknowledged point once; the windows equal the oracle's.
          const windows = expectedWindows(expected, WINDOWS)
          const stored = yield* settled(node, db, { raw: expected.length, windows: windows.length }, windows)
          const once = checkExactlyOnce(expected, stored.raw)
          assert.isTrue(once.ok, once.text)
          assert.strictEqual(stored.raw.length, expected.length)
          const diff = compareWindows(windows, stored.windows)
          assert.isTrue(diff.ok, diff.text)
          // Once in the log too (the database would hide a duplicate: victoria-metrics de-duplicates),
          // as batch records: one message per device and sensor per batch, far fewer than readings.
          const log = yield* promise(() => readLogReadings(node.natsUrl))
          assert.strictEqual(log.readings.length, expected.length)
          assert.strictEqual(new Set(log.readings).size, expected.length)
          assert.isBelow(log.messages, expected.length / 10, `${log.messages} messages in READINGS for ${expected.length} readings`)

          // Tags other than the device's are stored as database tags: the v2 client's cpu tag, the
          // v1 client's region tag.
          const tags = yield* promise(() => readRawTags(db))
          for (const p of expected) {
            const want = p.sensor === "cpu" ? { cpu: "cpu-total" } : p.sensor === "dht" ? { region: `r${p.device.slice(-1)}` } : undefined
            assert.deepStrictEqual(tags.get(`${p.device}/${p.sensor}/${p.ts}`), want, `tags of ${p.device}/${p.sensor}/${p.ts}`)
          }

          // The two bad lines, dead-lettered with their reason.
          const letters = yield* promise(() =>
            waitFor(() => readDeadLetters(node.natsUrl), { until: (l) => l.length >= 2, timeoutMs: WAIT_MS, intervalMs: 1_000, label: "2 dead letters" })
          )
          assert.deepStrictEqual(letters.map((l) => l.entry.reason).sort(), ["BadDeviceId", "MalformedLineProtocol"])
        })
      )
    }), { timeout: 300_000 })
})
