import { assert, describe, it } from "@effect/vitest"
import { type MemberStore, memoryMemberStore, natsError } from "@bramble/nats"
import { Effect, Exit, Scope } from "effect"
import { TestClock } from "effect/testing"
import { type Membership, membershipTiming, startMembership } from "../src/membership/Membership.js"

const settle = Effect.gen(function*() {
  for (let i = 0; i < 100; i++) yield* Effect.yieldNow
})
const step = (ms: number) =>
  Effect.gen(function*() {
    for (let t = 0; t < ms; t += 100) {
      yield* TestClock.adjust("100 millis")
      yield* settle
    }
  })

const join = (store: MemberStore, node: string) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const membership = yield* startMembership({ store, self: { node, incarnation: `${node}-1`, startedAt: 0 } }).pipe(Scope.provide(scope))
    yield* settle
    return { membership, scope }
  })

const names = (m: Membership) => m.liveNames

describe("Membership", () => {
  it.effect("membership - members see each other once the view has settled", () =>
    Effect.gen(function*() {
      const store = yield* memoryMemberStore()
      const a = yield* join(store, "a")
      const b = yield* join(store, "b")
      assert.isUndefined(yield* names(a.membership), "not fresh before settleMs")
      yield* step(membershipTiming.settleMs + 200)
      assert.deepStrictEqual(yield* names(a.membership), ["a", "b"])
      assert.deepStrictEqual(yield* names(b.membership), ["a", "b"])
      const view = yield* a.membership.view
      assert.isTrue(view.members.every((m) => m.state === "alive"))
    }))

  it.effect("membership - a member that stops heartbeating is dropped after the timeout, not before", () =>
    Effect.gen(function*() {
      const store = yield* memoryMemberStore()
      const a = yield* join(store, "a")
      const b = yield* join(store, "b")
      yield* step(2_000)
      yield* Scope.close(b.scope, Exit.void) // like SIGKILL: no leave
      yield* step(membershipTiming.timeoutMs - 900)
      assert.deepStrictEqual(yield* names(a.membership), ["a", "b"])
      assert.strictEqual((yield* a.membership.view).members.find((m) => m.record.node === "b")?.state, "suspect")
      yield* step(1_200)
      assert.deepStrictEqual(yield* names(a.membership), ["a"])
      assert.strictEqual((yield* a.membership.view).members.find((m) => m.record.node === "b")?.state, "down")
    }))

  it.effect("membership - a graceful leave is seen at once", () =>
    Effect.gen(function*() {
      const store = yield* memoryMemberStore()
      const a = yield* join(store, "a")
      const b = yield* join(store, "b")
      yield* step(2_000)
      yield* b.membership.leave
      yield* settle
      assert.deepStrictEqual(yield* names(a.membership), ["a"])
      assert.isUndefined(yield* names(b.membership), "a node that left does not act on its view")
    }))

  it.effect("membership - a node whose heartbeats fail stops trusting its view", () =>
    Effect.gen(function*() {
      const healthy = yield* memoryMemberStore()
      let down = false
      const store: MemberStore = {
        ...healthy,
        heartbeat: (record) => (down ? Effect.fail(natsError("KeyValue", "heartbeat")(new Error("no server"))) : healthy.heartbeat(record))
      }
      const a = yield* join(store, "a")
      yield* step(2_000)
      assert.deepStrictEqual(yield* names(a.membership), ["a"])
      down = true
      yield* step(membershipTiming.timeoutMs + 200)
      assert.isUndefined(yield* names(a.membership))
      down = false
      yield* step(1_200)
      assert.deepStrictEqual(yield* names(a.membership), ["a"])
    }))
})
