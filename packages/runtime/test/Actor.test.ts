import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Latch, Scope } from "effect"
import { TestClock } from "effect/testing"
import { Actor, Entities, Supervisor } from "../src/index.js"
import { settle, yieldUntil } from "../../../test/support/Eventually.js"
import { type Boom, probe, testStrategy } from "./probe.js"

type Request =
  | { readonly _tag: "Add"; readonly n: number }
  | { readonly _tag: "Get"; readonly reply: Deferred.Deferred<number> }
  | { readonly _tag: "Explode"; readonly reply: Deferred.Deferred<number> }

const getTotal = (reply: Deferred.Deferred<number>): Request => ({ _tag: "Get", reply })
const explode = (reply: Deferred.Deferred<number>): Request => ({ _tag: "Explode", reply })

const counter: Actor.Behaviour<Request, number, Error> = {
  init: Effect.succeed(0),
  receive: (total, request) => {
    switch (request._tag) {
      case "Add":
        return Effect.succeed(total + request.n)
      case "Get":
        return Effect.as(Deferred.succeed(request.reply, total), total)
      case "Explode":
        return Effect.fail(new Error("exploded"))
    }
  }
}

describe("Actor", () => {
  it.effect("actor - onCrash receives the message the actor crashed on, and it is not retried", () =>
    Effect.gen(function*() {
      const { behaviour, log } = probe()
      const crashes: Array<{ message: string; cause: Cause.Cause<Boom> }> = []
      const ref = yield* Actor.make("worker", behaviour, {
        strategy: testStrategy(),
        onCrash: (message, cause) => Effect.sync(() => crashes.push({ message, cause }))
      })
      yield* ref.tellAll(["a", "boom", "b"])
      yield* yieldUntil("crashed", () => crashes.length === 1)
      assert.strictEqual(crashes[0]?.message, "boom")
      assert.strictEqual(Cause.squash(crashes[0]!.cause) instanceof Error, true)

      yield* TestClock.adjust("1 second")
      yield* yieldUntil("b handled", () => log.handled.length === 2)
      assert.deepStrictEqual(log.received, ["a", "boom", "b"], "boom must not be delivered again")
      assert.deepStrictEqual(log.handled, ["a", "b"])
      assert.strictEqual(crashes.length, 1)
    }))

  it.effect("actor - init runs again on restart and messages queued before the crash are delivered after it", () =>
    Effect.gen(function*() {
      const gate = yield* Latch.make(false)
      const { behaviour, log } = probe(gate)
      const ref = yield* Actor.make("worker", behaviour, { strategy: testStrategy() })
      // "block" holds the actor so that everything after "boom" is queued before the crash.
      yield* ref.tellAll(["block", "boom", "q1", "q2", "q3"])
      yield* yieldUntil("queued", () => Effect.map(ref.stats, (s) => s.mailboxSize === 4))
      yield* gate.open
      yield* yieldUntil("restarting", () => Effect.map(ref.stats, (s) => s.state === "restarting"))
      assert.strictEqual((yield* ref.stats).mailboxSize, 3, "the queued messages survive the crash")
      assert.strictEqual(log.starts.length, 1)

      yield* TestClock.adjust("1 second")
      yield* yieldUntil("all handled", () => log.handled.length === 4)
      assert.deepStrictEqual(log.handled, ["block", "q1", "q2", "q3"])
      assert.deepStrictEqual(log.starts, [0, 1000])
      assert.strictEqual((yield* ref.stats).processed, 4)
    }))

  it.effect("actor - ask replies through the Deferred in the message", () =>
    Effect.gen(function*() {
      const ref = yield* Actor.make("counter", counter)
      yield* ref.tellAll([{ _tag: "Add", n: 2 }, { _tag: "Add", n: 40 }])
      const total = yield* Actor.ask(ref, getTotal)
      assert.strictEqual(total, 42)
    }))

  it.effect("actor - an ask the actor crashes on fails with ActorCrashed instead of hanging", () =>
    Effect.gen(function*() {
      const ref = yield* Actor.make("counter", counter, { strategy: testStrategy() })
      const error = yield* Effect.flip(ref.ask(explode))
      assert.strictEqual(error._tag, "ActorCrashed")
      if (error._tag === "ActorCrashed") assert.strictEqual(error.actor, "counter")
    }))

  it.effect("actor - asks to a stopped actor fail with ActorStopped, including ones still queued", () =>
    Effect.gen(function*() {
      const gate = yield* Latch.make(false)
      const blocker: Actor.Behaviour<Request | "block", number> = {
        init: Effect.succeed(0),
        receive: (state, message) => message === "block" ? Effect.as(gate.await, state) : Effect.succeed(state)
      }
      const ref = yield* Actor.make("blocked", blocker)
      yield* ref.tell("block")
      const pending = yield* Effect.forkChild(ref.ask(getTotal))
      yield* yieldUntil("queued", () => Effect.map(ref.stats, (s) => s.mailboxSize === 1))
      yield* ref.stop
      const exit = yield* Fiber.await(pending)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual((yield* Effect.flip(Fiber.join(pending)))._tag, "ActorStopped")
      assert.strictEqual((yield* Effect.flip(ref.tell("block")))._tag, "ActorStopped")
      assert.strictEqual((yield* ref.stats).state, "stopped")
    }))

  it.effect("actor - an idle actor holds no fibre: each burst runs on a fibre that ends when the mailbox runs dry, and the state is kept", () =>
    Effect.gen(function*() {
      const fibres: Array<Fiber.Fiber<unknown, unknown>> = []
      const recorder: Actor.Behaviour<string, number> = {
        init: Effect.succeed(0),
        receive: (count) => Effect.map(Effect.fiber, (fiber) => {
          fibres.push(fiber)
          return count + 1
        })
      }
      const ref = yield* Actor.make("recorder", recorder)
      yield* ref.tellAll(["a", "b"])
      yield* yieldUntil("first burst handled", () => fibres.length === 2)
      assert.strictEqual(fibres[0], fibres[1], "one fibre handles a burst")
      yield* yieldUntil("the fibre ended once the mailbox ran dry", () => fibres[0]!.pollUnsafe() !== undefined)
      assert.strictEqual((yield* ref.stats).state, "running", "an idle actor is still running")

      yield* ref.tell("c")
      yield* yieldUntil("second burst handled", () => fibres.length === 3)
      assert.notStrictEqual(fibres[2], fibres[0], "the next message wakes the actor on a new fibre")
      assert.strictEqual((yield* ref.stats).processed, 3, "the state and counters live on between bursts")
    }))

  it.effect("actor - stopping an idle actor runs its onStop with the last state", () =>
    Effect.gen(function*() {
      const { behaviour, log } = probe()
      const ref = yield* Actor.make("idle", behaviour)
      yield* ref.tellAll(["a", "b"])
      yield* yieldUntil("handled", () => log.handled.length === 2)
      yield* settle
      yield* ref.stop
      assert.deepStrictEqual(log.stops, [{ state: 2, reason: "stopped" }])
      assert.strictEqual((yield* ref.stats).state, "stopped")
      assert.strictEqual((yield* Effect.flip(ref.tell("late")))._tag, "ActorStopped")
    }))

  it.effect("actor - init acquires resources in a scope released when the incarnation ends", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      let generation = 0
      // init's resources live in the incarnation's own Scope.
      const behaviour: Actor.Behaviour<string, number, Error, Scope.Scope> = {
        init: Effect.acquireRelease(
          Effect.sync(() => {
            events.push(`open ${++generation}`)
            return generation
          }),
          (g) => Effect.sync(() => events.push(`close ${g}`))
        ),
        receive: (state, message) => message === "boom" ? Effect.fail(new Error("boom")) : Effect.succeed(state)
      }
      const ref = yield* Actor.make("resourceful", behaviour, { strategy: testStrategy() })
      yield* ref.tell("boom")
      yield* yieldUntil("restarting", () => Effect.map(ref.stats, (s) => s.state === "restarting"))
      assert.deepStrictEqual(events, ["open 1", "close 1"])
      yield* TestClock.adjust("1 second")
      yield* ref.stop
      assert.deepStrictEqual(events, ["open 1", "close 1", "open 2", "close 2"])
    }))

  it.effect("scope - closing the scope stops every actor and entity, runs their onStop and interrupts their fibres", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const gate = yield* Latch.make(false)
      const plain = probe()
      const supervised = probe(gate)
      const entity = probe()
      const { plainRef, supervisedRef, entities } = yield* Effect.gen(function*() {
        const supervisor = yield* Supervisor.make("root", testStrategy())
        const plainRef = yield* Actor.make("plain", plain.behaviour)
        const supervisedRef = yield* Actor.make("supervised", supervised.behaviour, { supervisor })
        const entities = yield* Entities.make("devices", { behaviour: () => entity.behaviour, supervisor })
        return { plainRef, supervisedRef, entities }
      }).pipe(Scope.provide(scope))

      yield* plainRef.tell("a")
      // "block" keeps the supervised actor busy: closing must interrupt it.
      yield* supervisedRef.tellAll(["a", "block", "never"])
      yield* entities.tell("dev-1", "a")
      yield* yieldUntil("all busy", () =>
        plain.log.handled.length === 1 && supervised.log.received.length === 2 && entity.log.handled.length === 1)

      yield* Scope.close(scope, Exit.void)

      assert.deepStrictEqual(plain.log.stops, [{ state: 1, reason: "stopped" }])
      assert.deepStrictEqual(supervised.log.stops, [{ state: 1, reason: "stopped" }])
      assert.deepStrictEqual(entity.log.stops, [{ state: 1, reason: "stopped" }])
      assert.deepStrictEqual(supervised.log.handled, ["a"], "the queued message is not processed after close")
      for (const ref of [plainRef, supervisedRef]) {
        assert.strictEqual((yield* ref.stats).state, "stopped")
        assert.strictEqual((yield* Effect.flip(ref.tell("late")))._tag, "ActorStopped")
      }
      assert.strictEqual((yield* Effect.flip(entities.tell("dev-2", "late")))._tag, "ActorStopped")
      assert.strictEqual(yield* entities.size, 0)
    }))
})
