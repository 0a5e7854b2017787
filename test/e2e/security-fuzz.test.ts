/**
 * Hostile input through a real node: fast-check generates readings with arbitrary bytes,
 * Unicode ids with spaces, commas, equals signs, line breaks and backslashes, huge numbers,
 * NaN/Infinity and out-of-range timestamps, and publishes them over NATS and MQTT (including
 * topics that are not subject-safe). Then, for every message READINGS stored, the test
 * decides on its own — with the protocol's validator, given the same subject, bytes and
 * stored time — whether it must be accepted, and checks:
 *
 * - refused: dead-lettered once, with that reason and the original stored sequence, and not
 *   in the database;
 * - accepted: in the database exactly (its raw point; a TooLate dead letter is allowed, as the
 *   raw point is still stored), with zero database write errors or refused points;
 * - the node did not crash: no worker restarted, and it still answers.
 */
import { assert, describe, it } from "@effect/vitest"
import { type RunningNode, startNode } from "@bramble/cluster"
import { parseClusterConfig } from "@bramble/config"
import { freePorts, generateCredentials, loadServerSecurity, natsSpecForNode, scopedTempDir, startNatsServer, startVictoriaMetrics } from "@bramble/deploy"
import { Admin, Codec, decodeReading, readDeadLetter, Subjects } from "@bramble/protocol"
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, Result } from "effect"
import fc from "fast-check"
import mqtt from "mqtt"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { readRawPoints, waitFor } from "../support/Db.js"

const DAY = 24 * 3600_000
const NOW = Date.now()
const encoder = new TextEncoder()

// Line breaks and tabs are left out of topics here: nats-server 2.9 stores them in the subject,
// and delivering such a message breaks the consumer's connection (the KNOWN GAP test below).
const nastyChar = fc.constantFrom(" ", ",", "=", "\\", "\"", "#", "é", "温", "🌡", "\u0000", "\u000b", "\u2028", "a", "-", "_", "7")
const hostile = fc.oneof(fc.string({ unit: nastyChar, minLength: 1, maxLength: 20 }), fc.constantFrom("__proto__", "a\\", "x y", "k=v", "#m", "a".repeat(65)))
const validToken = fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/)
const metric = fc.oneof({ weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,20}$/) }, { weight: 1, arbitrary: hostile })
const value = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: -1e12, max: 1e12, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(Number.MAX_VALUE, 1e300, -0, NaN, Infinity, -Infinity, "1", null) }
)
const ts = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: NOW - 3 * DAY, max: NOW - 3_600_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0, 1_700_000_000, 1.5, NOW + 3 * DAY, 1e20, "2026-13-01", "yesterday", null) }
)
const payload = fc.oneof(
  { weight: 4, arbitrary: fc.record({ ts, values: fc.dictionary(metric, value, { minKeys: 1, maxKeys: 5 }) }).map((p) => ({ json: JSON.stringify(p), msgpack: Codec.encode(p) })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }).map((bytes) => ({ json: new TextDecoder().decode(bytes), msgpack: bytes })) },
  { weight: 1, arbitrary: fc.constantFrom("{\"ts\": 1, \"values\": {\"t\": NaN}}", "{\"values\": {\"t\": 1}", "{}", "[]", "{\"values\": {\"t\": 1e999}}").map((text) => ({ json: text, msgpack: encoder.encode(text) })) }
)

/** One generated publish: NATS (subject-safe ids only) or MQTT (any topic). */
const publishCase = fc.oneof(
  { weight: 3, arbitrary: fc.record({ transport: fc.constant("nats" as const), device: validToken, sensor: validToken, payload }) },
  { weight: 2, arbitrary: fc.record({ transport: fc.constant("mqtt" as const), device: fc.oneof(validToken, hostile), sensor: fc.oneof(validToken, hostile), payload }) }
)

interface Stored {
  readonly seq: number
  readonly subject: string
  readonly data: Uint8Array
  readonly storedAt: number
}

/** Every message READINGS holds. */
const storedReadings = async (nc: NatsConnection): Promise<Array<Stored>> => {
  const jsm = await jetstreamManager(nc)
  const state = (await jsm.streams.info(Subjects.Streams.readings)).state
  const out: Array<Stored> = []
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(Subjects.Streams.readings, { seq })
    if (m !== null) out.push({ seq, subject: m.subject, data: m.data, storedAt: m.time.getTime() })
  }
  return out
}

/** Every dead letter, by the READINGS sequence it refers to. */
const deadLetters = async (nc: NatsConnection) => {
  const jsm = await jetstreamManager(nc)
  const state = (await jsm.streams.info(Subjects.Streams.deadLetter)).state
  const bySeq = new Map<number, Array<{ reason: string; message: string }>>()
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(Subjects.Streams.deadLetter, { seq })
    if (m === null) continue
    const entry = readDeadLetter(m.data)
    const list = bySeq.get(entry.streamSeq ?? -1) ?? []
    list.push({ reason: entry.reason, message: entry.message })
    bySeq.set(entry.streamSeq ?? -1, list)
  }
  return bySeq
}

describe("security - hostile input through a node", () => {
  it.live("every refusal is dead-lettered with its reason, every accepted reading is stored exactly, with no write error and no crash", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-fuzz-node-" })
      const db = yield* startVictoriaMetrics({ dir: join(dir, "vm") })
      const ports = yield* freePorts(4)
      const config = Result.getOrThrow(parseClusterConfig([
        `cluster: { name: fuzz, partitions: 3, dataDir: ${JSON.stringify(join(dir, "data"))} }`,
        `nodes: [{ name: n1, host: 127.0.0.1, httpPort: 0, nats: { port: ${ports[0]}, mqttPort: ${ports[1]}, httpPort: ${ports[2]}, clusterPort: ${ports[3]} } }]`,
        "windows: [{ name: 1m, size: 1m }]",
        "processing: { idleAdvance: 1s, checkpointInterval: 300ms, allowedLateness: 1s }",
        `sink: { kind: influx-v2, url: ${JSON.stringify(db.url)} }`
      ].join("\n")))
      const node: RunningNode = yield* startNode({ config, node: "n1" })
      const nc = yield* Effect.acquireRelease(Effect.promise(() => connect({ servers: node.natsUrl })), (c) => Effect.promise(() => c.close()))
      yield* Effect.promise(() =>
        waitFor(() => [0, 1, 2].every((p) => node.clusterView.owns(p)), { timeoutMs: 60_000, label: "the node owning its partitions" })
      )

      const cases = fc.sample(publishCase, { numRuns: 400, seed: 20261121 })
      yield* Effect.promise(async () => {
        const js = jetstream(nc)
        const client = await mqtt.connectAsync(node.mqttUrl!, { reconnectPeriod: 0, clean: true, protocolVersion: 4 })
        let mqttClient = client
        for (const c of cases) {
          if (c.transport === "nats") {
            await js.publish(Subjects.ingestSubject(c.device, c.sensor), c.payload.msgpack)
            continue
          }
          // A topic nats-server cannot take (a space, a wildcard) costs the connection: go on with a new one.
          if (!mqttClient.connected) mqttClient = await mqtt.connectAsync(node.mqttUrl!, { reconnectPeriod: 0, clean: true, protocolVersion: 4 })
          const current = mqttClient
          await Promise.race([
            current.publishAsync(`ingest/${c.device}/${c.sensor}`, c.payload.json, { qos: 1 }).catch(() => undefined),
            new Promise<void>((resolve) => current.once("close", () => resolve())),
            new Promise((resolve) => setTimeout(resolve, 10_000))
          ])
        }
        // A sentinel on a fresh connection, after everything else.
        if (!mqttClient.connected) mqttClient = await mqtt.connectAsync(node.mqttUrl!, { reconnectPeriod: 0, clean: true, protocolVersion: 4 })
        await mqttClient.publishAsync("ingest/sentinel/env", JSON.stringify({ ts: NOW - 60_000, values: { done: 1 } }), { qos: 1 })
        await mqttClient.endAsync(true)
        await client.endAsync(true).catch(() => undefined)
      })

      // Everything processed: the sentinel is stored, and every partition consumer has acknowledged all.
      yield* Effect.promise(() => waitFor(() => readRawPoints({ kind: "victoria-metrics", url: db.url }), { until: (p) => p.some((x) => x.device === "sentinel"), timeoutMs: 120_000, label: "the sentinel in the database" }))
      yield* Effect.promise(() =>
        waitFor(async () => {
          const jsm = await jetstreamManager(nc)
          return Promise.all([0, 1, 2].map((p) => jsm.consumers.info(Subjects.Streams.readings, `bramble-p${p}`)))
        }, { until: (infos) => infos.every((i) => i.num_pending === 0 && i.num_ack_pending === 0), timeoutMs: 120_000, label: "all acknowledged" })
      )

      const stored = yield* Effect.promise(() => storedReadings(nc))
      const dead = yield* Effect.promise(() => deadLetters(nc))
      const points = yield* Effect.promise(() => readRawPoints({ kind: "victoria-metrics", url: db.url }))
      const pointKeys = new Map(points.map((p) => [`${p.device}/${p.sensor}@${p.ts}`, p]))
      const expectedKeys = new Set<string>()
      const tally = { accepted: 0, refused: 0, badSubject: 0 }
      for (const m of stored) {
        const where = Subjects.parseReadingsSubject(m.subject)
        const letters = dead.get(m.seq) ?? []
        if (where === undefined) {
          tally.badSubject++
          assert.deepStrictEqual(letters.map((l) => l.reason), ["BadSubject"], `${m.subject} (seq ${m.seq})`)
          continue
        }
        const decoded = decodeReading(m.data, where.device, where.sensor, m.storedAt)
        if (Result.isFailure(decoded)) {
          tally.refused++
          assert.deepStrictEqual(letters.map((l) => l.reason), [decoded.failure.reason], `seq ${m.seq}: ${decoded.failure.message}`)
          assert.isTrue(letters.every((l) => l.message.length > 0))
          continue
        }
        tally.accepted++
        const r = decoded.success
        const key = `${r.device}/${r.sensor}@${r.ts}`
        expectedKeys.add(key)
        assert.isTrue(letters.every((l) => l.reason === "TooLate"), `accepted seq ${m.seq} dead-lettered as ${letters.map((l) => l.reason)}`)
        const point = pointKeys.get(key)
        assert.isDefined(point, `accepted reading ${key} is not in the database`)
      }
      // The database holds exactly the accepted readings (the last write of a key wins), nothing else.
      assert.deepStrictEqual([...pointKeys.keys()].sort(), [...expectedKeys].sort())
      // The generator reached every side.
      assert.isAbove(tally.accepted, 100)
      assert.isAbove(tally.refused, 30)

      const status = yield* Effect.promise(async () => (await nc.request(Admin.adminNodeSubject("n1", Admin.AdminCalls.status.name), "{}", { timeout: 10_000 })).json<{
        storage: { writeFailures: number; pointsRejected: number }
        totals: { received: number; rejected: number }
      }>())
      assert.strictEqual(status.storage.writeFailures, 0, "database write errors")
      assert.strictEqual(status.storage.pointsRejected, 0, "points the database refused")
      assert.strictEqual(status.totals.received, stored.length)
      assert.strictEqual(status.totals.rejected, tally.refused + tally.badSubject)
      const actors = yield* Effect.promise(async () => (await nc.request(Admin.adminNodeSubject("n1", Admin.AdminCalls.actors.name), "{}", { timeout: 10_000 })).json<{ actors: Array<{ name: string; restarts: number }> }>())
      for (const actor of actors.actors) assert.strictEqual(actor.restarts, 0, `${actor.name} restarted`)
    })))

  // KNOWN GAP, kept as a reproducer. nats-server 2.9 takes `\n`, `\r` and `\t` inside an MQTT
  // topic level and stores them in the subject; when JetStream delivers that message, the
  // subject breaks the MSG protocol line and nats.js drops the connection ("processHeaderMsgArgs
  // Parse Error"), again at every redelivery, so a partition consumer never gets past it (a
  // node stops processing; its lease renewals and heartbeats time out). Permissions cannot
  // prevent it: a device's own `readings.<p>.<id>.*` matches `a\nb` as one token. Shown here
  // with the node's kind of consumer (durable, explicit acks) on a secured server, which is
  // quick to stop; the fix belongs in the node's consumer path or the server. Once fixed,
  // make this `it.live`.
  it.live.fails("KNOWN GAP - a consumer reads past a device's MQTT topic with a line break", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-poison-" })
      const credentials = join(dir, "credentials")
      const ports = yield* freePorts(4)
      const config = Result.getOrThrow(parseClusterConfig([
        `cluster: { name: poison, partitions: 1, dataDir: ${JSON.stringify(join(dir, "data"))} }`,
        `nodes: [{ name: n1, host: 127.0.0.1, nats: { port: ${ports[0]}, mqttPort: ${ports[1]}, httpPort: ${ports[2]}, clusterPort: ${ports[3]} } }]`,
        "sink: { kind: influx-v2, url: \"http://127.0.0.1:1\" }",
        `security: { credentials: ${JSON.stringify(credentials)}, devices: [{ id: dev-a }] }`
      ].join("\n")))
      yield* generateCredentials({ config, out: credentials, cost: 4 })
      const server = yield* startNatsServer({ dir: join(dir, "nats"), spec: natsSpecForNode(config, "n1", { security: (yield* loadServerSecurity(config, "n1"))! })! })
      const password = (file: string) => readFileSync(join(credentials, file), "utf8").trim()
      const seen = yield* Effect.promise(async () => {
        const nc = await connect({ servers: server.url, user: "node:n1", pass: password("nodes/n1.password"), reconnect: false })
        try {
          const jsm = await jetstreamManager(nc)
          await jsm.streams.add({ name: "R", subjects: ["readings.*.*.*"] })
          await jsm.consumers.add("R", { durable_name: "p0", ack_policy: AckPolicy.Explicit })
          const a = await mqtt.connectAsync(server.mqttUrl, { username: "device:dev-a", password: password("devices/dev-a.password"), reconnectPeriod: 0, protocolVersion: 4 })
          await a.publishAsync("ingest/dev-a/line\nbreak", JSON.stringify({ values: { t: 1 } }), { qos: 1 })
          await a.publishAsync("ingest/dev-a/after", JSON.stringify({ values: { t: 2 } }), { qos: 1 })
          await a.endAsync()
          await waitFor(async () => (await jsm.streams.info("R")).state.messages, { until: (n) => n === 2, timeoutMs: 10_000, label: "both stored" })
          const consumer = await jetstream(nc).consumers.get("R", "p0")
          const subjects: Array<string> = []
          const batch = await consumer.fetch({ max_messages: 10, expires: 3_000 })
          for await (const m of batch) {
            subjects.push(m.subject)
            m.ack()
          }
          return subjects
        } finally {
          await nc.close().catch(() => undefined)
        }
      })
      assert.include(seen, "readings.0.dev-a.after")
    })))
})
