/**
 * A bramble forms however its Pis boot (docs/cluster-formation.md). Three lab hosts, each
 * running its rendered `bramble-node.service` (its own nats-server from the rendered config,
 * on its own address and the default ports):
 *
 * 1. all three at the same moment (power comes back);
 * 2. a whole-cluster power cycle: every process SIGKILLed at once, the hosts booted again in
 *    reverse order;
 * 3. two of three: all off, two booted — they must serve (NATS and MQTT) — then the third;
 * 4. staggered, from nothing: one Pi, a minute later the second (the two must serve), a minute
 *    later the third. The first waits, up, saying it is forming.
 *
 * Each ends with every partition owned as the assignment says for the live nodes and readings
 * published through them stored in the database; and no node ever exited (the service
 * manager restarted nothing).
 */
import { assert, describe, it } from "@effect/vitest"
import { Admin } from "@bramble/protocol"
import { connect } from "@nats-io/transport-node"
import { Effect } from "effect"
import { log, withLogs } from "../faults/cluster-harness.js"
import { testDir } from "../support/SystemTest.js"
import { NODES, readingsFlow, startLab } from "./lab-harness.js"

const noRestarts = (lab: Effect.Success<ReturnType<typeof startLab>>) =>
  Effect.gen(function*() {
    for (const node of NODES) {
      const restarts = yield* lab.pis.restarts(node)
      assert.strictEqual(restarts, 0, `${node}'s service exited and was restarted ${restarts} time(s); a forming node must wait, not exit (see ${lab.pis.nodes.find((n) => n.name === node)!.logFile})`)
    }
  })

describe("cluster formation on separate hosts", () => {
  it.live("simultaneous start, whole-cluster power cycle in reverse order, two of three: all partitions owned, readings flow, no node exits", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-net-formation-")
      const lab = yield* startLab({ dir })
      // 1. All at once.
      const t0 = Date.now()
      yield* Effect.forEach(NODES, (n) => lab.pis.powerOn(n), { concurrency: "unbounded", discard: true })
      const fc = yield* lab.attach()
      yield* withLogs(fc, Effect.gen(function*() {
        yield* fc.waitBalanced(NODES, "simultaneous start")
        yield* log(`simultaneous start: every partition owned ${Date.now() - t0} ms after the three services started`)
        yield* readingsFlow(lab, "after a simultaneous start", NODES, "n3")

        // 2. Power cut of the whole cluster, then boot in reverse order, 2 s apart.
        yield* Effect.forEach(NODES, (n) => lab.pis.powerOff(n), { concurrency: "unbounded", discard: true })
        const t1 = Date.now()
        for (const n of [...NODES].reverse()) {
          yield* lab.pis.powerOn(n)
          yield* Effect.sleep("2 seconds")
        }
        yield* fc.waitBalanced(NODES, "power cycle")
        yield* log(`power cycle: every partition owned ${Date.now() - t1} ms after the first host booted`)
        yield* readingsFlow(lab, "after a whole-cluster power cycle", NODES, "n1")

        // 3. Two of three boot; they serve; then the third.
        yield* Effect.forEach(NODES, (n) => lab.pis.powerOff(n), { concurrency: "unbounded", discard: true })
        const t2 = Date.now()
        yield* Effect.forEach(["n1", "n2"], (n) => lab.pis.powerOn(n), { concurrency: "unbounded", discard: true })
        yield* fc.waitBalanced(["n1", "n2"], "two of three")
        yield* log(`two of three: every partition owned by n1, n2 ${Date.now() - t2} ms after they booted`)
        yield* readingsFlow(lab, "with two of three up", ["n1", "n2"], "n2")
        const t3 = Date.now()
        yield* lab.pis.powerOn("n3")
        yield* fc.waitBalanced(NODES, "third back")
        yield* log(`third node back: rebalanced ${Date.now() - t3} ms after it booted`)
        yield* readingsFlow(lab, "with all three again", NODES, "n3")
        yield* noRestarts(lab)
      }))
    }).pipe(Effect.scoped), 600_000)

  it.live("staggered by a minute from nothing: the first waits and says so, two serve, the third joins; no node exits", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-net-staggered-")
      const lab = yield* startLab({ dir })
      yield* lab.pis.powerOn("n1")
      const fc = yield* lab.attach()
      yield* withLogs(fc, Effect.gen(function*() {
        yield* Effect.sleep("60 seconds")
        // Alone, n1 cannot form a cluster: it is up and says what it waits for.
        const nc = yield* Effect.acquireRelease(
          Effect.promise(() => connect({ servers: lab.pis.nodes[0]!.natsUrl })),
          (c) => Effect.promise(() => c.close())
        )
        const reply = yield* Effect.promise(() => nc.request(Admin.adminNodeSubject("n1", "status"), "{}", { timeout: 5_000 }))
        const answer = reply.json<{ _tag?: string; reason?: string; message?: string }>()
        assert.strictEqual(answer.reason, "Forming", JSON.stringify(answer))
        assert.include(answer.message ?? "", "no JetStream leader yet")
        yield* log(`n1 alone after 60 s: ${answer.message}`)

        const t1 = Date.now()
        yield* lab.pis.powerOn("n2")
        yield* fc.waitBalanced(["n1", "n2"], "second node")
        yield* log(`second node: every partition owned by n1, n2 ${Date.now() - t1} ms after it booted`)
        // A new cluster of two of its three: NATS ingest serves (streams at two copies until
        // the third joins). MQTT needs its R3 streams, which a new cluster makes only with
        // three servers (docs/cluster-formation.md), so it is checked once n3 is up.
        yield* readingsFlow(lab, "with two of three, new cluster", ["n1", "n2"])
        const wait = 60_000 - (Date.now() - t1)
        if (wait > 0) yield* Effect.sleep(wait)
        const t2 = Date.now()
        yield* lab.pis.powerOn("n3")
        yield* fc.waitBalanced(NODES, "third node")
        yield* log(`third node: rebalanced ${Date.now() - t2} ms after it booted`)
        yield* readingsFlow(lab, "with all three", NODES, "n3")
        yield* noRestarts(lab)
      }))
    }).pipe(Effect.scoped), 600_000)
})
