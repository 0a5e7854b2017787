/**
 * The spine scenario shared by the victoria-metrics (v2 write API) and InfluxDB 1.x (`/write`)
 * system tests: one real `bramble node` process, readings in over MQTT QoS 1 and over NATS
 * msgpack, raw points and window results out in the database, checked against the oracle.
 */
import { join } from "node:path"
import { assert } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import { checkExactlyOnce, compareWindows, type Db, expectedWindows, makeReadings, publishMqtt, publishNats, type TestReading } from "../support/index.js"
import { type NodeSink, startBrambleNode } from "../support/BrambleNode.js"
import { PROCESSING, WINDOWS, promise, settled, testDir, withNodeLog } from "../support/SystemTest.js"

const MINUTE = 60_000

/**
 * K = 3,000 readings from D = 20 devices over MQTT QoS 1, then 1,000 from 10 other devices
 * over NATS (JetStream, msgpack): every one is stored exactly once, and the windows equal
 * the oracle's.
 */
export const spineScenario = (makeDb: (dir: string) => Effect.Effect<{ readonly db: Db; readonly sink: NodeSink }, unknown, Scope.Scope>) =>
  Effect.gen(function*() {
    const dir = yield* testDir("bramble-spine-")
    const { db, sink } = yield* makeDb(join(dir, "db"))
    const node = yield* startBrambleNode({ dir: join(dir, "node"), sink, windows: WINDOWS, processing: PROCESSING })

    yield* withNodeLog(
      node,
      Effect.gen(function*() {
        // Event times a few minutes in the past (the databases refuse far-future points).
        const now = Date.now()
        const viaMqtt = makeReadings({ devices: 20, perDevice: 150, startMs: now - 5 * MINUTE, stepMs: 100, seed: 11 })
        // One connection, so the log holds the readings in event-time order: readings from two
        // connections interleave arbitrarily, and one that falls more than the allowed
        // lateness behind the partition's watermark is (correctly) too late for its windows.
        const mqtt = yield* promise(() => publishMqtt(node.mqttUrl, viaMqtt, { qos: 1, clients: 1 }))
        assert.strictEqual(mqtt.failed.length, 0, `MQTT publishes failed: ${JSON.stringify(mqtt.failed.slice(0, 3))}`)

        // Other devices, later event times: a partition's watermark only moves forward, so
        // the second set must not be older than what the first left it at.
        const devicesNats = Array.from({ length: 10 }, (_, i) => `nats-${i}`)
        const viaNats = makeReadings({ devices: devicesNats, perDevice: 100, startMs: Date.now() - 2 * MINUTE, stepMs: 100, seed: 12 })
        const nats = yield* promise(() => publishNats(node.natsUrl, viaNats))
        assert.strictEqual(nats.failed.length, 0, `NATS publishes failed: ${JSON.stringify(nats.failed.slice(0, 3))}`)

        const published: Array<TestReading> = [...mqtt.attempted, ...nats.attempted]
        const acknowledged: Array<TestReading> = [...mqtt.acknowledged, ...nats.acknowledged]
        const expected = expectedWindows(published, WINDOWS)
        const stored = yield* settled(node, db, { raw: acknowledged.length, windows: expected.length }, expected)

        const once = checkExactlyOnce(acknowledged, stored.raw)
        assert.isTrue(once.ok, once.text)
        assert.strictEqual(once.okCount, published.length, once.text)
        const diff = compareWindows(expected, stored.windows)
        assert.isTrue(diff.ok, diff.text)

        const status = yield* promise(() => node.status())
        assert.strictEqual(status.totals.accepted, published.length, JSON.stringify(status.totals))
        assert.strictEqual(status.totals.rejected, 0, JSON.stringify(status.totals))
        assert.strictEqual(status.totals.tooLate, 0, JSON.stringify(status.totals))
        console.log(
          `spine (${db.kind}): ${mqtt.acknowledged.length} MQTT + ${nats.acknowledged.length} NATS readings, ` +
            `${stored.raw.length} raw points, ${stored.windows.length} window rows; ${diff.text}`
        )
      })
    )
  })
