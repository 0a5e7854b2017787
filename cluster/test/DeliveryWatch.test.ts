/**
 * Noticing a consumer that stopped delivering (../src/partition/DeliveryWatch.ts): the
 * verdict on the server's figures, and the NATS source against a real nats-server whose
 * consumer lost the client's pull request (deleted and made again under the running
 * `consume()`, as a reset does): nats.js waits for two missed heartbeats (30 s) and then
 * some; the source restarts the run once the limit passes.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsClient, resetPartitionConsumer } from "@bramble/nats"
import { Subjects } from "@bramble/protocol"
import { Effect, Exit } from "effect"
import { DeliveryWatch } from "../src/partition/DeliveryWatch.js"
import { makePartitionStats } from "../src/partition/PartitionStats.js"
import { natsPartitionSource } from "../src/partition/Source.js"
import { withNats } from "../../test/support/NatsFixture.js"

const pending = (numPending: number, numAckPending = 0, maxAckPending = 800, processedUnacked = numAckPending) => ({ numPending, numAckPending, maxAckPending, processedUnacked })

describe("DeliveryWatch", () => {
  it("stalled once deliverable messages wait the whole limit with nothing delivered", () => {
    const watch = new DeliveryWatch(10_000)
    assert.strictEqual(watch.observe(0, 5, pending(3)), undefined)
    assert.strictEqual(watch.observe(9_999, 5, pending(3)), undefined)
    assert.strictEqual(watch.observe(10_000, 5, pending(4)), 10_000)
  })

  it("a delivery, an empty log, or a consumer at its max_ack_pending starts the count again", () => {
    const watch = new DeliveryWatch(10_000)
    watch.observe(0, 5, pending(3))
    // Something came: the server is delivering.
    assert.strictEqual(watch.observe(8_000, 6, pending(3)), undefined)
    assert.strictEqual(watch.observe(17_000, 6, pending(3)), undefined)
    assert.strictEqual(watch.observe(18_000, 6, pending(3)), 10_000)
    // Nothing pending: not stalled, whatever the time.
    assert.strictEqual(watch.observe(19_000, 6, pending(0)), undefined)
    assert.strictEqual(watch.observe(40_000, 6, pending(0)), undefined)
    // Held by the worker (a slow database: every delivered message awaits its ack): the
    // server may not deliver, so it is not stalled.
    assert.strictEqual(watch.observe(41_000, 6, pending(500, 800)), undefined)
    assert.strictEqual(watch.observe(90_000, 6, pending(500, 800)), undefined)
  })

  it("delivered messages the worker never got (lost in flight) count as held; those it processed and has not acknowledged yet do not", () => {
    const watch = new DeliveryWatch(10_000)
    // 40 awaiting acknowledgement, all processed (a checkpoint on its way): not stalled.
    assert.strictEqual(watch.observe(0, 5, pending(0, 40, 800, 40)), undefined)
    assert.strictEqual(watch.observe(20_000, 5, pending(0, 40, 800, 40)), undefined)
    // 40 awaiting acknowledgement, 10 of them processed: 30 never arrived.
    assert.strictEqual(watch.observe(21_000, 5, pending(0, 40, 800, 10)), undefined)
    assert.strictEqual(watch.observe(31_000, 5, pending(0, 40, 800, 10)), 10_000)
  })

  it("an unreadable info (no consumer leader yet) proves nothing and keeps the count", () => {
    const watch = new DeliveryWatch(10_000)
    watch.observe(0, 0, pending(3))
    assert.strictEqual(watch.observe(6_000, 0, undefined), undefined)
    assert.strictEqual(watch.observe(11_000, 0, pending(3)), 11_000)
  })

  it.live("the NATS source: a consumer that lost its pull request fails the run with DeliveryStalled; an idle or a held one does not", () =>
    withNats({ name: "delivery-watch", partitions: 1, topology: true }, () =>
      Effect.gen(function*() {
        const { js, jsm } = yield* NatsClient
        const publish = (seq: number) =>
          Effect.promise(() => js.publish(Subjects.readingsSubject(0, "dev-a", "env"), JSON.stringify({ ts: 1_700_000_000_000 + seq * 1000, values: { t: seq } })))
        const source = yield* natsPartitionSource({ partition: 0, stats: makePartitionStats(0), limits: { maxPayloadBytes: 16_384, maxFutureSkewMs: 86_400_000, maxClockAheadMs: 60_000 }, batchSize: 100, stallMs: 1_500 })
        // Polls as the worker does after each empty interval, for `ms`: the error, if any.
        const idleFor = (ms: number, lastSeq: number) =>
          Effect.gen(function*() {
            const until = Date.now() + ms
            while (Date.now() < until) {
              const exit = yield* Effect.exit(source.stalled(lastSeq, 0))
              if (Exit.isFailure(exit)) return exit
              yield* Effect.sleep("250 millis")
            }
            return undefined
          })

        for (let seq = 1; seq <= 3; seq++) yield* publish(seq)
        // Held: max_ack_pending 3, all three delivered and not acknowledged, two more pending.
        const batches = yield* source.open(0, 3)
        const first = yield* Effect.promise(() => batches.next(100, 2_000))
        assert.strictEqual(first.length, 3)
        for (let seq = 4; seq <= 5; seq++) yield* publish(seq)
        assert.strictEqual(yield* idleFor(2_500, 3), undefined, "a consumer at its max_ack_pending is held, not stalled")
        first.at(-1)!.ack()
        const rest = yield* Effect.promise(() => batches.next(100, 5_000))
        assert.strictEqual(rest.length, 2, "acknowledged, the server delivers the rest")
        rest.at(-1)!.ack()
        assert.strictEqual(yield* idleFor(2_500, 5), undefined, "an idle consumer with nothing pending is not stalled")

        // The pull request is lost with the consumer; the client is not told (409 Consumer
        // Deleted leaves nats.js waiting for missed heartbeats).
        yield* resetPartitionConsumer(jsm, 0, 6, { maxAckPending: 3 })
        for (let seq = 6; seq <= 7; seq++) yield* publish(seq)
        assert.strictEqual((yield* Effect.promise(() => batches.next(100, 500))).length, 0, "nothing is delivered")
        const exit = yield* idleFor(10_000, 5)
        assert.ok(exit !== undefined && Exit.isFailure(exit), "the source reports the stall within its limit")
        const error = exit.cause.reasons.find((r) => r._tag === "Fail")
        assert.strictEqual((error as { error: { _tag: string } } | undefined)?.error._tag, "DeliveryStalled")
      }).pipe(Effect.scoped)
    ), 60_000)
})
