/**
 * Ingest routes against a real `bramble node`, real nats-server and victoria-metrics, fed by
 * clients that are not Bramble's code: `mosquitto_pub` and Python's paho-mqtt (Debian's
 * python3-paho-mqtt). The seeds' device payloads go in unchanged; every accepted reading is
 * stored exactly once with its device, sensor, values and time, the windows equal the
 * oracle's, and every refusal — bad payloads, unrouted topics over MQTT QoS 1, plain text on
 * ingest/ — is dead-lettered once with its reason.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { join } from "node:path"
import { promisify } from "node:util"
import { startVictoriaMetrics } from "@bramble/deploy"
import { checkExactlyOnce, compareWindows, type Db, expectedWindows, type RawPoint, readRawTags, waitFor } from "../support/index.js"
import { readDeadLetters } from "../support/DeadLetters.js"
import { requestAdmin, startBrambleNode } from "../support/BrambleNode.js"
import { PROCESSING, promise, settled, testDir, WAIT_MS, WINDOWS, withNodeLog } from "../support/SystemTest.js"

const run = promisify(execFile)

const ROUTES = {
  routes: [
    // The Pi-cluster collector (seed 000): device id in the payload, ISO-8601 time.
    { name: "collector", topic: "sensors/+room", dialect: "json", deviceField: "sensor_id", timeField: "timestamp", tags: ["region"] },
    // The DHT11 script (seed 004): time in seconds.
    { name: "dht", topic: "dht/+device", dialect: "json", timeField: "time", timeUnit: "s" },
    // The generator simulation (seed 002): device in the payload, coordinates not values.
    { name: "generator", topic: "generators/+site/data", dialect: "json", deviceField: "generatorID", ignore: ["lat", "lon"] },
    // Tasmota / Home Assistant: one number per topic.
    { name: "home", topic: "home/+room/+metric", dialect: "value", device: "{room}" },
    // Telegraf's MQTT output: line protocol, the host tag is the device.
    { name: "telegraf", topic: "telegraf/#rest", dialect: "line-protocol", deviceTag: "host" }
  ]
}

const mosquittoPub = (url: string, topic: string, payload: string) => {
  const { port } = new URL(url)
  return run("mosquitto_pub", ["-h", "127.0.0.1", "-p", port, "-q", "1", "-t", topic, "-m", payload])
}

/** Publish each (topic, payload) with QoS 1 from Python's paho-mqtt, one connection, in order. */
const pahoPublish = (url: string, messages: ReadonlyArray<readonly [string, string]>) => {
  const { port } = new URL(url)
  const script = `
import json, sys
import paho.mqtt.client as mqtt
messages = json.loads(sys.argv[2])
client = mqtt.Client(client_id="bramble-test-paho", clean_session=True, protocol=mqtt.MQTTv311)
client.connect("127.0.0.1", int(sys.argv[1]))
client.loop_start()
for topic, payload in messages:
    info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(30)
    if not info.is_published():
        sys.exit("not acknowledged: " + topic)
client.loop_stop()
client.disconnect()
`
  // Debian's python3 (python3-paho-mqtt is its module), not one a version manager puts first on PATH.
  return run("/usr/bin/python3", ["-c", script, port, JSON.stringify(messages)])
}

describe("ingest routes - bramble node", () => {
  it.live("devices' own topics and payloads become readings; what no route takes is dead-lettered", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-ingest-")
      const vm = yield* startVictoriaMetrics({ dir: join(dir, "db") })
      const db: Db = { kind: "victoria-metrics", url: vm.url }
      const node = yield* startBrambleNode({
        dir: join(dir, "node"),
        sink: { kind: "influx-v2", url: vm.url },
        windows: WINDOWS,
        processing: PROCESSING,
        ingest: ROUTES,
        // The generator seed's Flux task: refuel when fuel < 500.
        rules: [{ kind: "threshold", name: "refuel", metric: "fuel", below: 500 }]
      })

      yield* withNodeLog(
        node,
        Effect.gen(function*() {
          const base = Date.now() - 5 * 60_000
          const iso = (ms: number) => new Date(ms).toISOString()
          const expected: Array<RawPoint> = []

          // What an MQTT subscriber (Node-RED, Home Assistant) sees: JSON, read by mosquitto_sub.
          const mqttPort = new URL(node.mqttUrl).port
          const subscribe = (topic: string, count: number) =>
            run("mosquitto_sub", ["-h", "127.0.0.1", "-p", mqttPort, "-q", "1", "-v", "-t", topic, "-C", String(count), "-W", "120"])
          const alarmsSeen = subscribe("alarms/#", 1)
          const aggregatesSeen = subscribe("aggregates/#", 3)
          yield* Effect.sleep("1 second")

          // 1. The seeds' payloads, byte for byte as their scripts send them.
          yield* promise(() => mosquittoPub(node.mqttUrl, "sensors/lab", `{"sensor_id": 1, "temperature": 25.5, "humidity": 60, "timestamp": "2023-05-20T10:00:00Z"}`))
          expected.push({ device: "1", sensor: "collector", ts: Date.parse("2023-05-20T10:00:00Z"), values: { temperature: 25.5, humidity: 60 } })
          // A field the route keeps as a tag (`tags: [region]`): a database tag, not a value.
          yield* promise(() => mosquittoPub(node.mqttUrl, "sensors/lab", `{"sensor_id": 3, "region": "north", "temperature": 24.5, "timestamp": "2023-05-20T10:00:01Z"}`))
          expected.push({ device: "3", sensor: "collector", ts: Date.parse("2023-05-20T10:00:01Z"), values: { temperature: 24.5 } })
          yield* promise(() => mosquittoPub(node.mqttUrl, "dht/pi-4", `{"time": 1700000000.123, "temperature": 21.0, "humidity": 40.0}`))
          expected.push({ device: "pi-4", sensor: "dht", ts: 1700000000123, values: { temperature: 21, humidity: 40 } })
          yield* promise(() => mosquittoPub(node.mqttUrl, "generators/site1/data", `{"generatorID": "g1", "fuel": 480, "lat": 40.1, "lon": -74.2, "power": 3.2, "load": 0.7, "temperature": 71}`))
          // No time in the payload: the time JetStream stored it (checked below by range).
          const generatorSeen = { device: "g1", sensor: "generator", values: { fuel: 480, power: 3.2, load: 0.7, temperature: 71 } }

          // 2. More of each, in time order, through paho: arrays of objects and several lines
          //    per message included; and bad payloads among them.
          const messages: Array<readonly [string, string]> = []
          for (let i = 0; i < 20; i++) {
            const ts = base + i * 250
            messages.push(["sensors/lab", JSON.stringify([
              { sensor_id: 7, region: "south", temperature: 20 + i, humidity: 50, timestamp: iso(ts) },
              { sensor_id: "8", temperature: 10 + i / 4, humidity: 55, timestamp: iso(ts) }
            ])])
            expected.push({ device: "7", sensor: "collector", ts, values: { temperature: 20 + i, humidity: 50 } })
            expected.push({ device: "8", sensor: "collector", ts, values: { temperature: 10 + i / 4, humidity: 55 } })
            messages.push(["dht/pi-5", JSON.stringify({ time: (ts + 1) / 1000, temperature: 18 + i / 2, humidity: 45 })])
            expected.push({ device: "pi-5", sensor: "dht", ts: ts + 1, values: { temperature: 18 + i / 2, humidity: 45 } })
            messages.push([
              "telegraf/agent-1",
              `cpu,host=pi-${i % 2},cpu=cpu-total usage_idle=${90 + i / 10},usage_user=${i}i ${(BigInt(ts + 2) * 1_000_000n).toString()}\n` +
              `# a comment\nmem,host=pi-${i % 2} used_percent=${40 + i},ok=true ${(BigInt(ts + 3) * 1_000_000n).toString()}\n`
            ])
            expected.push({ device: `pi-${i % 2}`, sensor: "cpu", ts: ts + 2, values: { usage_idle: 90 + i / 10, usage_user: i } })
            expected.push({ device: `pi-${i % 2}`, sensor: "mem", ts: ts + 3, values: { used_percent: 40 + i, ok: 1 } })
          }
          const bad: Array<readonly [string, string, string]> = [
            ["home/kitchen/temperature", "hot", "NotANumber"],
            ["sensors/lab", `{"sensor_id": 9, "temperature": 20`, "MalformedJson"],
            ["sensors/lab", `{"temperature": 20, "timestamp": "${iso(base)}"}`, "BadDeviceId"],
            ["telegraf/agent-1", `cpu,host=pi-9 usage_idle= 1\n`, "MalformedLineProtocol"],
            ["dht/pi-6", `{"time": 1700000000, "status": "ok"}`, "NoValues"],
            // A routed first level, but no route for two levels under sensors/.
            ["sensors/lab/extra", `{"sensor_id": 1, "temperature": 1}`, "NoRoute"],
            // Plain text on Bramble's own topic: a human error, not a msgpack decoder's.
            ["ingest/dev-1/env", "21.5", "NotAReading"]
          ]
          for (const [topic, payload] of bad) messages.push([topic, payload])
          yield* promise(() => pahoPublish(node.mqttUrl, messages))

          // 3. Plain numbers from Home Assistant-like devices, with mosquitto_pub.
          const homeBefore = Date.now()
          yield* promise(() => mosquittoPub(node.mqttUrl, "home/livingroom/temperature", "21.5"))
          yield* promise(() => mosquittoPub(node.mqttUrl, "home/livingroom/humidity", " 48 "))
          const homeAfter = Date.now()

          // 4. Ten topics no route takes, QoS 1: ten NoRoute dead letters.
          for (let i = 0; i < 10; i++) yield* promise(() => mosquittoPub(node.mqttUrl, `nowhere/device-${i}`, `{"t": ${i}}`))

          // The database: every timed reading once, exactly; the untimed ones by range.
          const timed = expected
          const stored = yield* promise(() =>
            waitFor(() => import("../support/index.js").then((s) => s.readRawPoints(db)), {
              until: (points) => points.length >= timed.length + 3,
              timeoutMs: WAIT_MS,
              intervalMs: 500,
              show: (points) => `${points.length} raw points`,
              label: `${timed.length + 3} raw points`
            })
          )
          const untimed = stored.filter((p) => p.device === "g1" || p.device === "livingroom")
          const once = checkExactlyOnce(timed, stored.filter((p) => !untimed.includes(p)))
          assert.isTrue(once.ok, once.text)
          assert.strictEqual(untimed.length, 3, JSON.stringify(untimed))
          const generator = untimed.find((p) => p.device === "g1")!
          assert.deepStrictEqual({ device: generator.device, sensor: generator.sensor, values: generator.values }, generatorSeen)
          const home = untimed.filter((p) => p.device === "livingroom").sort((a, b) => a.ts - b.ts)
          assert.deepStrictEqual(home.map((p) => [p.sensor, p.values]), [["home", { temperature: 21.5 }], ["home", { humidity: 48 }]].sort((a, b) => home.findIndex((p) => JSON.stringify(p.values) === JSON.stringify(a[1])) - home.findIndex((p) => JSON.stringify(p.values) === JSON.stringify(b[1]))))
          for (const p of home) assert.isTrue(p.ts >= homeBefore - 5_000 && p.ts <= homeAfter + 5_000, `home reading stored with ts ${p.ts}`)

          // Tags: the route's json field, and line protocol's tags other than the device's.
          const tags = yield* promise(() => readRawTags(db))
          for (const p of stored) {
            const key = `${p.device}/${p.sensor}/${p.ts}`
            const want = p.device === "3" ? { region: "north" } : p.device === "7" ? { region: "south" } : p.sensor === "cpu" ? { cpu: "cpu-total" } : undefined
            assert.deepStrictEqual(tags.get(key), want, `tags of ${key}`)
          }

          // Windows: equal to an independent computation over what was stored.
          const windows = expectedWindows(stored, WINDOWS)
          const settledNow = yield* settled(node, db, { raw: stored.length, windows: windows.length }, windows)
          const diff = compareWindows(windows, settledNow.windows)
          assert.isTrue(diff.ok, diff.text)

          // Dead letters: each refusal once, with its reason and the original bytes.
          const letters = yield* promise(() =>
            waitFor(() => readDeadLetters(node.natsUrl), {
              until: (entries) => entries.length >= bad.length + 10,
              timeoutMs: WAIT_MS,
              intervalMs: 1_000,
              show: (entries) => entries.map((e) => `${e.entry.reason} ${e.entry.subject}: ${e.entry.message}`).join("\n"),
              label: `${bad.length + 10} dead letters`
            })
          )
          const text = new TextDecoder()
          const seen = letters.map((l) => ({ reason: l.entry.reason, subject: l.entry.subject, payload: text.decode(l.entry.payload), message: l.entry.message }))
          for (const [topic, payload, reason] of bad) {
            const matches = seen.filter((l) => l.payload === payload && l.subject.replaceAll(".", "/").endsWith(topic.slice(topic.indexOf("/"))))
            assert.strictEqual(matches.length, 1, `${reason} for ${topic} ${payload}: ${JSON.stringify(seen)}`)
            assert.strictEqual(matches[0]!.reason, reason, JSON.stringify(matches[0]))
          }
          const noRoute = seen.filter((l) => l.reason === "NoRoute" && l.subject.startsWith("nowhere."))
          assert.strictEqual(noRoute.length, 10, JSON.stringify(noRoute))
          assert.deepStrictEqual(noRoute.map((l) => l.payload).sort(), Array.from({ length: 10 }, (_, i) => `{"t": ${i}}`).sort())
          const plain = seen.find((l) => l.reason === "NotAReading")!
          assert.include(plain.message, "docs/ingest-routes.md")
          assert.notInclude(plain.message, "msgpack decoder")
          assert.strictEqual(letters.length, bad.length + 10, JSON.stringify(seen))

          // JSON for MQTT subscribers: `<topic> <payload>` lines whose payload JSON.parse reads.
          const alarmLine = (yield* promise(() => alarmsSeen)).stdout.trim()
          assert.match(alarmLine, /^alarms\/g1\/refuel \{/)
          assert.deepInclude(JSON.parse(alarmLine.slice(alarmLine.indexOf(" ") + 1)), { device: "g1", rule: "refuel", state: "raised", value: 480 })
          const aggregateLines = (yield* promise(() => aggregatesSeen)).stdout.trim().split("\n")
          assert.strictEqual(aggregateLines.length, 3)
          for (const line of aggregateLines) {
            const [topic, ...rest] = line.split(" ")
            const result = JSON.parse(rest.join(" ")) as { device: string; sensor: string; metric: string; window: string; count?: number; mean: number }
            const forecast = topic!.endsWith("/forecast")
            assert.strictEqual(topic, `aggregates/${result.device}/${result.sensor}/${result.metric}/${result.window}${forecast ? "/forecast" : ""}`)
            assert.isTrue(Number.isFinite(result.mean), line)
            if (!forecast) assert.isAbove(result.count!, 0)
          }

          // Counted where an operator looks: the node's status (and /metrics, built from it).
          const status = (yield* promise(() => requestAdmin(node.natsUrl, node.name, "status"))) as { status?: { ingest?: Record<string, number> }; ingest?: Record<string, number> }
          const ingest = status.ingest ?? status.status?.ingest
          assert.deepInclude(ingest, { noRoute: 11, refused: bad.length - 2 }, JSON.stringify(status))
        })
      )
    }), { timeout: 300_000 })
})
