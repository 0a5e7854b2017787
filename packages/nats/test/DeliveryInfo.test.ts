/**
 * The delivery numbers read from a JetStream reply subject in place (../src/DeliveryInfo.ts)
 * are nats.js's own (`parseInfo`), in both layouts, for any numbers.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { deliverySequenceOf, replyOf, storedAtMsOf, streamSequenceOf } from "../src/DeliveryInfo.js"

// nats.js's own parser and message wrapper: not exported, so loaded from their file.
const require = createRequire(import.meta.url)
const jsmsg = require(join(dirname(require.resolve("@nats-io/jetstream")), "jsmsg.js")) as {
  readonly parseInfo: (reply: string) => { readonly streamSequence: number; readonly deliverySequence: number }
  readonly toJsMsg: (m: unknown) => import("@nats-io/jetstream").JsMsg
}
const { parseInfo, toJsMsg } = jsmsg

const seq = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })
// Nanoseconds since 1970 as nats-server writes them (19 digits today), up to year ~2255.
const nanos = fc.bigInt({ min: 1_000_000n, max: 9_000_000_000_000_000_000n })

describe("DeliveryInfo", () => {
  it("reads what nats.js parseInfo reads, in the old and the new layout", () => {
    fc.assert(fc.property(seq, seq, seq, nanos, fc.nat(), fc.boolean(), (delivered, streamSeq, deliverySeq, ns, pending, newLayout) => {
      const tail = `${delivered}.${streamSeq}.${deliverySeq}.${ns}.${pending}`
      const reply = newLayout ? `$JS.ACK._.acchash.READINGS.bramble-p0.${tail}.tok3n` : `$JS.ACK.READINGS.bramble-p0.${tail}`
      const info = parseInfo(reply)
      assert.strictEqual(streamSequenceOf(reply), info.streamSequence)
      assert.strictEqual(deliverySequenceOf(reply), info.deliverySequence)
      assert.strictEqual(storedAtMsOf(reply), Number(ns / 1_000_000n))
    }))
  })

  it("anything else is NaN, never a number", () => {
    for (const reply of ["", "_INBOX.abc", "$JS.ACK.READINGS.c.1.x.2.3.4", "$JS.ACK.a.b.c"]) assert.isNaN(streamSequenceOf(reply), reply)
  })

  it("a nats.js message gives its reply subject", () => {
    const reply = "$JS.ACK.READINGS.c.1.42.7.1700000000123456789.0"
    const message = toJsMsg({ subject: "readings.0.a.env", reply, data: new Uint8Array(), sid: 1 } as never)
    assert.strictEqual(replyOf(message), reply)
    assert.strictEqual(streamSequenceOf(replyOf(message)), message.seq)
  })
})
