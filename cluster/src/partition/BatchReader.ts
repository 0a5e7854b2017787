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
    // Take what the client already holds without waiting for the network. getPending()
    // counts the message the iterator last handed out too, so "more buffered" is > 1; a
    // looser test would await the network here with no timeout and stall the partition.
    while (batch.length < max && this.messages.getPending() > 1) {
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
    const result = waitMs <= 0
      ? await this.pending
      : await Promise.race([this.pending, new Promise<"timeout">((resolve) => timer = setTimeout(resolve, waitMs, "timeout"))])
    clearTimeout(timer)
    if (result === "timeout") return undefined
    this.pending = undefined
    if (result.done) {
      this.done = true
      return undefined
    }
    return result.value
  }
}
