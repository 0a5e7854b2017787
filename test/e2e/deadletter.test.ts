/**
 * Bad input against a real `bramble node`: every refused message lands in DEADLETTER once,
 * with its reason, subject and original bytes; the database holds exactly the good readings
 * (raw points and windows equal the oracle's for the good readings alone); the node counts
 * the refusals and keeps processing good readings published after them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Codec, type RejectionReason, Subjects } from "@bramble/protocol"
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { connectAsync } from "mqtt"
import {
  checkExactlyOnce,
  compareWindows,
  expectedWindows,
  makeReadings,
  mqttPayload,
  publishMqtt,
  type TestReading,
  waitFor
} from "../support/index.js"
import { readDeadLetters, type StoredDeadLetter } from "../support/DeadLetters.js"
import { WAIT_MS, WINDOWS, promise, settled, startNodeOnVictoria, withNodeLog } from "../support/SystemTest.js"

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE
const encoder = new TextEncoder()

/** One bad message: where it goes, its exact bytes, and the reason Bramble must give. */
interface BadMessage {
  readonly what: string
  readonly transport: "mqtt" | "nats"
  /** MQTT topic or NATS subject. */
  readonly target: string
  readonly payload: Uint8Array
  readonly reason: RejectionReason
}

const json = (value: unknown) => encoder.encode(JSON.stringify(value))

/** The bad messages, each with unique bytes so its dead letter can be told apart. */
const badMessages = (devices: ReadonlyArray<string>, now: number): Array<BadMessage> => {
  const ts = now - 4 * MINUTE
  const device = (i: number) => devices[i % devices.length]!
  const mqtt = (what: string, i: number, payload: Uint8Array, reason: RejectionReason): BadMessage => ({
    what,
    transport: "mqtt",
    target: Subjects.ingestTopic(device(i), "env"),
    payload,
    reason
  })
  const nats = (what: string, i: number, payload: Uint8Array, reason: RejectionReason): BadMessage => ({
    what,
    transport: "nats",
    target: Subjects.ingestSubject(device(i), "env"),
    payload,
    reason
  })
  const onTopic = (what: string, topic: string, n: number): BadMessage => ({
    what,
    transport: "mqtt",
    target: topic,
    payload: json({ ts: ts + n, values: { temperature: 20 + n } }),
    reason: "BadSubject"
  })
  return [
    mqtt("malformed JSON", 0, encoder.encode(`{"ts": ${ts}, "values": {"temperature": 21.5}`), "MalformedJson"),
    mqtt("a bare NaN in JSON", 1, encoder.encode(`{"ts": ${ts + 1}, "values": {"temperature": NaN}}`), "MalformedJson"),
    mqtt("wrong type: a string value", 2, json({ ts: ts + 2, values: { t: "hot" } }), "SchemaMismatch"),
    mqtt("the JSON string \"NaN\"", 3, json({ ts: ts + 3, values: { temperature: "NaN" } }), "SchemaMismatch"),
    mqtt("missing values", 4, json({ ts: ts + 4, seq: 4 }), "SchemaMismatch"),
    mqtt("no values at all", 5, json({ ts: ts + 5, values: {} }), "SchemaMismatch"),
    mqtt("seconds instead of milliseconds", 0, json({ ts: Math.floor((ts + 6_000) / 1000), values: { temperature: 20 } }), "TimestampOutOfRange"),
    mqtt("three days in the future", 1, json({ ts: now + 3 * DAY, values: { temperature: 20 } }), "TimestampOutOfRange"),
    mqtt("an ISO time that is not a time", 2, json({ ts: "yesterday", values: { temperature: 20 } }), "TimestampOutOfRange"),
    mqtt("oversized payload (17 KiB)", 3, json({ ts: ts + 7, values: { temperature: 20 }, pad: "x".repeat(17 * 1024) }), "Oversized"),
    mqtt("a payload naming another device", 4, json({ device: device(5), ts: ts + 8, values: { temperature: 20 } }), "DeviceMismatch"),
    mqtt("tag injection in a metric name", 5, json({ ts: ts + 9, values: { "t,device=x": 1 } }), "SchemaMismatch"),
    mqtt("line-protocol injection in a metric name", 0, json({ ts: ts + 10, values: { "t=1 x=2\nreading,device=evil t": 1 } }), "SchemaMismatch"),
    onTopic("tag injection in the device id", "ingest/dev,device=x/env", 11),
    onTopic("a device id outside [A-Za-z0-9_-]", "ingest/dev@1/env", 12),
    onTopic("a wildcard in the device id", "ingest/dev*/env", 13),
    onTopic("an empty device id", "ingest//env", 14),
    nats("NaN via msgpack", 1, Codec.encode({ ts: ts + 15, values: { temperature: Number.NaN } }), "SchemaMismatch"),
    nats("Infinity via msgpack", 2, Codec.encode({ ts: ts + 16, values: { temperature: Number.POSITIVE_INFINITY } }), "SchemaMismatch"),
    nats("truncated msgpack", 3, Uint8Array.from([0x82, 0xa2, 0x74]), "MalformedMsgpack"),
    nats("msgpack that is not a map", 4, Uint8Array.from([0x05]), "SchemaMismatch")
  ]
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b))

describe("dead letters - bramble node", () => {
  it.live("bad input is dead-lettered with its reason and harms nothing", () =>
    Effect.gen(function*() {
      const { db, node } = yield* startNodeOnVictoria("bramble-deadletter-")

      yield* withNodeLog(
        node,
        Effect.gen(function*() {
          const now = Date.now()
          const good = makeReadings({ devices: 6, perDevice: 80, startMs: now - 5 * MINUTE, stepMs: 100, seed: 21 })
          const devices = [...new Set(good.map((r) => r.device))]
          const bad = badMessages(devices, now)
          const badMqtt = bad.filter((b) => b.transport === "mqtt")
          const badNats = bad.filter((b) => b.transport === "nats")

          // Phase 1: good and bad interleaved on one MQTT connection (so in order), the
          // msgpack ones over JetStream in the middle of it.
          const client = yield* promise(() => connectAsync(node.mqttUrl, { protocolVersion: 4, clean: true, reconnectPeriod: 0 }))
          const every = Math.floor(good.length / (badMqtt.length + 1))
          const pubacks: Array<Promise<unknown>> = []
          const acknowledged: Array<TestReading> = []
          let nextBad = 0
          for (const [i, reading] of good.entries()) {
            pubacks.push(client.publishAsync(Subjects.ingestTopic(reading.device, reading.sensor), mqttPayload(reading), { qos: 1 }).then(() => acknowledged.push(reading)))
            if ((i + 1) % every === 0 && nextBad < badMqtt.length) {
              const b = badMqtt[nextBad++]!
              pubacks.push(client.publishAsync(b.target, Buffer.from(b.payload), { qos: 1 }))
            }
            if (i === Math.floor(good.length / 2)) {
              const nc = yield* promise(() => connect({ servers: node.natsUrl }))
              const js = jetstream(nc)
              for (const b of badNats) yield* promise(() => js.publish(b.target, b.payload))
              yield* promise(() => nc.close())
            }
          }
          yield* promise(() => Promise.all(pubacks))
          assert.strictEqual(nextBad, badMqtt.length)
          assert.strictEqual(acknowledged.length, good.length)
          yield* promise(() => client.endAsync())

          // A topic level with a space cannot become a subject token: nats-server 2.9 closes
          // the connection instead of PUBACKing. If a server ever accepts it, it must be
          // dead-lettered like any other bad subject.
          const spacePayload = json({ ts: now - 4 * MINUTE + 99, values: { temperature: 20 } })
          const spaceClient = yield* promise(() => connectAsync(node.mqttUrl, { protocolVersion: 4, clean: true, reconnectPeriod: 0 }))
          const spaceAcked = yield* promise(() =>
            Promise.race([
              spaceClient.publishAsync("ingest/dev 1/env", Buffer.from(spacePayload), { qos: 1 }).then(() => true, () => false),
              new Promise<boolean>((resolve) => spaceClient.once("close", () => resolve(false))),
              new Promise<boolean>((resolve) => setTimeout(resolve, 10_000, false))
            ])
          )
          yield* promise(() => spaceClient.endAsync(true))
          const expectedBad: Array<BadMessage> = spaceAcked
            ? [...bad, { what: "a space in the device id", transport: "mqtt", target: "ingest/dev 1/env", payload: spacePayload, reason: "BadSubject" }]
            : bad

          // Every bad message is dead-lettered exactly once, with its reason and bytes.
          yield* promise(() =>
            waitFor(() => readDeadLetters(node.natsUrl), {
              until: (entries) => entries.length >= expectedBad.length,
              timeoutMs: WAIT_MS,
              intervalMs: 500,
              show: (entries) => `${entries.length} dead letters: ${entries.map((e) => e.entry.reason).join(", ")}`,
              label: `${expectedBad.length} dead letters`
            })
          )

          // Phase 2: good readings published after the bad ones were refused must flow as before.
          // Later event times: idle advance has moved the watermark on meanwhile.
          // Each device's seq goes on from phase 1 (0..79): a jump would be a Gap, and no
          // dead letter but the bad messages' may appear (refused messages are no gap).
          const after = makeReadings({ devices, perDevice: 40, startMs: Date.now() - 2 * MINUTE, stepMs: 100, seed: 22, seqStart: 80 })
          const phase2 = yield* promise(() => publishMqtt(node.mqttUrl, after, { qos: 1 }))
          assert.strictEqual(phase2.failed.length, 0, JSON.stringify(phase2.failed.slice(0, 3)))

          const published = [...good, ...after]
          const expected = expectedWindows(published, WINDOWS)
          const stored = yield* settled(node, db, { raw: published.length, windows: expected.length }, expected)

          const letters = yield* promise(() => readDeadLetters(node.natsUrl))
          const unmatched: Array<StoredDeadLetter> = []
          const found = new Map<BadMessage, Array<StoredDeadLetter>>()
          for (const letter of letters) {
            const b = expectedBad.find((m) => sameBytes(m.payload, letter.entry.payload))
            if (b === undefined) unmatched.push(letter)
            else found.set(b, [...(found.get(b) ?? []), letter])
          }
          const show = (l: StoredDeadLetter) => `${l.entry.reason} ${l.entry.subject}: ${l.entry.message}`
          assert.deepStrictEqual(unmatched.map(show), [], "dead letters for messages that were not bad")
          for (const b of expectedBad) {
            const mine = found.get(b) ?? []
            assert.strictEqual(mine.length, 1, `${b.what}: expected one dead letter, got ${mine.length}: ${mine.map(show).join(" | ")}`)
            const letter = mine[0]!
            assert.strictEqual(letter.entry.reason, b.reason, `${b.what}: ${show(letter)}`)
            assert.strictEqual(letter.subject, Subjects.deadLetterSubject(b.reason), b.what)
            assert.isNotEmpty(letter.entry.message, b.what)
            assert.isNumber(letter.entry.streamSeq, b.what)
            // The stored subject names the partition and the device the message came in on.
            const ingest = b.transport === "mqtt" ? b.target.split("/") : b.target.split(".")
            assert.match(letter.entry.subject, /^readings\.\d+\./, b.what)
            assert.isTrue(letter.entry.subject.endsWith(`.${ingest[1] === "" ? "/" : ingest[1]}.${ingest[2]}`), `${b.what}: ${letter.entry.subject}`)
          }

          // The database holds exactly the good readings, and their windows are the oracle's.
          const once = checkExactlyOnce(published, stored.raw)
          assert.isTrue(once.ok, once.text)
          const diff = compareWindows(expected, stored.windows)
          assert.isTrue(diff.ok, diff.text)

          const status = yield* promise(() => node.status())
          assert.strictEqual(status.totals.rejected, expectedBad.length, JSON.stringify(status.totals))
          assert.strictEqual(status.totals.accepted, published.length, JSON.stringify(status.totals))
          assert.strictEqual(status.totals.received, published.length + expectedBad.length, JSON.stringify(status.totals))
          assert.strictEqual(status.totals.tooLate, 0, JSON.stringify(status.totals))
          assert.strictEqual(status.storage.pointsRejected, 0, JSON.stringify(status.storage))
          console.log(
            `dead letters: ${letters.length} (${[...new Set(letters.map((l) => l.entry.reason))].join(", ")}); ` +
              `space in a topic level ${spaceAcked ? "PUBACKed and dead-lettered" : "refused by nats-server (connection closed)"}; ` +
              `${stored.raw.length} raw points, ${stored.windows.length} window rows`
          )
        })
      )
    }))
})
