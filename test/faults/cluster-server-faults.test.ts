/**
 * Server faults on a 3-node local bramble under a steady load (2,100 readings/s through all
 * three servers, unique (device, seq)):
 *
 * 1. SIGKILL one of the three nats-servers (n2's; n2 itself keeps running). The JetStream
 *    cluster keeps its quorum and moves the leaders that were on it; n2's client reconnects
 *    to another server. Whatever n2 could not renew in time in the meantime moves and comes
 *    back. The server is restarted and catches up.
 * 2. Stop the database for 60 s: writes and acknowledgements stop, the log keeps the
 *    backlog, ownership stays put (leases do not depend on the database), and when it is
 *    back everything is written.
 *
 * Then: nothing lost or duplicated, windows equal the oracle's, never two owners.
 */
import { describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { testDir } from "../support/SystemTest.js"
import { log, promise, startFaultCluster, withLogs } from "./cluster-harness.js"

const ALL = ["n1", "n2", "n3"]

describe("cluster faults - servers", () => {
  it.live("SIGKILL a nats-server, then restart it; stop the database for 60 s: nothing lost, nothing doubled, one owner at a time", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-cluster-servers-")
      const fc = yield* startFaultCluster({ dir })
      yield* withLogs(fc, Effect.gen(function*() {
        yield* fc.waitBalanced(ALL, "start")
        const load = yield* fc.startLoad()
        yield* Effect.sleep("8 seconds")

        // 1. SIGKILL n2's nats-server. n2 itself runs on: its client reconnects to another
        //    server of the cluster (nats.js learns them from the server), so n2 keeps its
        //    partitions unless it cannot renew in time — either way nothing may be lost.
        const server = fc.cluster.servers.find((s) => s.name === "n2")!
        const killedAt = Date.now()
        yield* server.process.signal("SIGKILL")
        const failover = yield* fc.waitResumed(killedAt, "after SIGKILL of n2's nats-server")
        const owners = yield* promise(() => fc.map())
        yield* log(
          `SIGKILL nats-server n2: processing resumed on every partition ${failover} ms after the kill ` +
            `(owners now ${owners.owners.map((p) => `${p.partition}:${p.owner}`).join(" ")})`
        )
        yield* Effect.sleep("5 seconds")
        const restartedAt = Date.now()
        yield* server.process.start
        const rejoin = yield* fc.waitBalanced(ALL, "n2's server back")
        yield* log(`nats-server n2 restarted: n2 rebalanced ${Date.now() - restartedAt} ms after the start command (${rejoin} ms after it was up)`)
        yield* Effect.sleep("5 seconds")

        // 2. The database is down for 60 s.
        const dbDownAt = Date.now()
        yield* fc.cluster.db.process.stop
        yield* Effect.sleep("60 seconds")
        const dbUpAt = Date.now()
        yield* fc.cluster.db.process.start
        const recovered = yield* fc.waitResumed(dbUpAt, "after the database came back")
        yield* log(`database down ${dbUpAt - dbDownAt} ms: every partition checkpointing again ${recovered} ms after it came back`)
        yield* fc.waitBalanced(ALL, "database back")
        yield* Effect.sleep("5 seconds")

        const summary = yield* fc.verify(load)
        yield* log(summary)
      }))
    }).pipe(Effect.scoped), 480_000)
})
