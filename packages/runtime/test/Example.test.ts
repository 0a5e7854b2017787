// The README's example, kept compiling and working.
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import { TestClock } from "effect/testing"
import { type Actor, Entities, Supervisor } from "../src/index.js"
import { yieldUntil } from "../../../test/support/Eventually.js"

type Msg =
  | { readonly _tag: "Add"; readonly n: number }
  | { readonly _tag: "Total"; readonly reply: Deferred.Deferred<number> }

describe("README example", () => {
  it.effect("readme - a counter entity survives passivation through its checkpoint", () =>
    Effect.gen(function*() {
      const checkpoints = new Map<string, number>()
      const root = yield* Supervisor.make("root", {
        kind: "one-for-one",
        backoff: { initial: "100 millis", max: "30 seconds", factor: 2, jitter: 0.2 },
        maxRestarts: 5,
        within: "1 minute"
      })
      const counters = yield* Entities.make("counters", {
        supervisor: root,
        maxIdleTime: "5 minutes",
        behaviour: (key: string): Actor.Behaviour<Msg, number> => ({
          init: Effect.sync(() => checkpoints.get(key) ?? 0),
          receive: (total, msg) =>
            msg._tag === "Add"
              ? Effect.succeed(total + msg.n)
              : Effect.as(Deferred.succeed(msg.reply, total), total),
          onStop: (total) => Effect.sync(() => checkpoints.set(key, total))
        })
      })
      const totalOf = (reply: Deferred.Deferred<number>): Msg => ({ _tag: "Total", reply })

      yield* counters.tell("dev-1", { _tag: "Add", n: 2 })
      assert.strictEqual(yield* counters.ask("dev-1", totalOf), 2)
      assert.deepStrictEqual((yield* counters.list).map((s) => [s.name, s.kind, s.state]), [
        ["dev-1", "counters", "running"]
      ])

      yield* TestClock.adjust("5 minutes")
      yield* yieldUntil("passivated", () => Effect.map(counters.size, (n) => n === 0))
      assert.strictEqual(checkpoints.get("dev-1"), 2)
      yield* counters.tell("dev-1", { _tag: "Add", n: 3 })
      assert.strictEqual(yield* counters.ask("dev-1", totalOf), 5)
    }))
})
