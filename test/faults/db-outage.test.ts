/**
 * The database goes away for 30 s under load: stopped outright, or frozen with SIGSTOP (it
 * then accepts connections and never answers, the nastier case). Meanwhile the node must
 * keep taking readings into JetStream and must not acknowledge the log (nothing it holds is
 * durable yet); when the database is back, the backlog drains and nothing is lost.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { LocalVictoriaMetrics } from "@bramble/deploy"
import { steadyLoad, waitFor } from "../support/index.js"
import { type PartitionConsumerState, partitionConsumers } from "../support/BrambleNode.js"
import { WAIT_MS, promise, startNodeOnVictoria, withNodeLog } from "../support/SystemTest.js"
import { checkNothingLost } from "./faultCheck.js"

const RATE = 600
const OUTAGE_MS = 30_000

interface Fault {
  readonly name: string
  readonly inject: (vm: LocalVictoriaMetrics) => Effect.Effect<void, unknown>
  readonly heal: (vm: LocalVictoriaMetrics) => Effect.Effect<void, unknown>
}

const FAULTS: ReadonlyArray<Fault> = [
  { name: "stopped", inject: (vm) => vm.process.stop, heal: (vm) => vm.process.start },
  { name: "frozen (SIGSTOP)", inject: (vm) => vm.process.signal("SIGSTOP"), heal: (vm) => vm.process.signal("SIGCONT") }
]

const ackFloors = (states: ReadonlyArray<PartitionConsumerState>) => states.map((s) => s.ackFloor)

describe("faults - database outage", () => {
  for (const fault of FAULTS) {
    it.live(`database ${fault.name} for 30 s mid-stream, then back: nothing lost`, () =>
      Effect.gen(function*() {
        const { vm, db, node } = yield* startNodeOnVictoria("bramble-dboutage-")

        yield* withNodeLog(
          node,
          Effect.gen(function*() {
            const load = steadyLoad({ url: node.natsUrl, ratePerSec: RATE, devices: 20, clock: () => Date.now() - 120_000 })
            yield* Effect.addFinalizer(() => Effect.promise(() => load.stop().then(() => undefined, () => undefined)))
            yield* promise(() => load.started)
            yield* promise(() =>
              waitFor(() => node.status(), {
                until: (s) => s.storage.pointsWritten >= 3 * RATE,
                timeoutMs: WAIT_MS,
                label: `${3 * RATE} points written before the outage`
              })
            )

            const outageStart = performance.now()
            const ackedAtOutage = load.progress().acknowledged
            yield* fault.inject(vm)
            // Give whatever checkpoint was already past its database flush time to finish:
            // wait for 3 s worth of newly acknowledged publishes (a condition, not a sleep).
            yield* promise(() =>
              waitFor(() => load.progress(), {
                until: (p) => p.acknowledged >= ackedAtOutage + 3 * RATE,
                timeoutMs: WAIT_MS,
                label: "JetStream keeps acknowledging publishes while the database is down"
              })
            )
            const floorsEarly = yield* promise(() => partitionConsumers(node))
            const ackedAtEarly = load.progress().acknowledged
            yield* Effect.sleep(Math.max(0, OUTAGE_MS - (performance.now() - outageStart)))
            const floorsLate = yield* promise(() => partitionConsumers(node))
            const statusDuring = yield* promise(() => node.status())
            const ackedAtLate = load.progress().acknowledged
            const ackedDuringOutage = ackedAtLate - ackedAtOutage
            yield* fault.heal(vm)
            const healedAt = performance.now()

            // While the database was down the log was not acknowledged, and a backlog built up.
            assert.deepStrictEqual(ackFloors(floorsLate), ackFloors(floorsEarly), "the ack floor moved while the database was down")
            const backlog = floorsLate.reduce((n, s) => n + s.pending + s.ackPending, 0)
            // Everything JetStream acknowledged between the two looks is stored and not yet acknowledged by the node.
            assert.isAbove(ackedAtLate, ackedAtEarly, "JetStream stopped taking readings during the outage")
            assert.isAtLeast(backlog, ackedAtLate - ackedAtEarly, `backlog in JetStream: ${JSON.stringify(floorsLate)}`)
            assert.isDefined(statusDuring.storage.unavailableSince, `storage should report the outage: ${JSON.stringify(statusDuring.storage)}`)

            // The backlog drains once the database is back; then some more live load.
            yield* promise(() =>
              waitFor(() => partitionConsumers(node), {
                until: (states) => states.every((s, i) => s.ackFloor > floorsLate[i]!.ackFloor || s.pending + s.ackPending === 0),
                timeoutMs: WAIT_MS,
                label: "acknowledgements resume after the database is back"
              })
            )
            const resumedAt = performance.now()
            const ackedAfter = load.progress().acknowledged
            yield* promise(() =>
              waitFor(() => load.progress(), { until: (p) => p.acknowledged >= ackedAfter + 2 * RATE, timeoutMs: WAIT_MS, label: "more load after the outage" })
            )
            const report = yield* promise(() => load.stop())

            const summary = yield* checkNothingLost(node, db, report)
            console.log(
              `database ${fault.name}: ${ackedDuringOutage} readings acknowledged by JetStream during the outage, ` +
                `backlog ${backlog}; acks resumed ${Math.round(resumedAt - healedAt)} ms after the database came back; ${summary}`
            )
          })
        )
      }))
  }
})
