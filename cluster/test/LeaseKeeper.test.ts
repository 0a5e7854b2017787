import { assert, describe, it } from "@effect/vitest"
import { memoryLeaseStore } from "@bramble/nats"
import { Clock, Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import type { Fence } from "../src/ownership/Fence.js"
import { startLeaseKeeper } from "../src/ownership/LeaseKeeper.js"
import { leaseTiming } from "../src/ownership/LeaseTiming.js"
import { memoryOwnershipLog, ownershipIntervals } from "../src/ownership/OwnershipLog.js"

// The scenarios below are written for: TTL 6 s, renew every 2 s, fence 3 s.
const timing = { ...leaseTiming(6_000), renewEveryMs: 2_000, fenceMs: 3_000 }

/** Lets forked fibres run before the clock moves (TestClock only runs sleepers). */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 100; i++) yield* Effect.yieldNow
})
const record = { node: "a", incarnation: "a-1", claimedAt: 0 }

/** A worker that records when it ran and, like the real one, checkpoints every second. */
const probeWorker = () => {
  const runs: Array<{ start: number; end?: number }> = []
  let fence: Fence | undefined
  const run = (f: Fence) =>
    Effect.gen(function*() {
      fence = f
      const entry: { start: number; end?: number } = { start: yield* Clock.currentTimeMillis }
      runs.push(entry)
      yield* Effect.gen(function*() {
        while (true) {
          yield* Effect.sleep(1_000)
          if (f.holds()) f.checkpointSaved()
        }
      }).pipe(Effect.onInterrupt(() => Effect.map(Clock.currentTimeMillis, (now) => void (entry.end = now))))
    })
  return { runs, run, fence: () => fence }
}

const claimAndKeep = (store: ReturnType<typeof memoryLeaseStore>, worker: ReturnType<typeof probeWorker>) =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const sentAt = clock.monotonicTimeNanosUnsafe()
    const revision = yield* store.claim(0, record)
    const log = memoryOwnershipLog()
    const keeper = yield* startLeaseKeeper({ partition: 0, record, revision, sentAt, leases: store, timing, runWorker: worker.run, log })
    yield* settle
    assert.strictEqual(worker.runs.length, 1, "the worker starts with the lease")
    return { keeper, log }
  })

describe("LeaseKeeper", () => {
  it.effect("lease keeper - renewals keep the lease and the worker running", () =>
    Effect.gen(function*() {
      const store = memoryLeaseStore(timing.ttlMs)
      const worker = probeWorker()
      const { keeper } = yield* claimAndKeep(store, worker)
      yield* TestClock.adjust("60 seconds")
      assert.strictEqual(worker.runs.length, 1)
      assert.isUndefined(worker.runs[0]!.end)
      assert.strictEqual(keeper.state(), "running")
      const renewals = store.history.filter((h) => h.op === "renew")
      assert.isAtLeast(renewals.length, 29)
      assert.isDefined(yield* store.read(0))
    }).pipe(Effect.scoped))

  it.effect("lease keeper - a node that cannot renew stops its worker before the lease can expire", () =>
    Effect.gen(function*() {
      const store = memoryLeaseStore(timing.ttlMs)
      const worker = probeWorker()
      yield* claimAndKeep(store, worker)
      yield* TestClock.adjust("2500 millis") // one renewal at 2 s succeeded
      store.setUnavailable(true)
      const lastRenewal = store.history.at(-1)!.at
      assert.strictEqual(lastRenewal, 2_000)
      yield* TestClock.adjust("10 seconds")
      const run = worker.runs[0]!
      assert.strictEqual(run.end, lastRenewal + timing.fenceMs, "the worker stops when the fence closes")
      assert.isFalse(worker.fence()!.holds())
      // …which is before anyone else can take the lease.
      store.setUnavailable(false)
      assert.isBelow(run.end!, lastRenewal + timing.ttlMs)
    }).pipe(Effect.scoped))

  it.effect("lease keeper - another node's claim succeeds only after the fenced owner stopped", () =>
    Effect.gen(function*() {
      const store = memoryLeaseStore(timing.ttlMs)
      const worker = probeWorker()
      yield* claimAndKeep(store, worker)
      yield* TestClock.adjust("100 millis")
      store.setUnavailable(true) // the owner is cut off from NATS from here on
      const attempts: Array<{ at: number; ok: boolean }> = []
      const other = { node: "b", incarnation: "b-1", claimedAt: 0 }
      for (let i = 0; i < 80; i++) {
        yield* TestClock.adjust("100 millis")
        // The cut-off owner cannot reach the store; the other node can.
        store.setUnavailable(false)
        const result = yield* Effect.exit(store.claim(0, other))
        store.setUnavailable(true)
        attempts.push({ at: yield* Clock.currentTimeMillis, ok: result._tag === "Success" })
        if (result._tag === "Success") break
      }
      const claimedAt = attempts.find((a) => a.ok)?.at
      assert.isDefined(claimedAt)
      assert.isAtLeast(claimedAt!, timing.ttlMs)
      assert.isAtMost(worker.runs[0]!.end!, claimedAt! - (timing.ttlMs - timing.fenceMs))
    }).pipe(Effect.scoped))

  it.effect("lease keeper - a renewal that fails on the revision (lease taken) stops the worker at once", () =>
    Effect.gen(function*() {
      const store = memoryLeaseStore(timing.ttlMs)
      const worker = probeWorker()
      const { keeper, log } = yield* claimAndKeep(store, worker)
      yield* TestClock.adjust("1 second")
      // Someone else rewrote the key (here: it expired and was re-claimed — simulated by a
      // release and a claim with the right revisions).
      const current = (yield* store.read(0))!
      yield* store.release(0, current.revision)
      yield* store.claim(0, { node: "b", incarnation: "b-1", claimedAt: 1_000 })
      yield* TestClock.adjust("1 second") // the next renewal, at 2 s, conflicts
      assert.strictEqual(worker.runs[0]!.end, 2_000)
      yield* keeper.ended
      assert.strictEqual(keeper.state(), "ended")
      assert.include(log.events.map((e) => e.event), "lost")
      assert.strictEqual((yield* store.read(0))!.record.node, "b", "a lost lease is never deleted")
    }).pipe(Effect.scoped))

  it.effect("lease keeper - after renewals fail for a while and succeed again, the worker resumes", () =>
    Effect.gen(function*() {
      const store = memoryLeaseStore(timing.ttlMs)
      const worker = probeWorker()
      const { keeper, log } = yield* claimAndKeep(store, worker)
      yield* TestClock.adjust("1 second")
      store.setUnavailable(true)
      yield* TestClock.adjust("3 seconds") // fence closes at 3 s (claim sent at 0; renewal at 2 s failed)
      assert.strictEqual(worker.runs[0]!.end, 3_000)
      assert.strictEqual(keeper.state(), "suspended")
      store.setUnavailable(false) // back before the lease (last written at 0) expired at 6 s
      yield* TestClock.adjust("1 second")
      assert.strictEqual(worker.runs.length, 2)
      assert.strictEqual(keeper.state(), "running")
      assert.includeMembers(log.events.map((e) => e.event), ["suspended", "resumed"])
    }).pipe(Effect.scoped))

  it.effect("lease keeper - a handover waits for a checkpoint, stops the worker, then deletes the lease", () =>
    Effect.gen(function*() {
      const store = memoryLeaseStore(timing.ttlMs)
      const worker = probeWorker()
      const { keeper, log } = yield* claimAndKeep(store, worker)
      yield* TestClock.adjust("1500 millis")
      const release = yield* Effect.forkChild(keeper.release)
      yield* TestClock.adjust("400 millis")
      assert.isUndefined(worker.runs[0]!.end, "still waiting for the checkpoint at 2 s")
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(release)
      assert.strictEqual(worker.runs[0]!.end, 2_000)
      assert.isUndefined(yield* store.read(0))
      assert.strictEqual(log.events.at(-1)!.event, "released")
      // The next owner can claim at once.
      yield* store.claim(0, { node: "b", incarnation: "b-1", claimedAt: 2_000 })
    }).pipe(Effect.scoped))

  it.effect("lease keeper - a handover's ownership ends when the worker stopped, before the next owner can claim", () =>
    Effect.gen(function*() {
      const memory = memoryLeaseStore(timing.ttlMs)
      // A delete the server applies at once but whose reply takes 300 ms: the next owner
      // claims in between.
      let claimedByNext: number | undefined
      const store: typeof memory = {
        ...memory,
        release: (partition, revision) =>
          Effect.gen(function*() {
            yield* memory.release(partition, revision)
            yield* memory.claim(partition, { node: "b", incarnation: "b-1", claimedAt: 0 })
            claimedByNext = yield* Clock.currentTimeMillis
            yield* Effect.sleep(300)
          })
      }
      const worker = probeWorker()
      const { keeper, log } = yield* claimAndKeep(store, worker)
      yield* TestClock.adjust("1500 millis")
      const release = yield* Effect.forkChild(keeper.release)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(release)
      const [mine] = ownershipIntervals(log.events)
      assert.isDefined(claimedByNext)
      assert.isAtMost(mine!.end, claimedByNext!, "the ownership ended before the next claim")
      assert.isAtLeast(mine!.end, worker.runs[0]!.end!, "and not before its worker stopped")
    }).pipe(Effect.scoped))

  it.effect("lease keeper - closing its scope stops the worker and closes the fence", () =>
    Effect.gen(function*() {
      const store = memoryLeaseStore(timing.ttlMs)
      const worker = probeWorker()
      const scope = yield* Scope.make()
      yield* claimAndKeep(store, worker).pipe(Scope.provide(scope))
      yield* TestClock.adjust("1 second")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(worker.runs[0]!.end, 1_000)
      assert.isFalse(worker.fence()!.holds())
    }))
})
