/**
 * Node faults on a 3-node local bramble under a steady load (2,100 readings/s through all
 * three servers, unique (device, seq)):
 *
 * 1. SIGKILL a node: its leases expire, the survivors claim its partitions and replay from
 *    its checkpoints. Later the node starts again (a new incarnation) and takes its share back.
 * 2. SIGSTOP a node for longer than the lease TTL, then SIGCONT: it must find its fences
 *    shut (it stopped writing before its leases expired), lose its leases, write nothing
 *    stale, and rejoin.
 *
 * Then: nothing lost or duplicated, windows equal the oracle's, never two owners (see
 * cluster-harness.ts). The times from fault to processing resumed are printed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { testDir } from "../support/SystemTest.js"
import { log, startFaultCluster, withLogs } from "./cluster-harness.js"

const ALL = ["n1", "n2", "n3"]

describe("cluster faults - nodes", () => {
  it.live("SIGKILL a node, then restart it; SIGSTOP a node past the lease TTL, then SIGCONT: nothing lost, nothing doubled, one owner at a time", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-cluster-nodes-")
      const fc = yield* startFaultCluster({ dir })
      yield* withLogs(fc, Effect.gen(function*() {
        yield* fc.waitBalanced(ALL, "start")
        const load = yield* fc.startLoad()
        yield* Effect.sleep("8 seconds")

        // 1. SIGKILL n2, later restart it.
        const killedAt = Date.now()
        yield* fc.cluster.node("n2")!.process.signal("SIGKILL")
        const failover = yield* fc.waitResumed(killedAt, "after SIGKILL of n2", "n2")
        yield* fc.waitBalanced(["n1", "n3"], "n2 dead")
        yield* log(`SIGKILL n2: processing resumed on every partition ${failover} ms after the kill`)
        yield* Effect.sleep("5 seconds")
        const restartedAt = Date.now()
        yield* fc.cluster.node("n2")!.process.start
        const rejoin = yield* fc.waitBalanced(ALL, "n2 restarted")
        yield* log(`n2 restarted: rebalanced ${Date.now() - restartedAt} ms after the start command (${rejoin} ms after it was ready)`)
        yield* Effect.sleep("5 seconds")

        // 2. SIGSTOP n3 for longer than the lease TTL (6 s), then SIGCONT.
        const stoppedAt = Date.now()
        yield* fc.cluster.node("n3")!.process.signal("SIGSTOP")
        const takeover = yield* fc.waitResumed(stoppedAt, "after SIGSTOP of n3", "n3")
        yield* log(`SIGSTOP n3: processing resumed on every partition ${takeover} ms after the stop`)
        const stillStopped = 10_000 - (Date.now() - stoppedAt)
        if (stillStopped > 0) yield* Effect.sleep(stillStopped)
        const contAt = Date.now()
        yield* fc.cluster.node("n3")!.process.signal("SIGCONT")
        yield* fc.waitBalanced(ALL, "n3 continued")
        yield* log(`SIGCONT n3 after ${contAt - stoppedAt} ms: rebalanced ${Date.now() - contAt} ms later`)
        // n3 found out: its ownerships of before the stop ended in a suspension or a loss.
        const n3 = fc.ownershipEvents().filter((e) => e.node === "n3")
        const before = new Set(n3.filter((e) => e.event === "claimed" && e.at < stoppedAt).map((e) => e.lease))
        const ended = new Set(n3.filter((e) => (e.event === "lost" || e.event === "suspended") && e.at >= contAt).map((e) => e.lease))
        assert.isAbove(before.size, 0)
        for (const lease of before) {
          assert.isTrue(ended.has(lease) || n3.some((e) => e.lease === lease && e.event === "released" && e.at < stoppedAt), `n3 did not notice it lost lease ${lease}`)
        }
        yield* Effect.sleep("5 seconds")

        const summary = yield* fc.verify(load)
        yield* log(summary)
      }))
    }).pipe(Effect.scoped), 420_000)
})
