import { assert, describe, it } from "@effect/vitest"
import { memoryLeaseStore, type NatsError, natsError } from "@bramble/nats"
import { Cause, Effect, Exit, Scope } from "effect"
import { TestClock } from "effect/testing"
import { assignPartitions } from "../src/ownership/Assignment.js"
import type { Fence } from "../src/ownership/Fence.js"
import { InvalidLeaseTiming, leaseTiming } from "../src/ownership/LeaseTiming.js"
import { memoryOwnershipLog, overlappingOwnerships, ownershipIntervals } from "../src/ownership/OwnershipLog.js"
import { type Ownership, startOwnership } from "../src/ownership/Ownership.js"

const PARTITIONS = 12
const timing = leaseTiming(6_000)

const settle = Effect.gen(function*() {
  for (let i = 0; i < 200; i++) yield* Effect.yieldNow
})

/**
 * A simulated cluster: every node runs the real ownership logic on one shared lease store;
 * workers only record which fences they run under. `cutOff` simulates a node that cannot
 * reach NATS (its lease operations fail) while the others can.
 */
const makeCluster = Effect.gen(function*() {
  const store = memoryLeaseStore(timing.ttlMs)
  const log = memoryOwnershipLog()
  let members: Array<string> = []
  const cutOff = new Set<string>()
  const stale = new Set<string>()
  const running: Array<{ node: string; partition: number; fence: Fence }> = []
  const nodes = new Map<string, { scope: Scope.Closeable; ownership: Ownership }>()

  // Each node's lease store is the shared one, failing while the node is cut off.
  const storeFor = (node: string) => ({
    claim: (p: number, r: Parameters<typeof store.claim>[1]) => guard(node, store.claim(p, r)),
    renew: (p: number, r: Parameters<typeof store.renew>[1], rev: number, t?: number) => guard(node, store.renew(p, r, rev, t)),
    release: (p: number, rev: number) => guard(node, store.release(p, rev)),
    read: (p: number) => guard(node, store.read(p))
  })
  const guard = <A, E>(node: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E | NatsError> =>
    Effect.suspend((): Effect.Effect<A, E | NatsError> => (cutOff.has(node) ? Effect.fail(natsError("KeyValue", node)(new Error("cut off"))) : effect))

  const start = (node: string) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const ownership = yield* startOwnership({
        node,
        incarnation: `${node}-1`,
        partitions: PARTITIONS,
        leases: storeFor(node),
        members: Effect.sync(() => (cutOff.has(node) || stale.has(node) ? undefined : members)),
        timing,
        log,
        runWorker: (partition, fence) =>
          Effect.acquireRelease(
            Effect.sync(() => {
              const entry = { node, partition, fence }
              running.push(entry)
              return entry
            }),
            (entry) => Effect.sync(() => running.splice(running.indexOf(entry), 1))
          ).pipe(
            // Like the real worker: a checkpoint every 500 ms (what a handover waits for).
            Effect.andThen(Effect.forever(Effect.andThen(Effect.sleep(500), Effect.sync(() => fence.holds() && fence.checkpointSaved())))),
            Effect.scoped
          )
      }).pipe(Scope.provide(scope))
      nodes.set(node, { scope, ownership })
    })

  /** Partitions with more than one worker whose fence is open: must never happen. */
  const doubleOwned = () => {
    const open = running.filter((r) => r.fence.holds())
    return [...new Set(open.map((r) => r.partition))].filter((p) => open.filter((r) => r.partition === p).length > 1)
  }
  const ownersNow = () => Array.from({ length: PARTITIONS }, (_, p) => running.filter((r) => r.partition === p && r.fence.holds()).map((r) => r.node))

  /** Advances the clock in small steps, checking the safety property at every step. */
  const run = (ms: number) =>
    Effect.gen(function*() {
      for (let t = 0; t < ms; t += 100) {
        yield* TestClock.adjust("100 millis")
        yield* settle
        assert.deepStrictEqual(doubleOwned(), [], `two open fences for one partition at ${t}`)
      }
    })

  return {
    store,
    log,
    nodes,
    running,
    cutOff,
    stale,
    setMembers: (m: Array<string>) => {
      members = m
    },
    start,
    run,
    ownersNow,
    /** SIGKILL, as the others see it: the node never renews, releases or claims again
     * (its own fences expire, as a dead process writes nothing). */
    kill: (node: string) => Effect.sync(() => {
      cutOff.add(node)
      stale.add(node)
    })
  }
})

const expectOwners = (owners: ReadonlyArray<ReadonlyArray<string>>, members: ReadonlyArray<string>) =>
  assert.deepStrictEqual(owners.map((o) => o.join(",")), assignPartitions(members, PARTITIONS).map((o) => o ?? ""))

describe("Ownership", () => {
  it.effect("ownership - refuses a lease timing whose fence does not end before the lease (a bug, so a defect)", () =>
    Effect.gen(function*() {
      assert.throws(() => leaseTiming(1), /must come more often than the fence|must be shorter than the lease TTL/)
      const unsafe = { ...timing, fenceMs: timing.ttlMs }
      const exit = yield* Effect.exit(Effect.scoped(startOwnership({
        node: "n1",
        incarnation: "n1-1",
        partitions: PARTITIONS,
        leases: memoryLeaseStore(timing.ttlMs),
        members: Effect.succeed(["n1"]),
        timing: unsafe,
        runWorker: () => Effect.never
      })))
      assert.isTrue(Exit.isFailure(exit))
      const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.instanceOf(defect, InvalidLeaseTiming)
      assert.include((defect as InvalidLeaseTiming).message, `the fence (${timing.ttlMs} ms) must be shorter than the lease TTL`)
    }))

  it.effect("ownership - two nodes split the partitions as the assignment says, each exactly once", () =>
    Effect.gen(function*() {
      const c = yield* makeCluster
      c.setMembers(["a", "b"])
      yield* c.start("a")
      yield* c.start("b")
      yield* c.run(2_000)
      expectOwners(c.ownersNow(), ["a", "b"])
    }))

  it.effect("ownership - a joining node takes its share by handover, never with two owners at once", () =>
    Effect.gen(function*() {
      const c = yield* makeCluster
      c.setMembers(["a", "b"])
      yield* c.start("a")
      yield* c.start("b")
      yield* c.run(2_000)
      c.setMembers(["a", "b", "c"])
      yield* c.start("c")
      yield* c.run(10_000)
      expectOwners(c.ownersNow(), ["a", "b", "c"])
      // Handed over (deleted), not left to expire.
      assert.isAbove(c.store.history.filter((h) => h.op === "release").length, 0)
      assert.deepStrictEqual(overlappingOwnerships(ownershipIntervals(c.log.events)), [])
    }))

  it.effect("ownership - a killed node's partitions are claimed by the others once its leases expire", () =>
    Effect.gen(function*() {
      const c = yield* makeCluster
      c.setMembers(["a", "b", "c"])
      for (const n of ["a", "b", "c"]) yield* c.start(n)
      yield* c.run(3_000)
      expectOwners(c.ownersNow(), ["a", "b", "c"])
      yield* c.kill("b")
      const lastRenewalOfB = Math.max(...c.store.history.filter((h) => h.record?.node === "b").map((h) => h.at))
      c.setMembers(["a", "c"]) // membership notices b is gone
      yield* c.run(12_000)
      expectOwners(c.ownersNow().map((o) => o.filter((n) => n !== "b")), ["a", "c"])
      assert.strictEqual(c.running.filter((r) => r.node === "b" && r.fence.holds()).length, 0)
      const takeovers = c.store.history.filter((h) => h.op === "claim" && h.at > lastRenewalOfB)
      assert.isAbove(takeovers.length, 0)
      for (const t of takeovers) assert.isAtLeast(t.at, lastRenewalOfB + timing.ttlMs, "claimed before b's lease expired")
    }))

  it.effect("ownership - a node cut off from NATS stops its workers before the others take over, and rejoins", () =>
    Effect.gen(function*() {
      const c = yield* makeCluster
      c.setMembers(["a", "b", "c"])
      for (const n of ["a", "b", "c"]) yield* c.start(n)
      yield* c.run(3_000)
      c.cutOff.add("b") // like SIGSTOP: b cannot renew; the others soon stop hearing from it
      c.setMembers(["a", "c"])
      yield* c.run(10_000) // `run` checks at every step that no partition has two open fences
      expectOwners(c.ownersNow(), ["a", "c"])
      assert.strictEqual(c.running.filter((r) => r.node === "b" && r.fence.holds()).length, 0)
      c.cutOff.delete("b")
      c.setMembers(["a", "b", "c"])
      yield* c.run(12_000)
      expectOwners(c.ownersNow(), ["a", "b", "c"])
      assert.deepStrictEqual(overlappingOwnerships(ownershipIntervals(c.log.events)), [])
    }))

  it.effect("ownership - shutdown hands every partition over; the others claim them at once", () =>
    Effect.gen(function*() {
      const c = yield* makeCluster
      c.setMembers(["a", "b"])
      yield* c.start("a")
      yield* c.start("b")
      yield* c.run(2_000)
      c.setMembers(["a"])
      const shutdown = yield* Effect.forkChild(c.nodes.get("b")!.ownership.shutdown)
      yield* c.run(1_500) // well under the TTL: nothing waits for an expiry
      assert.isDefined(shutdown.pollUnsafe(), "b handed everything over")
      expectOwners(c.ownersNow(), ["a"])
    }))

  it.effect("ownership - nothing moves while the membership view is not fresh", () =>
    Effect.gen(function*() {
      const c = yield* makeCluster
      c.setMembers(["a", "b"]) // b is listed but never starts
      yield* c.start("a")
      yield* c.run(1_000)
      const share = assignPartitions(["a", "b"], PARTITIONS).filter((o) => o === "a").length
      assert.strictEqual(c.running.length, share)
      c.stale.add("a")
      c.setMembers(["a"])
      yield* c.run(2_000)
      assert.strictEqual(c.running.length, share, "claimed on a stale view")
      c.stale.delete("a")
      yield* c.run(1_000)
      assert.strictEqual(c.running.length, PARTITIONS)
    }))
})
