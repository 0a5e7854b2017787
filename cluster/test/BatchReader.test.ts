import { assert, describe, it } from "@effect/vitest"
import type { ConsumerMessages, JsMsg } from "@bramble/nats"
import { BatchReader } from "../src/partition/BatchReader.js"

/** A stand-in for nats.js's consume() iterator: messages arrive when `deliver` is called, and
 * getPending() is whatever the test says — nats.js inflates it with status callbacks. */
const fakeMessages = (pendingHint: () => number) => {
  const queue: Array<JsMsg> = []
  let wake: (() => void) | undefined
  const iterator = (async function*() {
    while (true) {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve))
      yield queue.shift()!
    }
  })()
  const messages = { [Symbol.asyncIterator]: () => iterator, getPending: pendingHint } as unknown as ConsumerMessages
  const deliver = (n: number, from = 0) => {
    for (let i = 0; i < n; i++) queue.push({ seq: from + i } as JsMsg)
    wake?.()
  }
  return { messages, deliver, buffered: () => queue.length }
}

describe("BatchReader", () => {
  it("returns what is buffered as one batch, up to the maximum", async () => {
    const fake = fakeMessages(() => 1)
    fake.deliver(25)
    const reader = new BatchReader(fake.messages)
    const first = await reader.next(10, 1000)
    assert.deepStrictEqual(first.map((m) => m.seq), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    const rest = await reader.next(100, 1000)
    assert.strictEqual(rest.length, 15)
  })

  it("does not wait for the network when the pending hint is inflated and nothing is buffered", async () => {
    // nats.js can report getPending() > 0 with an empty buffer; the reader used to await the
    // next message with no timeout there and stall its partition until new data arrived.
    const fake = fakeMessages(() => 3)
    fake.deliver(2)
    const reader = new BatchReader(fake.messages)
    const batch = await reader.next(100, 60_000)
    assert.strictEqual(batch.length, 2)
  })

  it("an empty batch after the wait means nothing new; a later message still arrives", async () => {
    const fake = fakeMessages(() => 0)
    const reader = new BatchReader(fake.messages)
    assert.deepStrictEqual(await reader.next(10, 20), [])
    fake.deliver(1, 7)
    const batch = await reader.next(10, 1000)
    assert.deepStrictEqual(batch.map((m) => m.seq), [7])
  })
})
