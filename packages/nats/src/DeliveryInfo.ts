/**
 * The numbers a partition needs of each JetStream delivery — stream sequence, delivery
 * sequence, when the stream stored it — read straight from the message's reply subject.
 *
 * Hand-rolled because nats.js's `JsMsg.info` (and `seq`, which reads it) splits the reply
 * subject into a dozen strings and builds an eleven-field object per message, a share of the
 * garbage that makes collection a quarter of a node's CPU (docs/performance.md). These walk
 * the string in place. The layouts are nats.js's `parseInfo` (which a property test compares
 * them with):
 *   old: $JS.ACK.<stream>.<consumer>.<delivered>.<streamSeq>.<deliverySeq>.<timestamp>.<pending>
 *   new: $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<streamSeq>.<deliverySeq>.<timestamp>.<pending>[.<token>]
 */
import type { JsMsg } from "@nats-io/jetstream"

/** Where the `index`-th token (new layout, 0-based) starts, or -1 when `reply` is no JetStream reply. */
const tokenStart = (reply: string, index: number): number => {
  let dots = 0
  for (let i = 0; i < reply.length; i++) if (reply.charCodeAt(i) === 46) dots++
  // 8 dots: the old layout, two tokens fewer before the numbers.
  const wanted = dots === 8 ? index - 2 : dots >= 10 ? index : -1
  if (wanted < 0 || !reply.startsWith("$JS.ACK.")) return -1
  let at = 0
  for (let seen = 0; seen < wanted; seen++) at = reply.indexOf(".", at) + 1
  return at
}

/** The decimal number of `digits` characters at `from` (all of the token when `drop` is 0). */
const numberAt = (reply: string, from: number, drop = 0): number => {
  let end = reply.indexOf(".", from)
  if (end < 0) end = reply.length
  end -= drop
  let n = 0
  for (let i = from; i < end; i++) {
    const d = reply.charCodeAt(i) - 48
    if (d < 0 || d > 9) return Number.NaN
    n = n * 10 + d
  }
  return end > from ? n : Number.NaN
}

const at = (reply: string, index: number, drop = 0): number => {
  const start = tokenStart(reply, index)
  return start < 0 ? Number.NaN : numberAt(reply, start, drop)
}

/** The message's sequence in its stream (NaN: not a JetStream delivery). */
export const streamSequenceOf = (reply: string): number => at(reply, 7)

/** The delivery's sequence on its consumer. */
export const deliverySequenceOf = (reply: string): number => at(reply, 8)

/** When the stream stored the message, in whole ms (the reply carries ns; the last six digits dropped). */
export const storedAtMsOf = (reply: string): number => at(reply, 9, 6)

/** A nats.js message's reply subject: `JsMsgImpl` has it as a getter its `JsMsg` type does not
 * declare (./test/DeliveryInfo.test.ts checks that it is there). */
export const replyOf = (message: JsMsg): string => (message as unknown as { readonly reply: string }).reply
