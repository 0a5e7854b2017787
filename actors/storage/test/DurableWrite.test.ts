import { assert, describe, it } from "@effect/vitest"
import { type BatchSink, BatchWriteError, type BatchWriteReason, makeOutageReporter, writeDurably } from "@bramble/actor-storage"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"

/**
 * An in-memory sink of numbers (a fake implementation of the contract, not a mock of any
 * server): `script` decides each call's outcome from the batch it is given; accepted items
 * are recorded in order, with every batch the sink saw.
 */
const makeSink = (script: (batch: ReadonlyArray<number>, call: number) => BatchWriteError | undefined) => {
  const accepted: Array<number> = []
  const calls: Array<ReadonlyArray<number>> = []
  const sink: BatchSink<number> = {
    name: "memory",
    describe: "memory sink",
    write: (batch) =>
      Effect.suspend(() => {
        calls.push([...batch])
        const failure = script(batch, calls.length)
        if (failure === undefined) {
          accepted.push(...batch)
          return Effect.void
        }
        // What the failure says is durable was durable.
        const done = new Set(failure.alsoAcknowledged ?? [])
        batch.forEach((item, i) => {
          if (i < failure.acknowledged || done.has(i)) accepted.push(item)
        })
        return Effect.fail(failure)
      })
  }
  return { sink, accepted, calls }
}

const failure = (reason: BatchWriteReason, fields: Partial<ConstructorParameters<typeof BatchWriteError>[0]> = {}) =>
  new BatchWriteError({ reason, sink: "memory sink", detail: `${reason} detail`, status: undefined, rejected: [], acknowledged: 0, ...fields })

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** Runs `effect` to completion while stepping the test clock (each retry sleeps). */
const withClock = <A>(effect: Effect.Effect<A>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    for (let i = 0; i < 200 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 second")
    return yield* Fiber.join(fiber)
  })

describe("durable write over any BatchSink", () => {
  it.effect("an unavailable receiver is retried with backoff until it accepts; every item arrives once", () =>
    Effect.gen(function*() {
      const db = makeSink((_, call) => call <= 4 ? failure(call % 2 === 0 ? "Timeout" : "Unavailable", { status: call % 2 === 0 ? undefined : 503 }) : undefined)
      const attempts: Array<number> = []
      const dead: Array<number> = []
      yield* withClock(writeDurably(db.sink, range(10), {
        rejected: (item) => Effect.sync(() => dead.push(item)),
        unavailable: (_, attempt) => Effect.sync(() => attempts.push(attempt))
      }))
      assert.deepStrictEqual(db.accepted, range(10))
      assert.deepStrictEqual(attempts, [1, 2, 3, 4])
      assert.deepStrictEqual(dead, [])
    }))

  it.effect("a retry does not resend what the failure said was durable (leading items and listed ones)", () =>
    Effect.gen(function*() {
      const db = makeSink((_, call) => call === 1 ? failure("Unavailable", { acknowledged: 3, alsoAcknowledged: [5, 7] }) : undefined)
      yield* withClock(writeDurably(db.sink, range(10), { rejected: () => Effect.void }))
      assert.deepStrictEqual(db.calls[1], [3, 4, 6, 8, 9])
      assert.deepStrictEqual([...db.accepted].sort((a, b) => a - b), range(10))
    }))

  it.effect("a misconfigured receiver holds the batch and is retried; nothing is dead-lettered", () =>
    Effect.gen(function*() {
      const db = makeSink((_, call) => call <= 3 ? failure("Misconfigured", { status: 401 }) : undefined)
      const dead: Array<number> = []
      yield* withClock(writeDurably(db.sink, range(5), { rejected: (item) => Effect.sync(() => dead.push(item)) }))
      assert.deepStrictEqual(db.accepted, range(5))
      assert.deepStrictEqual(dead, [])
      assert.strictEqual(db.calls.length, 4)
    }))

  it.effect("items the receiver names are refused with its reason and status; the rest are written", () =>
    Effect.gen(function*() {
      const db = makeSink((batch) => {
        const bad = batch.flatMap((item, index) => item % 4 === 1 ? [{ index, message: `item ${item} is odd` }] : [])
        return bad.length === 0 ? undefined : failure("Rejected", { status: 400, rejected: bad })
      })
      const dead: Array<string> = []
      yield* writeDurably(db.sink, range(10), { rejected: (item, reason, error) => Effect.sync(() => dead.push(`${item}:${error.status}:${reason}`)) })
      assert.deepStrictEqual(dead, ["1:400:item 1 is odd", "5:400:item 5 is odd", "9:400:item 9 is odd"])
      assert.deepStrictEqual(db.accepted, [0, 2, 3, 4, 6, 7, 8])
    }))

  it.effect("a refusal that names no item is halved until the bad item is alone", () =>
    Effect.gen(function*() {
      const db = makeSink((batch) => batch.includes(6) ? failure("Rejected", { status: 422, detail: "unprocessable" }) : undefined)
      const dead: Array<string> = []
      yield* writeDurably(db.sink, range(16), { rejected: (item, reason) => Effect.sync(() => dead.push(`${item}:${reason}`)) })
      assert.deepStrictEqual(dead, ["6:unprocessable"])
      assert.deepStrictEqual(db.accepted, range(16).filter((i) => i !== 6))
      // log2(16) halvings down to the culprit, not one request per item.
      assert.isAtMost(db.calls.length, 2 * 4 + 1)
    }))

  it.effect("a receiver that refuses everything gets each item refused exactly once", () =>
    Effect.gen(function*() {
      const db = makeSink(() => failure("Rejected", { status: 400, detail: "no" }))
      const dead: Array<number> = []
      yield* writeDurably(db.sink, range(7), { rejected: (item) => Effect.sync(() => dead.push(item)) })
      assert.deepStrictEqual(dead, range(7))
      assert.deepStrictEqual(db.accepted, [])
    }))

  it.effect("an empty batch is not written at all", () =>
    Effect.gen(function*() {
      const db = makeSink(() => undefined)
      yield* writeDurably(db.sink, [], { rejected: () => Effect.void })
      assert.strictEqual(db.calls.length, 0)
    }))

  it("outage reporter - says the first failure, every 20th, and each change of failure; forgets after recovery", () => {
    const outage = makeOutageReporter()
    const down = new BatchWriteError({ reason: "Unavailable", sink: "s", detail: "d", status: undefined, rejected: [], acknowledged: 0 })
    const refused = new BatchWriteError({ reason: "Misconfigured", sink: "s", detail: "d", status: 401, rejected: [], acknowledged: 0 })
    const said = Array.from({ length: 40 }, (_, i) => outage.worthSaying(down, i + 1))
    assert.deepStrictEqual(said.flatMap((s, i) => (s ? [i + 1] : [])), [1, 20, 40])
    assert.isTrue(outage.worthSaying(refused, 41), "a different failure is said at once")
    assert.isFalse(outage.worthSaying(refused, 42))
    outage.recovered()
    assert.isTrue(outage.worthSaying(refused, 43), "after a recovery the same failure is new again")
  })
})
