import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Random, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { Actor, Backoff, Supervisor } from "../src/index.js"
import { yieldUntil } from "../../../test/support/Eventually.js"
import { probe, testStrategy } from "./probe.js"

const isState = (ref: Actor.ActorRef<string>, state: Actor.ActorState) =>
  Effect.map(ref.stats, (stats) => stats.state === state)

// Crashes the actor and waits until its supervisor is sleeping out the backoff.
const crash = (ref: Actor.ActorRef<string>) =>
  Effect.andThen(ref.tell("boom"), yieldUntil("restarting", () => isState(ref, "restarting")))

describe("Supervisor", () => {
  it.effect("supervisor - restarts a crashed actor after the backoff delay, not before", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make("root", testStrategy())
      const { behaviour, log } = probe()
      const ref = yield* Actor.make("worker", behaviour, { supervisor })
      yield* yieldUntil("started", () => log.starts.length === 1)

      yield* crash(ref)
      yield* TestClock.adjust("999 millis")
      assert.strictEqual(log.starts.length, 1, "restarted before the backoff delay")
      assert.strictEqual((yield* ref.stats).state, "restarting")

      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(log.starts, [0, 1000])
      const stats = yield* ref.stats
      assert.strictEqual(stats.state, "running")
      assert.strictEqual(stats.restarts, 1)
      assert.strictEqual(stats.lastFailure, "Boom: boom")
    }))

  it.effect("supervisor - restart delays grow exponentially and are capped at max", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make("root", testStrategy())
      const { behaviour, log } = probe()
      const ref = yield* Actor.make("worker", behaviour, { supervisor })
      yield* yieldUntil("started", () => log.starts.length === 1)

      const expected = [1000, 2000, 4000, 8000, 10_000, 10_000]
      for (const [i, delay] of expected.entries()) {
        yield* crash(ref)
        yield* TestClock.adjust(delay - 1)
        assert.strictEqual(log.starts.length, i + 1, `restart ${i + 1} came before ${delay} ms`)
        yield* TestClock.adjust(1)
        assert.strictEqual(log.starts.length, i + 2, `restart ${i + 1} did not come after ${delay} ms`)
      }
      const gaps = log.starts.slice(1).map((at, i) => at - log.starts[i]!)
      assert.deepStrictEqual(gaps, expected)
    }))

  it.effect("supervisor - jitter shortens a restart delay by at most the jitter fraction", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make("root", testStrategy({ jitter: 0.5 }))
      const { behaviour, log } = probe()
      const ref = yield* Actor.make("worker", behaviour, { supervisor })
      yield* yieldUntil("started", () => log.starts.length === 1)

      yield* crash(ref)
      yield* TestClock.adjust("499 millis")
      assert.strictEqual(log.starts.length, 1, "jitter took more than half the delay off")
      yield* TestClock.adjust("501 millis")
      assert.strictEqual(log.starts.length, 2, "jitter lengthened the delay")
    }))

  it.effect("backoff - delays double from initial, stop at max, and jitter stays within bounds", () =>
    Effect.gen(function*() {
      const backoff: Backoff.Backoff = { initial: "100 millis", max: "3 seconds", factor: 2, jitter: 0.25 }
      const bases = [100, 200, 400, 800, 1600, 3000, 3000, 3000]
      assert.deepStrictEqual(bases.map((_, i) => Duration.toMillis(Backoff.delay(backoff, i + 1, 0))), bases)
      for (const [i, base] of bases.entries()) {
        assert.closeTo(Duration.toMillis(Backoff.delay(backoff, i + 1, 0.999_999)), base * 0.75, 0.01)
      }

      // The schedule the supervisor steps, over many bursts and random draws.
      const jittered: Array<number> = []
      for (let burst = 0; burst < 50; burst++) {
        const step = yield* Schedule.toStep(Backoff.schedule(backoff))
        for (const [i, base] of bases.entries()) {
          const [, delay] = yield* step(0, undefined)
          const millis = Duration.toMillis(delay)
          assert.isTrue(millis <= base && millis >= base * 0.75, `attempt ${i + 1}: ${millis} outside [${base * 0.75}, ${base}]`)
          jittered.push(millis / base)
        }
      }
      assert.isTrue(new Set(jittered).size > 100, "jitter should vary the delays")
    }).pipe(Random.withSeed("backoff")))

  it.effect("backoff - an invalid backoff is a defect when the supervisor is made", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Supervisor.make("bad", {
        ...testStrategy(),
        backoff: { initial: "1 second", max: "1 second", factor: 2, jitter: 1.5 }
      })))
      assert.isTrue(Exit.isFailure(exit) && Exit.hasDies(exit))
    }))

  it.effect("supervisor - escalates with SupervisorEscalated after maxRestarts crashes within the period", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make("root", testStrategy({ maxRestarts: 2, within: "1 minute" }))
      const poisoned = probe()
      const sibling = probe()
      const ref = yield* Actor.make("poisoned", poisoned.behaviour, { supervisor })
      const siblingRef = yield* Actor.make("sibling", sibling.behaviour, { supervisor })
      yield* siblingRef.tell("hello")
      yield* yieldUntil("started", () => poisoned.log.starts.length === 1 && sibling.log.handled.length === 1)
      const joined = yield* Effect.forkChild(supervisor.join)

      yield* crash(ref)
      yield* TestClock.adjust("1 second")
      yield* crash(ref)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(poisoned.log.starts.length, 3)
      yield* ref.tell("boom")

      const error = yield* Effect.flip(Fiber.join(joined))
      assert.strictEqual(error._tag, "SupervisorEscalated")
      assert.strictEqual(error.supervisor, "root")
      assert.strictEqual(error.child, "poisoned")
      assert.strictEqual(error.restarts, 3)
      assert.isTrue(Exit.isFailure(Exit.failCause(error.cause)))
      assert.include(error.message, "poisoned")

      // Every child is stopped; the sibling ran its onStop, the poisoned one is failed.
      assert.deepStrictEqual(sibling.log.stops, [{ state: 1, reason: "stopped" }])
      assert.strictEqual((yield* ref.stats).state, "failed")
      assert.strictEqual((yield* siblingRef.stats).state, "stopped")
      assert.strictEqual((yield* Effect.flip(siblingRef.tell("late")))._tag, "ActorStopped")
      assert.strictEqual((yield* supervisor.stats).state, "failed")
      // Not restarted again.
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(poisoned.log.starts.length, 3)
    }))

  it.effect("supervisor - the crash count resets once the period has passed", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make("root", testStrategy({ maxRestarts: 2, within: "1 minute" }))
      const { behaviour, log } = probe()
      const ref = yield* Actor.make("worker", behaviour, { supervisor })
      yield* yieldUntil("started", () => log.starts.length === 1)

      yield* crash(ref)
      yield* TestClock.adjust("1 second")
      yield* crash(ref)
      yield* TestClock.adjust("2 seconds")
      yield* TestClock.adjust("1 minute")

      // A third crash, but the first two are outside the window: restarted,
      // and the backoff is back to its initial delay.
      yield* crash(ref)
      yield* TestClock.adjust("999 millis")
      assert.strictEqual(log.starts.length, 3)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(log.starts.length, 4)
      assert.strictEqual((yield* supervisor.stats).state, "running")
      assert.strictEqual((yield* ref.stats).restarts, 3)
    }))

  it.effect("supervisor - a sibling keeps processing while another actor crashes (one-for-one)", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make("root", testStrategy())
      const crashing = probe()
      const healthy = probe()
      const crashingRef = yield* Actor.make("crashing", crashing.behaviour, { supervisor })
      const healthyRef = yield* Actor.make("healthy", healthy.behaviour, { supervisor })

      yield* crash(crashingRef)
      yield* healthyRef.tellAll(["a", "b", "c"])
      yield* yieldUntil("healthy handled", () => healthy.log.handled.length === 3)
      assert.strictEqual((yield* crashingRef.stats).state, "restarting")
      const stats = yield* healthyRef.stats
      assert.strictEqual(stats.state, "running")
      assert.strictEqual(stats.restarts, 0)
      assert.strictEqual(healthy.log.starts.length, 1)
      assert.deepStrictEqual(healthy.log.stops, [])

      yield* TestClock.adjust("1 second")
      assert.strictEqual(crashing.log.starts.length, 2)
      assert.strictEqual(healthy.log.starts.length, 1)
    }))

  it.effect("supervisor - one-for-all stops and restarts every child when one crashes", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make("root", testStrategy({ kind: "one-for-all" }))
      const a = probe()
      const b = probe()
      const aRef = yield* Actor.make("a", a.behaviour, { supervisor })
      const bRef = yield* Actor.make("b", b.behaviour, { supervisor })
      yield* bRef.tell("x")
      yield* yieldUntil("both started", () => a.log.starts.length === 1 && b.log.handled.length === 1)

      yield* aRef.tell("boom")
      yield* yieldUntil("b stopped", () => b.log.stops.length === 1)
      assert.deepStrictEqual(b.log.stops, [{ state: 1, reason: "stopped" }])
      yield* yieldUntil("both restarting", () =>
        Effect.map(Effect.all([aRef.stats, bRef.stats]), (all) => all.every((s) => s.state === "restarting")))

      yield* TestClock.adjust("999 millis")
      assert.strictEqual(a.log.starts.length, 1)
      assert.strictEqual(b.log.starts.length, 1)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(a.log.starts, [0, 1000])
      assert.deepStrictEqual(b.log.starts, [0, 1000])
      assert.strictEqual((yield* aRef.stats).restarts, 1)
      assert.strictEqual((yield* bRef.stats).restarts, 1)
      // The mailbox survived: b still takes messages.
      yield* bRef.tell("y")
      yield* yieldUntil("b handled y", () => b.log.handled.length === 2)
    }))

  it.effect("supervisor - defects crash an actor like failures, and are restarted", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make("root", testStrategy())
      const { behaviour, log } = probe()
      const ref = yield* Actor.make("worker", behaviour, { supervisor })
      yield* ref.tell("die")
      yield* yieldUntil("restarting", () => isState(ref, "restarting"))
      assert.include((yield* ref.stats).lastFailure ?? "", "defect")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(log.starts.length, 2)
    }))

  it.effect("supervisor - a nested supervisor that escalates is restarted by its parent", () =>
    Effect.gen(function*() {
      const parent = yield* Supervisor.make("parent", testStrategy())
      const child = yield* Supervisor.make("child", testStrategy({ maxRestarts: 0 }), { parent })
      const { behaviour, log } = probe()
      const ref = yield* Actor.make("worker", behaviour, { supervisor: child })
      yield* ref.tell("a")
      yield* yieldUntil("started", () => log.handled.length === 1)

      yield* ref.tell("boom")
      yield* yieldUntil("child supervisor restarting", () =>
        Effect.map(parent.children, (children) => children[0]?.state === "restarting"))
      assert.deepStrictEqual(log.stops, [], "the crashed actor does not run onStop")
      const [childStats] = yield* parent.children
      assert.strictEqual(childStats?.name, "child")
      assert.include(childStats?.lastFailure ?? "", "SupervisorEscalated")

      yield* TestClock.adjust("1 second")
      assert.strictEqual(log.starts.length, 2, "the parent restarted the child supervisor and its actor")
      assert.strictEqual((yield* child.stats).restarts, 1)
      yield* ref.tell("b")
      yield* yieldUntil("handled after restart", () => log.handled.length === 2)
      assert.strictEqual((yield* parent.stats).state, "running")
    }))
})
