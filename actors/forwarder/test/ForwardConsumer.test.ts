/**
 * A forward target's durable consumer against a real nats-server: created once by whichever
 * node comes first, explicit acknowledgements, limits brought up to date, and where a new
 * target starts.
 */
import { assert, describe, it } from "@effect/vitest"
import { ensureForwardConsumer, forwardConsumerName, type NatsClient } from "@bramble/nats"
import { encodeReadingPayload, Subjects } from "@bramble/protocol"
import { AckPolicy } from "@nats-io/jetstream"
import { Effect } from "effect"
import { withNats } from "../../../test/support/NatsFixture.js"

const withServer = <A, E>(use: (client: NatsClient["Service"]) => Effect.Effect<A, E, NatsClient>) =>
  withNats({ name: "fwd-consumer", topology: true }, ({ client }) => use(client))

const spec = (target: string, startFrom: "new" | "all", ackWaitMs = 30_000) => ({
  target,
  stream: Subjects.Streams.readings,
  filterSubject: Subjects.READINGS_SUBJECTS[0]!,
  ackWaitMs,
  maxAckPending: 200,
  startFrom
})

describe("forward consumer on nats-server", () => {
  it.live("created once even when nodes race; explicit acks; limits updated; new starts after what is stored, all before", () =>
    withServer((client) =>
      Effect.gen(function*() {
        const { js, jsm } = client
        for (let i = 0; i < 3; i++) {
          yield* Effect.promise(() => js.publish(Subjects.ingestSubject("dev-1", "env"), encodeReadingPayload({ values: { t: i } })))
        }
        // Three nodes starting together.
        const raced = yield* Effect.all([0, 1, 2].map(() => ensureForwardConsumer(jsm, spec("tb", "new"))), { concurrency: "unbounded" })
        assert.deepStrictEqual(raced.map((i) => i.name), ["bramble-fwd-tb", "bramble-fwd-tb", "bramble-fwd-tb"])
        const info = raced[0]!
        assert.strictEqual(info.config.ack_policy, AckPolicy.Explicit)
        assert.strictEqual(info.config.filter_subject, "readings.*.*.*")
        assert.strictEqual(info.config.max_ack_pending, 200)
        assert.strictEqual(info.num_pending, 0, "a new target starts with what arrives from now on")

        const updated = yield* ensureForwardConsumer(jsm, { ...spec("tb", "all", 45_000), maxAckPending: 300 })
        assert.strictEqual(updated.config.ack_wait, 45_000 * 1_000_000)
        assert.strictEqual(updated.config.max_ack_pending, 300)
        assert.strictEqual(updated.config.deliver_policy, info.config.deliver_policy, "where it starts is decided at creation only")

        const all = yield* ensureForwardConsumer(jsm, spec("archive", "all"))
        assert.strictEqual(all.name, forwardConsumerName("archive"))
        assert.strictEqual(all.num_pending, 3, "`all` starts with everything the stream holds")
      })
    ))
})
