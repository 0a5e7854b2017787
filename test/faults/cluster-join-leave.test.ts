/**
 * Membership changes on a 3-node local bramble under a steady load (2,100 readings/s
 * through all three servers, unique (device, seq)): a fourth node joins mid-run and takes
 * its share by graceful handover (last checkpoint, stop, release — no waiting for a lease
 * to expire), then leaves with SIGTERM, handing everything back before it exits.
 *
 * Then: nothing lost or duplicated, windows equal the oracle's, never two owners.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { testDir } from "../support/SystemTest.js"
import { log, startFaultCluster, withLogs } from "./cluster-harness.js"

describe("cluster faults - join and leave", () => {
  it.live("a fourth node joins mid-run and leaves with SIGTERM: handovers lose nothing, double nothing, one owner at a time", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-cluster-join-")
      const fc = yield* startFaultCluster({ dir, spare: true })
      yield* withLogs(fc, Effect.gen(function*() {
        yield* fc.waitBalanced(["n1", "n2", "n3"], "start")
        const load = yield* fc.startLoad()
        yield* Effect.sleep("8 seconds")

        // 1. n4 joins.
        const joinAt = Date.now()
        yield* fc.cluster.startNode("n4")
        const readyAt = Date.now()
        const rebalance = yield* fc.waitBalanced(["n1", "n2", "n3", "n4"], "n4 joined")
        yield* log(`n4 joined: ready ${readyAt - joinAt} ms after start, partitions rebalanced ${rebalance} ms after it was ready`)
        // Handed over, not taken after an expiry: every partition n4 got was released first.
        const events = fc.ownershipEvents()
        const n4Claims = events.filter((e) => e.node === "n4" && e.event === "claimed")
        assert.isAbove(n4Claims.length, 0)
        for (const claim of n4Claims) {
          const released = events.some((e) => e.partition === claim.partition && e.node !== "n4" && e.event === "released" && e.at <= claim.at)
          assert.isTrue(released, `partition ${claim.partition} was not released before n4 claimed it`)
        }
        yield* Effect.sleep("8 seconds")

        // 2. n4 leaves (SIGTERM): it hands everything back before it exits.
        const leaveAt = Date.now()
        yield* fc.cluster.node("n4")!.process.stop
        const exitedAt = Date.now()
        const back = yield* fc.waitBalanced(["n1", "n2", "n3"], "n4 left")
        yield* log(`n4 left: exited ${exitedAt - leaveAt} ms after SIGTERM, partitions owned again ${exitedAt - leaveAt + back} ms after SIGTERM`)
        const n4 = fc.ownershipEvents().filter((e) => e.node === "n4")
        const claimed = new Set(n4.filter((e) => e.event === "claimed").map((e) => e.lease))
        const released = new Set(n4.filter((e) => e.event === "released").map((e) => e.lease))
        assert.deepStrictEqual([...claimed].filter((l) => !released.has(l)), [], "n4 exited holding leases")
        yield* Effect.sleep("5 seconds")

        const summary = yield* fc.verify(load)
        yield* log(summary)
      }))
    }).pipe(Effect.scoped), 420_000)
})
