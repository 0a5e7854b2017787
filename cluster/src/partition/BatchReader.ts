/**
 * Turns a JetStream `consume()` iterator into batches without losing its backpressure:
 * the iterator only pulls more from the server as messages are taken from it, so a slow
 * pipeline slows the pull instead of filling memory. A batch is whatever is already
 * buffered (up to `max`), or what arrives before `waitMs` runs out — an empty batch means
 * "nothing new", which is when the partition checkpoints and advances idle watermarks.
 */
import type { ConsumerMessages, JsMsg } from "@bramble/nats"

export class BatchReader {
  private pending: Promise<IteratorResult<JsMsg>> | undefined
  private readonly iterator: AsyncIterator<JsMsg>
  done = false

  constructor(private readonly messages: ConsumerMessages) {
    this.iterator = messages[Symbol.asyncIterator]()
  }

  async next(max: number, waitMs: number): Promise<Array<JsMsg>> {
    const batch: Array<JsMsg> = []
    const first = await this.take(waitMs)
    if (first === undefined) return batch
    batch.push(first)
    // Take what the client already holds without waiting for the network. getPending() is
    // only a hint (nats.js counts its status callbacks in it, so it can stay above zero with
    // nothing buffered): it is trusted when it says 0, and otherwise the next message must
    // arrive before a macrotask turn (setImmediate) — buffered messages always do.
    while (batch.length < max && this.messages.getPending() > 0) {
      const m = await this.take(0)
      if (m === undefined) break
      batch.push(m)
    }
    return batch
  }

  private async take(waitMs: number): Promise<JsMsg | undefined> {
    if (this.done) return undefined
    this.pending ??= this.iterator.next()
    let timer: NodeJS.Timeout | undefined
    let immediate: NodeJS.Immediate | undefined
    const result = await Promise.race([
      this.pending,
      new Promise<"timeout">((resolve) => {
        if (waitMs <= 0) immediate = setImmediate(resolve, "timeout")
        else timer = setTimeout(resolve, waitMs, "timeout")
      })
    ])
    clearTimeout(timer)
    clearImmediate(immediate)
    if (result === "timeout") return undefined
    this.pending = undefined
    if (result.done) {
      this.done = true
      return undefined
    }
    return result.value
  }
}
