import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Latch } from "effect"
import { Actor, Mailbox } from "../src/index.js"
import { eventually, settle } from "./helpers.js"
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
      yield* eventually("mailbox full", () => Effect.map(ref.stats, (stats) => stats.mailboxSize === 4 && sent === 5))
      yield* settle
      assert.strictEqual(sent, 5, "the sender must stay suspended while the mailbox is full")
      assert.isUndefined(sender.pollUnsafe())
      assert.deepStrictEqual(log.handled, [])

      yield* gate.open
      yield* Fiber.join(sender)
      yield* eventually("all handled", () => log.handled.length === messages.length)
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
      yield* eventually("all handled", () => log.handled.length === messages.length)
      assert.deepStrictEqual(log.handled, messages)
    }))
})
