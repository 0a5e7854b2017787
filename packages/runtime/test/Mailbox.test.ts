import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Latch } from "effect"
import { Actor, Mailbox } from "../src/index.js"
import { settle, yieldUntil } from "../../../test/support/Eventually.js"
import { probe } from "./probe.js"

describe("Mailbox", () => {
  it.effect("mailbox - a full mailbox suspends the sender until a message is taken", () =>
    Effect.gen(function*() {
      const mailbox = yield* Mailbox.make<number>(2)
      yield* Mailbox.offer(mailbox, 1)
      yield* Mailbox.offer(mailbox, 2)
      assert.isTrue(yield* Mailbox.isFull(mailbox))
      const sender = yield* Effect.forkChild(Mailbox.offer(mailbox, 3))
      yield* settle
      assert.isUndefined(sender.pollUnsafe(), "sender should be suspended on a full mailbox")
      assert.strictEqual(yield* Mailbox.take(mailbox), 1)
      yield* Fiber.join(sender)
      assert.strictEqual(yield* Mailbox.take(mailbox), 2)
      assert.strictEqual(yield* Mailbox.take(mailbox), 3)
      assert.strictEqual(yield* Mailbox.size(mailbox), 0)
    }))

  it.effect("mailbox - closing hands back every undelivered message, suspended senders' too", () =>
    Effect.gen(function*() {
      const mailbox = yield* Mailbox.make<number>(2)
      yield* Mailbox.offerAll(mailbox, [1, 2])
      const sender = yield* Effect.forkChild(Mailbox.offer(mailbox, 3))
      yield* settle
      const undelivered = yield* Mailbox.close(mailbox)
      assert.deepStrictEqual(undelivered, [1, 2, 3])
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(sender)))
      const late = yield* Effect.exit(Mailbox.offer(mailbox, 4))
      assert.isTrue(Exit.isFailure(late))
      assert.strictEqual((yield* Effect.flip(Mailbox.take(mailbox)))._tag, "MailboxClosed")
    }))

  it.effect("mailbox - a parked consumer is woken once, by the offer that ends its wait, in the sender's fibre", () =>
    Effect.gen(function*() {
      const mailbox = yield* Mailbox.make<number>(4)
      let wakes = 0
      const waker: Mailbox.Waker = { wake: () => Effect.sync(() => wakes++) }
      assert.isTrue(Mailbox.parkUnsafe(mailbox, waker))
      assert.isTrue(Mailbox.isParkedUnsafe(mailbox))
      yield* Mailbox.offer(mailbox, 1)
      assert.strictEqual(wakes, 1, "the offer that ended the wait runs the waker before it returns")
      yield* Mailbox.offerAll(mailbox, [2, 3])
      assert.strictEqual(wakes, 1, "a waker runs once")
      assert.isFalse(Mailbox.parkUnsafe(mailbox, waker), "a mailbox holding messages cannot be parked on")
      assert.deepStrictEqual([Mailbox.pollUnsafe(mailbox), Mailbox.pollUnsafe(mailbox), Mailbox.pollUnsafe(mailbox)], [1, 2, 3])
      assert.strictEqual(Mailbox.pollUnsafe(mailbox), Mailbox.Empty)

      // Taken back, it is not run; closing with `close` wakes a parked consumer.
      assert.isTrue(Mailbox.parkUnsafe(mailbox, waker))
      assert.strictEqual(Mailbox.unparkUnsafe(mailbox), waker)
      yield* Mailbox.offer(mailbox, 4)
      assert.strictEqual(wakes, 1)
      assert.strictEqual(Mailbox.pollUnsafe(mailbox), 4)
      assert.isTrue(Mailbox.parkUnsafe(mailbox, waker))
      assert.deepStrictEqual(yield* Mailbox.close(mailbox), [])
      assert.strictEqual(wakes, 2)
      assert.strictEqual(Mailbox.pollUnsafe(mailbox), Mailbox.Closed)
      assert.isFalse(Mailbox.parkUnsafe(mailbox, waker), "a closed mailbox cannot be parked on")
    }))

  it.effect("mailbox - a sender suspended on a full mailbox of a parked consumer wakes it when room appears", () =>
    Effect.gen(function*() {
      // A batch larger than the mailbox for a parked consumer: the part that fits
      // wakes it, and the rest follows as it takes.
      const mailbox = yield* Mailbox.make<number>(2)
      const taken: Array<number> = []
      let wakes = 0
      const waker: Mailbox.Waker = {
        wake: () => Effect.sync(() => wakes++)
      }
      assert.isTrue(Mailbox.parkUnsafe(mailbox, waker))
      const sender = yield* Effect.forkChild(Mailbox.offerAll(mailbox, [1, 2, 3, 4, 5]))
      yield* yieldUntil("woken", () => wakes === 1)
      for (;;) {
        const polled = Mailbox.pollUnsafe(mailbox)
        if (polled === Mailbox.Empty) {
          if (taken.length === 5) break
          yield* Effect.yieldNow
          continue
        }
        if (polled === Mailbox.Closed) break
        taken.push(polled)
      }
      yield* Fiber.join(sender)
      assert.deepStrictEqual(taken, [1, 2, 3, 4, 5])
      assert.strictEqual(wakes, 1)
    }))

  it.effect("mailbox - a capacity below one is a defect", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Mailbox.make<number>(0))
      assert.isTrue(Exit.isFailure(exit) && Exit.hasDies(exit))
    }))

  it.effect("mailbox - a full actor mailbox suspends the sender until the actor takes a message, and nothing is dropped", () =>
    Effect.gen(function*() {
      const gate = yield* Latch.make(false)
      const { behaviour, log } = probe(gate)
      const ref = yield* Actor.make("slow", behaviour, { capacity: 4 })
      const messages = Array.from({ length: 20 }, (_, i) => i === 0 ? "block" : `m${i}`)
      let sent = 0
      const sender = yield* Effect.forkChild(
        Effect.forEach(messages, (message) => Effect.andThen(ref.tell(message), Effect.sync(() => sent++)), {
          discard: true
        })
      )
      // The actor holds "block"; four more fill the mailbox; the sixth tell waits.
      yield* yieldUntil("mailbox full", () => Effect.map(ref.stats, (stats) => stats.mailboxSize === 4 && sent === 5))
      yield* settle
      assert.strictEqual(sent, 5, "the sender must stay suspended while the mailbox is full")
      assert.isUndefined(sender.pollUnsafe())
      assert.deepStrictEqual(log.handled, [])

      yield* gate.open
      yield* Fiber.join(sender)
      yield* yieldUntil("all handled", () => log.handled.length === messages.length)
      assert.deepStrictEqual(log.handled, messages)
      const stats = yield* ref.stats
      assert.strictEqual(stats.processed, messages.length)
      assert.strictEqual(stats.mailboxSize, 0)
    }))

  it.effect("mailbox - a batch larger than the mailbox is delivered in order as the actor makes room", () =>
    Effect.gen(function*() {
      const { behaviour, log } = probe()
      const ref = yield* Actor.make("batch", behaviour, { capacity: 3 })
      const messages = Array.from({ length: 50 }, (_, i) => `m${i}`)
      yield* ref.tellAll(messages)
      yield* yieldUntil("all handled", () => log.handled.length === messages.length)
      assert.deepStrictEqual(log.handled, messages)
    }))
})
