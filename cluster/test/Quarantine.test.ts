/**
 * Setting aside undeliverable messages (../src/partition/Quarantine.ts) against a real
 * nats-server (2.9.10 here) fed by a real MQTT client: a device's topic with a line break or
 * a tab is stored by the server, stalls the connection it is delivered on, and is
 * dead-lettered and deleted by the check — and nothing else is touched.
 */
import { assert, describe, it } from "@effect/vitest"
import { consumerName, NatsClient, resetPartitionConsumer } from "@bramble/nats"
import { readDeadLetter, Subjects } from "@bramble/protocol"
import { Cause, Effect, Exit } from "effect"
import mqtt from "mqtt"
import { makePartitionStats } from "../src/partition/PartitionStats.js"
import { ownConsumerConnection, setAsideStalled, setAsideUndeliverable } from "../src/partition/Quarantine.js"
import { eventually } from "../../test/support/Eventually.js"
import { natsFixture } from "../../test/support/NatsFixture.js"

const encoder = new TextEncoder()

/** One partition, the four streams, and `topics` published in order over MQTT (QoS 1). */
const withReadings = <A, E>(topics: ReadonlyArray<string>, use: (server: { readonly url: string }) => Effect.Effect<A, E, NatsClient>) =>
  Effect.gen(function*() {
    const { server, client } = yield* natsFixture({ name: "quarantine", partitions: 1, topology: true })
    yield* Effect.promise(async () => {
      const device = await mqtt.connectAsync(server.mqttUrl, { protocolVersion: 4, reconnectPeriod: 0, clean: true })
      for (const [i, topic] of topics.entries()) await device.publishAsync(topic, payloadOf(i), { qos: 1 })
      await device.endAsync()
    })
    const stored = yield* Effect.promise(() => client.jsm.streams.info(Subjects.Streams.readings))
    assert.strictEqual(stored.state.messages, topics.length, "the server stores every topic, the bad ones too")
    return yield* Effect.provideService(use(server), NatsClient, client)
  }).pipe(Effect.scoped)

const payloadOf = (i: number) => JSON.stringify({ ts: 1_700_000_000_000 + i * 1000, values: { t: i } })

/** READINGS sequences still stored, and every dead letter. */
const streams = Effect.gen(function*() {
  const { jsm } = yield* NatsClient
  return yield* Effect.promise(async () => {
    const readings: Array<number> = []
    const info = (await jsm.streams.info(Subjects.Streams.readings)).state
    for (let seq = info.first_seq; seq <= info.last_seq; seq++) {
      const m = await jsm.streams.getMessage(Subjects.Streams.readings, { seq }).catch(() => null)
      if (m !== null) readings.push(seq)
    }
    const dead = (await jsm.streams.info(Subjects.Streams.deadLetter)).state
    const letters = []
    for (let seq = dead.first_seq; seq <= dead.last_seq && dead.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(Subjects.Streams.deadLetter, { seq })
      if (m !== null) letters.push({ storedAs: m.subject, letter: readDeadLetter(m.data) })
    }
    return { readings, letters }
  })
})

describe("Quarantine - undeliverable MQTT topics", () => {
  it.live("a line break and a tab between good readings: both dead-lettered as BadSubject and deleted, the good ones untouched", () =>
    withReadings(["ingest/dev-a/env", "ingest/dev-a/line\nbreak", "ingest/dev-a/tab\tbreak", "ingest/dev-a/env"], () =>
      Effect.gen(function*() {
        // The next message after 0 is a good one: nothing to do.
        assert.deepStrictEqual(yield* setAsideUndeliverable({ partition: 0, afterSeq: 0 }), [])
        // After 1 come two bad ones in a row, then a good one.
        assert.deepStrictEqual(yield* setAsideUndeliverable({ partition: 0, afterSeq: 1 }), [2, 3])
        const { readings, letters } = yield* streams
        assert.deepStrictEqual(readings, [1, 4])
        // Stored under deadletter.BadSubject, with the subject escaped (it prints on one line),
        // the READINGS sequence and the bytes the device sent.
        assert.deepStrictEqual(letters.map((l) => [l.storedAs, l.letter.reason, l.letter.streamSeq, l.letter.subject]), [
          ["deadletter.BadSubject", "BadSubject", 2, "readings.0.dev-a.line\\nbreak"],
          ["deadletter.BadSubject", "BadSubject", 3, "readings.0.dev-a.tab\\tbreak"]
        ])
        assert.deepStrictEqual([...letters[0]!.letter.payload], [...encoder.encode(payloadOf(1))])
        assert.deepStrictEqual([...letters[1]!.letter.payload], [...encoder.encode(payloadOf(2))])
        assert.match(letters[0]!.letter.message, /white space that breaks the NATS client protocol/)
        // Checking again changes nothing; nor does a check past the end.
        assert.deepStrictEqual(yield* setAsideUndeliverable({ partition: 0, afterSeq: 1 }), [])
        assert.deepStrictEqual(yield* setAsideUndeliverable({ partition: 0, afterSeq: 4 }), [])
        assert.deepStrictEqual((yield* streams).letters.length, 2)
      })
    ))

  it.live("a consumer stalled by one stalls only its own connection; after the check a fresh consumer reads past it", () =>
    withReadings(["ingest/dev-a/env", "ingest/dev-a/line\nbreak", "ingest/dev-a/after"], (server) =>
      Effect.gen(function*() {
        const node = yield* NatsClient
        yield* resetPartitionConsumer(node.jsm, 0, 1)
        const stats = makePartitionStats(0)
        // First run: delivery on a connection of its own gets the good message, then stalls.
        const first = yield* Effect.scoped(Effect.gen(function*() {
          const js = yield* ownConsumerConnection({ servers: server.url, name: "quarantine-test-p0" })
          const consumer = yield* Effect.promise(() => js.consumers.get(Subjects.Streams.readings, consumerName(0)))
          const seen: Array<string> = []
          yield* Effect.promise(() => consumer.consume({ max_messages: 10, callback: (m) => seen.push(m.subject) }))
          // The node's own connection answers throughout (it is the one that must never stall).
          const info = yield* eventually(
            "the server delivering all three messages",
            Effect.promise(() => node.jsm.consumers.info(Subjects.Streams.readings, consumerName(0))),
            (i) => i.delivered.stream_seq === 3 && seen.length > 0,
            { timeoutMs: 30_000, intervalMs: 200 }
          )
          assert.strictEqual(info.delivered.stream_seq, 3, "the server delivered everything")
          assert.deepStrictEqual(seen, ["readings.0.dev-a.env"], "the client received only what came before the bad subject")
          // The worker's check, with the last sequence it received: sets the bad one aside and fails.
          const exit = yield* Effect.exit(setAsideStalled(0, 1, stats))
          assert.isTrue(Exit.isFailure(exit))
          const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
          assert.strictEqual((error as { _tag?: string })._tag, "UndeliverableSetAside")
          assert.deepStrictEqual((error as { sequences?: ReadonlyArray<number> }).sequences, [2])
          return seen
        }).pipe(
          // Closing a stalled connection must not hang (a drain would).
          Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.die(new Error("closing the stalled consumer connection hung")) })
        ))
        assert.deepStrictEqual(first, ["readings.0.dev-a.env"])
        assert.strictEqual(stats.received, 1)
        assert.strictEqual(stats.rejected, 1)
        // With nothing to set aside, the check succeeds and counts nothing.
        yield* setAsideStalled(0, 1, stats)
        assert.strictEqual(stats.rejected, 1)

        // The restart: the consumer recreated after the checkpoint (1), on a fresh connection.
        yield* resetPartitionConsumer(node.jsm, 0, 2)
        const second = yield* Effect.scoped(Effect.gen(function*() {
          const js = yield* ownConsumerConnection({ servers: server.url, name: "quarantine-test-p0" })
          const consumer = yield* Effect.promise(() => js.consumers.get(Subjects.Streams.readings, consumerName(0)))
          const batch = yield* Effect.promise(() => consumer.fetch({ max_messages: 10, expires: 2_000 }))
          const seen: Array<string> = []
          yield* Effect.promise(async () => {
            for await (const m of batch) seen.push(m.subject)
          })
          return seen
        }))
        assert.deepStrictEqual(second, ["readings.0.dev-a.after"])
      })
    ))
})
