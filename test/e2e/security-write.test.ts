/**
 * The InfluxDB-compatible write endpoint of a secured node, with the real clients: Debian's
 * python3-influxdb (v1, user and password) and `@influxdata/influxdb-client` (v2, `Token
 * <user>:<password>`). Without credentials or with a wrong password: 401; a user that may not
 * write (the admin), or a device writing another device's points: 403, nothing stored; a node's
 * or a device's own credentials: 204, stored once with their tags. And a device publishing a
 * routed topic over MQTT: its own device's topic only.
 */
import { assert, describe, it } from "@effect/vitest"
import { HttpError, InfluxDB, Point } from "@influxdata/influxdb-client"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { checkExactlyOnce, type RawPoint, readRawPoints, readRawTags, waitFor } from "../support/index.js"
import { startSecureCluster } from "./security-harness.js"

const run = promisify(execFile)

/** Python's influxdb (v1) client as `user`: exits 0 when written, else prints the HTTP status. */
const pythonWrite = (httpUrl: string, user: string, password: string, points: ReadonlyArray<readonly [string, number, number]>) => {
  const { port } = new URL(httpUrl)
  const script = `
import json, sys
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError
client = InfluxDBClient(host="127.0.0.1", port=int(sys.argv[1]), username=sys.argv[2], password=sys.argv[3], database="telemetry")
points = [{"measurement": "dht", "tags": {"device": d, "room": "attic"}, "time": ts, "fields": {"temperature": float(t)}} for d, ts, t in json.loads(sys.argv[4])]
try:
    client.write_points(points, time_precision="ms")
    print("204")
except InfluxDBClientError as e:
    print(e.code)
`
  return run("/usr/bin/python3", ["-c", script, port, user, password, JSON.stringify(points)]).then((r) => Number(r.stdout.trim()))
}

/** The v2 client with `token`: 204 when written, else the HTTP status. */
const v2Write = async (httpUrl: string, token: string, points: ReadonlyArray<Point>): Promise<number> => {
  const writeApi = new InfluxDB({ url: httpUrl, token }).getWriteApi("org", "bucket", "ms", { maxRetries: 0, flushInterval: 0 })
  writeApi.writePoints(points)
  try {
    await writeApi.close()
    return 204
  } catch (error) {
    if (error instanceof HttpError) return error.statusCode
    throw error
  }
}

describe("write endpoint - secured node", () => {
  it.live("credentials as InfluxDB clients send them: 401 without or wrong, 403 for who may not write, 204 stored for a node or a device's own points", () =>
    Effect.gen(function*() {
      const cluster = yield* startSecureCluster({
        devices: [{ id: "d1", transport: "mqtt" }, { id: "d2", transport: "mqtt" }],
        http: true,
        ingest: "{ routes: [{ name: air, topic: air/+device, dialect: json, timeField: ts }] }"
      })
      const httpUrl = cluster.node.httpUrl!
      const base = Date.now() - 60_000
      const device = cluster.password({ kind: "device", device: "d1", transport: "mqtt" })
      const node = cluster.password({ kind: "node", node: "n1" })
      const admin = cluster.password({ kind: "admin" })
      const cpu = (host: string, i: number) => new Point("cpu").tag("host", host).tag("core", "0").floatField("idle", 90 + i).timestamp(base + i)

      // Nothing stored by any of these.
      const none = yield* Effect.promise(() => fetch(`${httpUrl}/write?db=x`, { method: "POST", body: `cpu,host=x idle=1 ${base}` }))
      assert.strictEqual(none.status, 401)
      assert.include(((yield* Effect.promise(() => none.json())) as { error: string }).error, "bramble deploy creds")
      assert.strictEqual(yield* Effect.promise(() => pythonWrite(httpUrl, "device:d1", "wrong", [["d1", base, 1]])), 401)
      assert.strictEqual(yield* Effect.promise(() => v2Write(httpUrl, "node:n1:wrong", [cpu("x", 0)])), 401)
      assert.strictEqual(yield* Effect.promise(() => v2Write(httpUrl, `admin:${admin}`, [cpu("x", 0)])), 403)
      // A device writes its own points only: a batch naming another is refused whole.
      assert.strictEqual(yield* Effect.promise(() => pythonWrite(httpUrl, "device:d1", device, [["d1", base, 1], ["d2", base, 2]])), 403)

      // Allowed: a device's own points (v1, user and password), a node's for any device (v2 token).
      const expected: Array<RawPoint> = []
      const own = Array.from({ length: 20 }, (_, i) => ["d1", base + 100 + i, 20 + i] as const)
      assert.strictEqual(yield* Effect.promise(() => pythonWrite(httpUrl, "device:d1", device, own)), 204)
      for (const [d, ts, t] of own) expected.push({ device: d, sensor: "dht", ts, values: { temperature: t } })
      const points = Array.from({ length: 20 }, (_, i) => cpu(`pi-${i % 2}`, i))
      assert.strictEqual(yield* Effect.promise(() => v2Write(httpUrl, `node:n1:${node}`, points)), 204)
      for (let i = 0; i < 20; i++) expected.push({ device: `pi-${i % 2}`, sensor: "cpu", ts: base + i, values: { idle: 90 + i } })

      // A routed topic over MQTT: d1 may publish air/d1 (its own device wildcard), not air/d2
      // (nats-server drops it: the permission is rendered from the route, deploy Roles.ts).
      const mqtt = yield* Effect.promise(() => cluster.mqtt({ kind: "device", device: "d1", transport: "mqtt" }))
      yield* Effect.promise(() => mqtt.publishAsync("air/d2", JSON.stringify({ ts: base + 200, co2: 999 }), { qos: 1 }))
      yield* Effect.promise(() => mqtt.publishAsync("air/d1", JSON.stringify({ ts: base + 201, co2: 410 }), { qos: 1 }))
      yield* Effect.promise(() => mqtt.endAsync())
      expected.push({ device: "d1", sensor: "air", ts: base + 201, values: { co2: 410 } })

      const stored = yield* Effect.promise(() =>
        waitFor(() => readRawPoints(cluster.db), { until: (p) => p.length >= expected.length, timeoutMs: 60_000, intervalMs: 500, label: `${expected.length} raw points` })
      )
      const once = checkExactlyOnce(expected, stored)
      assert.isTrue(once.ok, once.text)
      const tags = yield* Effect.promise(() => readRawTags(cluster.db))
      for (const p of expected) assert.deepStrictEqual(tags.get(`${p.device}/${p.sensor}/${p.ts}`), p.sensor === "cpu" ? { core: "0" } : p.sensor === "air" ? undefined : { room: "attic" })
    }), { timeout: 240_000 })
})
