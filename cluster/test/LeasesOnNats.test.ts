/**
 * The lease and checkpoint compare-and-sets against a real nats-server (2.9.10 here): the
 * semantics the fencing argument rests on, checked where they are implemented.
 */
import { assert, describe, it } from "@effect/vitest"
import { CHECKPOINT_BUCKET, consumerName, ensureClusterBuckets, ensureTopology, kvLeaseStore, NatsClient, resetPartitionConsumer } from "@bramble/nats"
import { Watermark } from "@bramble/actor-aggregator"
import { Codec, Subjects } from "@bramble/protocol"
import { Cause, Clock, Effect, Exit } from "effect"
import { Fence, FencedOut } from "../src/ownership/Fence.js"
import { type DeliveryGap, fencedCheckpoints, fencedNats, type OwnedPartitionCheckpoint } from "../src/ownership/OwnedPorts.js"
import { TEST_STREAM_LIMITS as limits, withNats } from "../../test/support/NatsFixture.js"

const withServer = <A, E>(use: (client: NatsClient["Service"]) => Effect.Effect<A, E, NatsClient>) =>
  withNats({ name: "leases" }, ({ client }) => use(client))

const errorTag = (exit: Exit.Exit<unknown, { readonly _tag: string; readonly reason?: string }>) => {
  if (Exit.isSuccess(exit)) return "success"
  const error = Cause.findErrorOption(exit.cause)
  return error._tag === "Some" ? `${error.value._tag}${error.value.reason === undefined ? "" : `:${error.value.reason}`}` : "defect"
}

const record = (node: string) => ({ node, incarnation: `${node}-1`, claimedAt: Date.now() })

describe("leases on nats-server", () => {
  it.live("leases - claim is exclusive, renew and release need the last revision", () =>
    withServer(() =>
      Effect.gen(function*() {
        const { leases: kv } = yield* ensureClusterBuckets({ replicas: 1, memberTtlMs: 10_000, leaseTtlMs: 60_000 })
        const leases = kvLeaseStore(kv)
        const r1 = yield* leases.claim(0, record("a"))
        assert.strictEqual(errorTag(yield* Effect.exit(leases.claim(0, record("b")))), "LeaseConflict:Held")
        const r2 = yield* leases.renew(0, record("a"), r1)
        assert.isAbove(r2, r1)
        assert.strictEqual(errorTag(yield* Effect.exit(leases.renew(0, record("a"), r1))), "LeaseConflict:Lost", "a stale revision cannot renew")
        assert.strictEqual(errorTag(yield* Effect.exit(leases.release(0, r1))), "LeaseConflict:Lost", "a stale revision cannot release")
        const current = yield* leases.read(0)
        assert.strictEqual(current?.record.node, "a")
        assert.strictEqual(current?.revision, r2)
        yield* leases.release(0, r2)
        assert.isUndefined(yield* leases.read(0))
        // After a release (a delete marker), the next claim succeeds at once.
        const r3 = yield* leases.claim(0, record("b"))
        assert.strictEqual((yield* leases.read(0))?.record.node, "b")
        assert.strictEqual(errorTag(yield* Effect.exit(leases.renew(0, record("a"), r2))), "LeaseConflict:Lost")
        yield* leases.renew(0, record("b"), r3)
      })
    ))

  it.live("leases - an unrenewed lease expires with the bucket TTL; the old holder cannot renew it after", () =>
    withServer(() =>
      Effect.gen(function*() {
        const { leases: kv } = yield* ensureClusterBuckets({ replicas: 1, memberTtlMs: 10_000, leaseTtlMs: 1_000 })
        const leases = kvLeaseStore(kv)
        const r1 = yield* leases.claim(1, record("a"))
        // Poll for the expiry (no timing assertion: it happens once the server ages it out).
        let claimed: number | undefined
        for (let i = 0; i < 200 && claimed === undefined; i++) {
          yield* Effect.sleep("100 millis")
          const exit = yield* Effect.exit(leases.claim(1, record("b")))
          if (Exit.isSuccess(exit)) claimed = exit.value
        }
        assert.isDefined(claimed, "the lease never expired")
        assert.strictEqual(errorTag(yield* Effect.exit(leases.renew(1, record("a"), r1))), "LeaseConflict:Lost")
      })
    ))

  it.live("checkpoints - a stale owner's checkpoint writes fail once the new owner took over", () =>
    withServer((client) =>
      Effect.gen(function*() {
        yield* ensureTopology({ replicas: 1, readings: limits, aggregates: limits, alarms: limits, deadLetter: limits })
        const kv = yield* Effect.promise(() => client.kvm.open(CHECKPOINT_BUCKET))
        const clock = yield* Clock.Clock
        const fenceA = new Fence(2, clock, 60_000, clock.monotonicTimeNanosUnsafe())
        const fenceB = new Fence(2, clock, 60_000, clock.monotonicTimeNanosUnsafe())
        const a = fencedCheckpoints(kv, fenceA, { node: "a", incarnation: "a-1", lease: 10 })
        const b = fencedCheckpoints(kv, fenceB, { node: "b", incarnation: "b-1", lease: 20 })
        const wm = Watermark.initial

        assert.isUndefined(yield* a.loadPartition(2))
        assert.isUndefined(yield* a.loadDevice(2, "d1"))
        yield* a.saveDevices(2, [["d1", { seq: 5 } as never]])
        yield* a.savePartition(2, { seq: 5, watermark: wm })

        // B takes over (A is, say, SIGSTOPped mid-checkpoint).
        assert.deepStrictEqual(yield* b.loadPartition(2), { seq: 5, watermark: wm })
        const stored = yield* Effect.promise(() => kv.get("part.2"))
        assert.deepStrictEqual(decode(stored!.value).owner, { node: "b", incarnation: "b-1", lease: 20 })
        assert.strictEqual(errorTag(yield* Effect.exit(a.savePartition(2, { seq: 9, watermark: wm }))), "NatsError:KeyValue")
        yield* b.loadDevice(2, "d1")
        yield* b.saveDevices(2, [["d1", { seq: 7 } as never]])
        assert.strictEqual(errorTag(yield* Effect.exit(a.saveDevices(2, [["d1", { seq: 9 } as never]]))), "NatsError:KeyValue")
        yield* b.savePartition(2, { seq: 7, watermark: wm })
        assert.strictEqual(decode((yield* Effect.promise(() => kv.get("part.2")))!.value).seq, 7)

        // A closed fence refuses before any request is made.
        fenceB.close()
        assert.strictEqual(errorTag(yield* Effect.exit(b.savePartition(2, { seq: 8, watermark: wm }))), "NatsError:KeyValue")
        const nats = fencedNats(client, fenceB, () => {})
        const published = yield* Effect.exit(Effect.tryPromise({ try: () => nats.js.publish("aggregates.d1.env.t.1s", new Uint8Array()), catch: (e) => e }))
        assert.isTrue(Exit.isFailure(published) && Cause.squash(published.cause) instanceof FencedOut, "publish after the fence closed")
      })
    ))

  it.live("owned consumer - delivery stops when the fence shuts, and closing the consumer then completes", () =>
    withServer((client) =>
      Effect.gen(function*() {
        yield* ensureTopology({ replicas: 1, readings: limits, aggregates: limits, alarms: limits, deadLetter: limits })
        for (let i = 0; i < 20; i++) yield* Effect.promise(() => client.js.publish(Subjects.readingsSubject(0, "d1", "env"), new Uint8Array([i])))
        yield* resetPartitionConsumer(client.jsm, 0, 1)
        const clock = yield* Clock.Clock
        const fence = new Fence(0, clock, 60_000, clock.monotonicTimeNanosUnsafe())
        const owned = fencedNats(client, fence, () => {})
        const consumer = yield* Effect.promise(() => owned.js.consumers.get(Subjects.Streams.readings, consumerName(0)))
        const messages = yield* Effect.promise(() => consumer.consume({ max_messages: 5 }))
        const iterator = messages[Symbol.asyncIterator]()
        const first = yield* Effect.promise(() => iterator.next())
        assert.isFalse(first.done)
        fence.close()
        const after = yield* Effect.promise(() => iterator.next())
        assert.isTrue(after.done, "a shut fence ends delivery")
        // The worker's release closes the consumer: that must not hang.
        const closed = yield* Effect.promise(() => messages.close()).pipe(Effect.timeoutOption("10 seconds"))
        assert.isTrue(closed._tag === "Some", "closing the consumer hung")
      })
    ))

  it.live("owned consumer - a worker interrupted between two reads can still close its consumer", () =>
    withServer((client) =>
      Effect.gen(function*() {
        yield* ensureTopology({ replicas: 1, readings: limits, aggregates: limits, alarms: limits, deadLetter: limits })
        for (let i = 0; i < 20; i++) yield* Effect.promise(() => client.js.publish(Subjects.readingsSubject(2, "d1", "env"), new Uint8Array([i])))
        yield* resetPartitionConsumer(client.jsm, 2, 1)
        const clock = yield* Clock.Clock
        const fence = new Fence(2, clock, 60_000, clock.monotonicTimeNanosUnsafe())
        const consumer = yield* Effect.promise(() => fencedNats(client, fence, () => {}).js.consumers.get(Subjects.Streams.readings, consumerName(2)))
        const messages = yield* Effect.promise(() => consumer.consume({ max_messages: 5 }))
        const first = yield* Effect.promise(() => messages[Symbol.asyncIterator]().next())
        assert.isFalse(first.done)
        fence.close() // the handover's last checkpoint, then the interruption: no further read
        const closed = yield* Effect.promise(() => messages.close()).pipe(Effect.timeoutOption("10 seconds"))
        assert.isTrue(closed._tag === "Some", "closing the consumer hung")
      })
    ))

  it.live("owned consumer - deliveries taken by another puller (a stale owner) end delivery instead of being skipped", () =>
    withServer((client) =>
      Effect.gen(function*() {
        yield* ensureTopology({ replicas: 1, readings: limits, aggregates: limits, alarms: limits, deadLetter: limits })
        for (let i = 0; i < 50; i++) yield* Effect.promise(() => client.js.publish(Subjects.readingsSubject(1, "d1", "env"), new Uint8Array([i])))
        yield* resetPartitionConsumer(client.jsm, 1, 1)
        const clock = yield* Clock.Clock
        const fence = new Fence(1, clock, 60_000, clock.monotonicTimeNanosUnsafe())
        const gaps: Array<DeliveryGap> = []
        const owned = fencedNats(client, fence, (gap) => gaps.push(gap))
        // A stale process pulls from the same durable consumer first.
        const stale = yield* Effect.promise(() => client.js.consumers.get(Subjects.Streams.readings, consumerName(1)))
        const stolen = yield* Effect.promise(async () => {
          const batch = await stale.fetch({ max_messages: 3, expires: 2_000 })
          const seqs: Array<number> = []
          for await (const m of batch) seqs.push(m.seq)
          return seqs
        })
        assert.strictEqual(stolen.length, 3)
        const consumer = yield* Effect.promise(() => owned.js.consumers.get(Subjects.Streams.readings, consumerName(1)))
        const messages = yield* Effect.promise(() => consumer.consume({ max_messages: 10 }))
        const next = yield* Effect.promise(() => messages[Symbol.asyncIterator]().next())
        assert.isTrue(next.done, "the owner must not go on past messages it never saw")
        assert.deepStrictEqual(gaps, [{ partition: 1, expected: 1, got: 4 }])
        const closed = yield* Effect.promise(() => messages.close()).pipe(Effect.timeoutOption("10 seconds"))
        assert.isTrue(closed._tag === "Some", "closing the consumer hung")
      })
    ))

  it.live("owned consumer in callback mode - a delivery gap stops the consumer and nothing after it is passed on", () =>
    withServer((client) =>
      Effect.gen(function*() {
        yield* ensureTopology({ replicas: 1, readings: limits, aggregates: limits, alarms: limits, deadLetter: limits })
        for (let i = 0; i < 50; i++) yield* Effect.promise(() => client.js.publish(Subjects.readingsSubject(3, "d3", "env"), new Uint8Array([i])))
        yield* resetPartitionConsumer(client.jsm, 3, 1)
        const clock = yield* Clock.Clock
        const fence = new Fence(3, clock, 60_000, clock.monotonicTimeNanosUnsafe())
        const gaps: Array<DeliveryGap> = []
        const owned = fencedNats(client, fence, (gap) => gaps.push(gap))
        const stale = yield* Effect.promise(() => client.js.consumers.get(Subjects.Streams.readings, consumerName(3)))
        yield* Effect.promise(async () => {
          const batch = await stale.fetch({ max_messages: 2, expires: 2_000 })
          for await (const _ of batch) {
            // taken by the stale puller
          }
        })
        const consumer = yield* Effect.promise(() => owned.js.consumers.get(Subjects.Streams.readings, consumerName(3)))
        const seen: Array<number> = []
        const messages = yield* Effect.promise(() => consumer.consume({ max_messages: 10, callback: (m) => seen.push(m.seq) }))
        const closed = yield* Effect.promise(() => messages.closed()).pipe(Effect.timeoutOption("10 seconds"))
        assert.isTrue(closed._tag === "Some", "the consumer was not stopped")
        assert.deepStrictEqual(seen, [])
        assert.deepStrictEqual(gaps, [{ partition: 3, expected: 1, got: 3 }])
      })
    ))
})

const decode = (bytes: Uint8Array): OwnedPartitionCheckpoint => Codec.decode(bytes) as OwnedPartitionCheckpoint
