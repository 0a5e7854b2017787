/**
 * kill -9 of a running `bramble node` under load, then a restart on the same data
 * directory (JetStream store and checkpoints persist). The node's nats-server dies with it
 * (pdeathsig), so publishes fail while it is down; only PubAcked readings count as
 * acknowledged, and every one of them must be stored exactly once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { steadyLoad, waitFor } from "../support/index.js"
import { partitionConsumers } from "../support/BrambleNode.js"
import { WAIT_MS, promise, startNodeOnVictoria, withNodeLog } from "../support/SystemTest.js"
import { checkNothingLost } from "./faultCheck.js"

const RATE = 600

describe("faults - node killed", () => {
  it.live("SIGKILL the node mid-stream, start it again: every acknowledged reading is stored exactly once, and windows equal the oracle", () =>
    Effect.gen(function*() {
      const { db, node } = yield* startNodeOnVictoria("bramble-nodekill-")

      yield* withNodeLog(
        node,
        Effect.gen(function*() {
          const load = steadyLoad({ url: node.natsUrl, ratePerSec: RATE, devices: 20, timeoutMs: 3_000, clock: () => Date.now() - 120_000 })
          yield* Effect.addFinalizer(() => Effect.promise(() => load.stop().then(() => undefined, () => undefined)))
          yield* promise(() => load.started)

          // Kill once the node has stored a good part of the load and is mid-stream.
          yield* promise(() =>
            waitFor(() => node.status(), {
              until: (s) => s.storage.pointsWritten >= 3 * RATE,
              timeoutMs: WAIT_MS,
              label: `${3 * RATE} points written before the kill`
            })
          )
          // Delivered and not yet acknowledged: what the restarted node has to replay (reported, not asserted).
          const unackedAtKill = (yield* promise(() => partitionConsumers(node))).reduce((n, c) => n + c.ackPending, 0)
          const beforeKill = load.progress()
          yield* node.process.signal("SIGKILL")
          // The load keeps going against a dead server: its publishes fail until the restart.
          yield* promise(() =>
            waitFor(() => load.progress(), { until: (p) => p.failed > beforeKill.failed, timeoutMs: WAIT_MS, label: "publishes failing while the node is down" })
          )
          const ackedWhileDown = load.progress().acknowledged

          const restartedAt = performance.now()
          yield* node.restart
          const readyAt = performance.now()
          // Processing has resumed once the new process has accepted readings from the log.
          const resumed = yield* promise(() =>
            waitFor(() => node.status(), { until: (s) => s.totals.accepted > 0, timeoutMs: WAIT_MS, intervalMs: 100, label: "readings accepted after the restart" })
          )
          const resumedAt = performance.now()
          yield* promise(() =>
            waitFor(() => load.progress(), {
              until: (p) => p.acknowledged >= ackedWhileDown + 3 * RATE,
              timeoutMs: WAIT_MS,
              label: `${3 * RATE} more acknowledged readings after the restart`
            })
          )
          const report = yield* promise(() => load.stop())
          assert.isAbove(report.failed.length, 0, "the kill should have failed some publishes")

          const summary = yield* checkNothingLost(node, db, report)
          console.log(
            `node kill: ${unackedAtKill} readings delivered and unacknowledged at the kill; restart to admin ready ${Math.round(readyAt - restartedAt)} ms, to processing resumed ` +
              `${Math.round(resumedAt - restartedAt)} ms (${resumed.totals.accepted} readings accepted by then); ${summary}`
          )
        })
      )
    }))
})
