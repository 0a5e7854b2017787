import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Latch, Scope } from "effect"
import { TestClock } from "effect/testing"
import { type Actor, Entities } from "../src/index.js"
import { settle, yieldUntil } from "../../../test/support/Eventually.js"
import { testStrategy } from "./probe.js"

type Msg =
  | { readonly _tag: "Add"; readonly n: number }
  | { readonly _tag: "Get"; readonly reply: Deferred.Deferred<number> }
  | { readonly _tag: "Boom" }

const add = (n: number): Msg => ({ _tag: "Add", n })
const get = (reply: Deferred.Deferred<number>): Msg => ({ _tag: "Get", reply })

// A per-key running total, checkpointed on stop/passivation and restored by init.
const makeCounters = (options: { readonly slowStop?: Latch.Latch } = {}) => {
  const checkpoints = new Map<string, number>()
  const inits: Array<{ key: string; restored: number }> = []
  const stops: Array<{ key: string; total: number; reason: Actor.StopReason }> = []
  const behaviour = (key: string): Actor.Behaviour<Msg, number, Error> => ({
    init: Effect.sync(() => {
      const restored = checkpoints.get(key) ?? 0
      inits.push({ key, restored })
      return restored
    }),
    receive: (total, message) => {
      switch (message._tag) {
        case "Add":
          return Effect.succeed(total + message.n)
        case "Get":
          return Effect.as(Deferred.succeed(message.reply, total), total)
        case "Boom":
          return Effect.fail(new Error(`${key} exploded`))
      }
    },
    onStop: (total, reason) =>
      Effect.andThen(
        options.slowStop?.await ?? Effect.void,
        Effect.sync(() => {
          checkpoints.set(key, total)
          stops.push({ key, total, reason })
        })
      )
  })
  return { checkpoints, inits, stops, behaviour }
}

describe("Entities", () => {
  it.effect("entities - an entity is created on its first message", () =>
    Effect.gen(function*() {
      const counters = makeCounters()
      const entities = yield* Entities.make("counters", { behaviour: counters.behaviour })
      assert.strictEqual(yield* entities.size, 0)
      assert.deepStrictEqual(counters.inits, [])

      yield* entities.tell("dev-1", add(5))
      assert.strictEqual(yield* entities.ask("dev-1", get), 5)
      assert.deepStrictEqual(counters.inits, [{ key: "dev-1", restored: 0 }])
      assert.strictEqual(yield* entities.size, 1)
    }))

  it.effect("entities - an idle entity is passivated after maxIdleTime and its onStop checkpoints the state", () =>
    Effect.gen(function*() {
      const counters = makeCounters()
      const entities = yield* Entities.make("counters", { behaviour: counters.behaviour, maxIdleTime: "10 seconds" })
      yield* entities.tell("dev-1", add(3))
      yield* yieldUntil("handled", () => Effect.map(entities.list, (all) => all[0]?.processed === 1))

      yield* TestClock.adjust("9999 millis")
      assert.strictEqual(yield* entities.size, 1, "passivated before maxIdleTime")
      assert.deepStrictEqual(counters.stops, [])

      yield* TestClock.adjust("1 millis")
      yield* yieldUntil("passivated", () => Effect.map(entities.size, (n) => n === 0))
      assert.deepStrictEqual(counters.stops, [{ key: "dev-1", total: 3, reason: "passivated" }])
      assert.strictEqual(counters.checkpoints.get("dev-1"), 3)
    }))

  it.effect("entities - activity restarts the idle timer", () =>
    Effect.gen(function*() {
      const counters = makeCounters()
      const entities = yield* Entities.make("counters", { behaviour: counters.behaviour, maxIdleTime: "10 seconds" })
      yield* entities.tell("dev-1", add(1))
      yield* yieldUntil("handled", () => Effect.map(entities.list, (all) => all[0]?.processed === 1))
      yield* TestClock.adjust("3 seconds")
      yield* entities.tell("dev-1", add(1))
      yield* yieldUntil("handled", () => Effect.map(entities.list, (all) => all[0]?.processed === 2))
      // Idle since 3 s, so it must live until 13 s.
      yield* TestClock.adjust("9999 millis")
      assert.strictEqual(yield* entities.size, 1, "passivated although the last message came less than 10 s ago")
      yield* TestClock.adjust("1 millis")
      yield* yieldUntil("passivated", () => Effect.map(entities.size, (n) => n === 0))
      assert.deepStrictEqual(counters.stops, [{ key: "dev-1", total: 2, reason: "passivated" }])
    }))

  it.effect("entities - one sweep passivates entities idle at different times, each between maxIdleTime and 1.25 x maxIdleTime after its last message", () =>
    Effect.gen(function*() {
      const counters = makeCounters()
      const entities = yield* Entities.make("counters", { behaviour: counters.behaviour, maxIdleTime: "10 seconds" })
      const passivated = () => counters.stops.map((s) => s.key).sort()
      const idleAt = (key: string) =>
        Effect.andThen(
          entities.tell(key, add(1)),
          yieldUntil(`${key} handled`, () => Effect.map(entities.list, (all) => all.some((s) => s.name === key && s.processed === 1)))
        )
      yield* idleAt("a") // idle from 0 s
      yield* TestClock.adjust("1 second")
      yield* idleAt("b") // from 1 s
      yield* TestClock.adjust("5 seconds")
      yield* idleAt("c") // from 6 s

      // The sweep runs at 10 s: a is due and goes; b (due at 11 s) waits for the
      // next sweep, a quarter of maxIdleTime later, at 12.5 s.
      yield* TestClock.adjust("3999 millis")
      assert.deepStrictEqual(passivated(), [])
      yield* TestClock.adjust("1 millis")
      yield* yieldUntil("a passivated", () => passivated().length === 1)
      assert.deepStrictEqual(passivated(), ["a"])
      yield* TestClock.adjust("2499 millis")
      assert.deepStrictEqual(passivated(), ["a"], "b went before the next sweep")
      yield* TestClock.adjust("1 millis")
      yield* yieldUntil("b passivated", () => passivated().length === 2)
      // c is due at 16 s, more than a quarter of maxIdleTime later: the sweep waits for it exactly.
      yield* TestClock.adjust("3499 millis")
      assert.deepStrictEqual(passivated(), ["a", "b"])
      yield* TestClock.adjust("1 millis")
      yield* yieldUntil("c passivated", () => passivated().length === 3)
      assert.deepStrictEqual(counters.stops.map((s) => s.reason), ["passivated", "passivated", "passivated"])
      assert.strictEqual(yield* entities.size, 0)
    }))

  it.effect("entities - closed in the middle of a sweep that passivates thousands of entities, every entity still stops", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const counters = makeCounters()
      // The first entity to go closes the entities (from a fibre of its own), while the
      // sweep that passivates them all is still at it.
      let closing: Fiber.Fiber<void> | undefined
      const closeOnFirst = Effect.suspend(() => {
        if (closing === undefined) {
          return Effect.map(Effect.forkDetach(Scope.close(scope, Exit.void)), (fiber) => {
            closing = fiber
          })
        }
        return Effect.void
      })
      const behaviour = (key: string): Actor.Behaviour<Msg, number, Error> => {
        const inner = counters.behaviour(key)
        return {
          ...inner,
          onStop: (total, reason) => Effect.andThen(inner.onStop!(total, reason), reason === "passivated" ? closeOnFirst : Effect.void)
        }
      }
      const entities = yield* Entities.make("counters", { behaviour, maxIdleTime: "10 seconds" }).pipe(Scope.provide(scope))
      const keys = Array.from({ length: 3000 }, (_, i) => `dev-${i}`)
      yield* Effect.forEach(keys, (key) => entities.tell(key, add(1)), { discard: true })
      yield* yieldUntil("all handled", () =>
        Effect.map(entities.list, (all) => all.length === keys.length && all.every((s) => s.processed === 1)))

      yield* TestClock.adjust("10 seconds")
      yield* yieldUntil("closed", () => closing !== undefined && closing.pollUnsafe() !== undefined)
      assert.strictEqual(counters.stops.length, keys.length, "every entity ran its onStop once")
      assert.strictEqual(new Set(counters.stops.map((s) => s.key)).size, keys.length)
    }))

  it.effect("entities - the next message after passivation restores the entity through init", () =>
    Effect.gen(function*() {
      const counters = makeCounters()
      const entities = yield* Entities.make("counters", { behaviour: counters.behaviour, maxIdleTime: "10 seconds" })
      yield* entities.tell("dev-1", add(3))
      yield* TestClock.adjust("10 seconds")
      yield* yieldUntil("passivated", () => Effect.map(entities.size, (n) => n === 0))

      yield* entities.tell("dev-1", add(4))
      assert.strictEqual(yield* entities.ask("dev-1", get), 7)
      assert.deepStrictEqual(counters.inits, [{ key: "dev-1", restored: 0 }, { key: "dev-1", restored: 3 }])
    }))

  it.effect("entities - a message for a passivating entity waits for its onStop before init restores it", () =>
    Effect.gen(function*() {
      const slowStop = yield* Latch.make(false)
      const counters = makeCounters({ slowStop })
      const entities = yield* Entities.make("counters", { behaviour: counters.behaviour, maxIdleTime: "10 seconds" })
      yield* entities.tell("dev-1", add(3))
      yield* yieldUntil("handled", () => Effect.map(entities.list, (all) => all[0]?.processed === 1))
      yield* TestClock.adjust("10 seconds")

      // Passivation has begun and its onStop is blocked; a new message arrives.
      const reply = yield* Effect.forkChild(Effect.andThen(entities.tell("dev-1", add(4)), entities.ask("dev-1", get)))
      yield* settle
      assert.strictEqual(counters.inits.length, 1, "a second incarnation started before the first had stopped")

      yield* slowStop.open
      assert.strictEqual(yield* Fiber.join(reply), 7)
      assert.deepStrictEqual(counters.inits[1], { key: "dev-1", restored: 3 })
    }))

  it.effect("entities - list reports stats of every live entity", () =>
    Effect.gen(function*() {
      const counters = makeCounters()
      const entities = yield* Entities.make("counters", {
        behaviour: counters.behaviour,
        kind: "counter",
        capacity: 8,
        strategy: testStrategy()
      })
      yield* entities.tellAll("a", [add(1), add(1)])
      yield* entities.tell("b", add(1))
      yield* entities.tell("c", { _tag: "Boom" })
      yield* yieldUntil("c crashed", () =>
        Effect.map(entities.list, (all) => all.find((s) => s.name === "c")?.state === "restarting"))
      yield* yieldUntil("a and b handled", () =>
        Effect.map(entities.list, (all) => all.filter((s) => s.processed > 0).length === 2))

      const stats = [...(yield* entities.list)].sort((x, y) => x.name.localeCompare(y.name))
      assert.deepStrictEqual(stats.map((s) => [s.name, s.kind, s.state, s.processed, s.mailboxCapacity]), [
        ["a", "counter", "running", 2, 8],
        ["b", "counter", "running", 1, 8],
        ["c", "counter", "restarting", 0, 8]
      ])
      assert.strictEqual(stats[2]?.lastFailure, "Error: c exploded")
      assert.strictEqual((yield* entities.supervisor.children).length, 3)
    }))

  it.effect("entities - a crashing entity does not disturb the others", () =>
    Effect.gen(function*() {
      const counters = makeCounters()
      const entities = yield* Entities.make("counters", { behaviour: counters.behaviour, strategy: testStrategy() })
      yield* entities.tell("ok", add(1))
      yield* entities.tell("bad", { _tag: "Boom" })
      yield* entities.tell("ok", add(1))
      assert.strictEqual(yield* entities.ask("ok", get), 2)
      yield* TestClock.adjust("1 second")
      yield* entities.tell("bad", add(5))
      assert.strictEqual(yield* entities.ask("bad", get), 5)
    }))

  it.effect("entities - getOrSpawn returns a handle that follows the entity across passivation", () =>
    Effect.gen(function*() {
      const counters = makeCounters()
      const entities = yield* Entities.make("counters", { behaviour: counters.behaviour, maxIdleTime: "1 minute" })
      const ref = yield* entities.getOrSpawn("dev-1")
      yield* yieldUntil("getOrSpawn creates the entity", () => counters.inits.length === 1)
      assert.strictEqual(yield* entities.size, 1)
      yield* ref.tell(add(2))
      yield* TestClock.adjust("1 minute")
      yield* yieldUntil("passivated", () => Effect.map(ref.stats, (s) => s.state === "stopped"))
      yield* ref.tell(add(2))
      assert.strictEqual(yield* ref.ask(get), 4)
      assert.strictEqual((yield* ref.stats).state, "running")
    }))

  it.effect("entities - stopAll stops every entity, runs onStop, and later messages re-create them", () =>
    Effect.gen(function*() {
      const counters = makeCounters()
      const entities = yield* Entities.make("counters", { behaviour: counters.behaviour })
      yield* Effect.forEach(["a", "b", "c"], (key) => entities.tell(key, add(1)), { discard: true })
      yield* yieldUntil("all handled", () =>
        Effect.map(entities.list, (all) => all.every((s) => s.processed === 1) && all.length === 3))

      yield* entities.stopAll
      assert.strictEqual(yield* entities.size, 0)
      assert.deepStrictEqual(
        counters.stops.map((s) => `${s.key}:${s.total}:${s.reason}`).sort(),
        ["a:1:stopped", "b:1:stopped", "c:1:stopped"]
      )
      yield* entities.tell("a", add(1))
      assert.strictEqual(yield* entities.ask("a", get), 2)
    }))
})
