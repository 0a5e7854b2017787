import { assert, describe, it } from "@effect/vitest"
import type { JsMsg } from "@bramble/nats"
import { BatchReader } from "../src/partition/BatchReader.js"

const messages = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ seq: from + i }) as JsMsg)

describe("BatchReader", () => {
  it("returns what is buffered as one batch, up to the maximum, in delivery order", async () => {
    const reader = new BatchReader()
    for (const m of messages(25)) reader.deliver(m)
    const first = await reader.next(10, 1000)
    assert.deepStrictEqual(first.map((m) => m.seq), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    const rest = await reader.next(100, 1000)
    assert.deepStrictEqual(rest.map((m) => m.seq), Array.from({ length: 15 }, (_, i) => 10 + i))
    assert.strictEqual(reader.buffered, 0)
  })

  it("keeps order across many partial takes", async () => {
    const reader = new BatchReader()
    const seen: Array<number> = []
    for (let round = 0; round < 20; round++) {
      for (const m of messages(1000, round * 1000)) reader.deliver(m)
      for (const m of await reader.next(700, 10)) seen.push(m.seq)
    }
    while (reader.buffered > 0) for (const m of await reader.next(700, 10)) seen.push(m.seq)
    assert.deepStrictEqual(seen, Array.from({ length: 20_000 }, (_, i) => i))
  })

  it("an empty batch after the wait means nothing new; a later message wakes the reader", async () => {
    const reader = new BatchReader()
    assert.deepStrictEqual(await reader.next(10, 20), [])
    const waiting = reader.next(10, 60_000)
    reader.deliver(messages(1, 7)[0]!)
    assert.deepStrictEqual((await waiting).map((m) => m.seq), [7])
  })

  it("the end of the consumer wakes a waiting reader and marks it done", async () => {
    const reader = new BatchReader()
    const waiting = reader.next(10, 60_000)
    reader.end()
    assert.deepStrictEqual(await waiting, [])
    assert.isTrue(reader.done)
  })
})
