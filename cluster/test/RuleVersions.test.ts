/**
 * Version switch-over in the partition loop (docs/live-config.md): a new version of the rules
 * takes effect at the first batch after the worker sees it, the partition checkpoint records
 * (version, first stream sequence), the alarms follow exactly that position, and a new run
 * of the worker (restart, move) keeps the records.
 */
import { assert, describe, it } from "@effect/vitest"
import type { RuleSet } from "@bramble/actor-aggregator"
import { Subjects } from "@bramble/protocol"
import { Effect, Fiber } from "effect"
import { makePartitionStats } from "../src/partition/PartitionStats.js"
import { runPartitionOn } from "../src/partition/PartitionWorker.js"
import { MemoryCheckpoints, MemoryLog, MemoryPublisher, MemoryStorage, payload, settings } from "./MemoryPartition.js"
import { eventually } from "../../test/support/Eventually.js"

const T0 = 1_700_000_000_000
const subject = Subjects.readingsSubject(0, "a", "env")

describe("rule versions in the partition loop", () => {
  it.live("switch-over - version 2 is used from a recorded stream sequence on; a new run keeps the records and the version", () =>
    Effect.gen(function*() {
      const log = new MemoryLog()
      const checkpoints = new MemoryCheckpoints()
      const storage = new MemoryStorage()
      const publisher = new MemoryPublisher()
      const stats = makePartitionStats(0)
      let current: RuleSet = { version: 1, rules: [] }
      const run = () =>
        Effect.forkScoped(Effect.scoped(runPartitionOn({
          partition: 0,
          settings,
          windows: [{ name: "1s", size: 1_000 }],
          ruleVersions: () => current,
          checkpoints,
          storage,
          stats,
          source: log,
          publisher
        })))
      // Reading i: seq i + 1, event time T0 + 250 i, value 10 i.
      const append = (from: number, n: number) => {
        for (let i = from; i < from + n; i++) log.append(subject, payload(T0 + i * 250, i * 10), T0 + i * 250 + 5)
      }
      const ackedThrough = (seq: number) => eventually(`ack through ${seq}`, async () => (log.acked >= seq ? true : undefined), { timeoutMs: 20_000 })

      const first = yield* run()
      append(0, 20)
      yield* ackedThrough(20)
      assert.deepStrictEqual(checkpoints.partitions.get(0)?.versions, [{ version: 1, fromSeq: 1 }])
      assert.strictEqual(storage.alarms.length, 0, "no rule in version 1")

      current = { version: 2, rules: [{ kind: "threshold", name: "high", metric: "t", above: 5 }] }
      append(20, 20)
      yield* ackedThrough(40)
      assert.deepStrictEqual(checkpoints.partitions.get(0)?.versions, [{ version: 1, fromSeq: 1 }, { version: 2, fromSeq: 21 }])
      assert.strictEqual(stats.configVersion, 2)
      // Raised by the first reading of version 2 (seq 21, value 200), not earlier.
      assert.deepStrictEqual(storage.alarms.map((a) => [a.rule, a.state, a.at - T0]), [["high", "raised", 20 * 250]])

      // A new run (a restart, or the partition moved) resumes with the records.
      yield* Fiber.interrupt(first)
      const second = yield* run()
      current = { version: 3, rules: [] }
      append(40, 10)
      yield* ackedThrough(50)
      assert.deepStrictEqual(checkpoints.partitions.get(0)?.versions, [
        { version: 1, fromSeq: 1 },
        { version: 2, fromSeq: 21 },
        { version: 3, fromSeq: 41 }
      ])
      // Version 3 removed the rule: its alarm is cleared as removed, at the first reading under it.
      const last = storage.alarms.at(-1)!
      assert.deepStrictEqual([last.rule, last.state, last.at - T0], ["high", "cleared", 40 * 250])
      assert.include(last.message, "rule removed")
      yield* Fiber.interrupt(second)
    }))
})
