/**
 * The partition's inbox: messages from a JetStream `consume()` in callback mode, taken out
 * in batches.
 *
 * Callback mode hands each message over synchronously as the client parses it. The
 * iterator mode it replaces cost an async-generator step, a wrapper promise and a timer race
 * per message — a fifth of the node's CPU at 25,000 readings/s. What the iterator gave for
 * free was backpressure (it pulls only as messages are taken); here the bound is the
 * consumer's `max_ack_pending` (see packages/nats PartitionConsumer): the server stops
 * delivering once that many messages wait for an acknowledgement, and acknowledgements
 * follow checkpoints, which follow the database. So a slow pipeline still slows the pull,
 * and the buffer never holds more than that bound.
 *
 * `next` returns what is buffered (up to `max`), or waits up to `waitMs` for something to
 * arrive — an empty batch means "nothing new", which is when the partition checkpoints and
 * advances idle watermarks.
 *
 * A batch is not taken the moment the first message is there: while messages keep arriving
 * it gives the event loop a few more turns (`GATHER_TURNS`), so what the client reads from
 * the socket meanwhile joins the batch. The partition's costs per batch (a message to each
 * device's actor and to storage, the watermark, the checkpoint's bookkeeping) are then
 * shared by more readings — with 50 devices a partition, a batch of one socket read gave
 * most devices a message per reading. A turn in which nothing arrives ends the gathering,
 * so a quiet partition waits no longer than it did.
 */
import type { JsMsg } from "@bramble/nats"

/** Event-loop turns a batch may wait for more while messages keep arriving. */
const GATHER_TURNS = 4

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

export class BatchReader<M = JsMsg> {
  private queue: Array<M> = []
  private wake: (() => void) | undefined
  /** The consumer stopped (closed, deleted, fenced off): nothing more will arrive. */
  done = false
  /** Messages delivered so far (./DeliveryWatch.ts: has anything come since?). */
  delivered = 0

  /** The consume() callback: never throws (nats.js would stop the consumer). */
  readonly deliver = (message: M): void => {
    this.delivered++
    this.queue.push(message)
    this.wakeUp()
  }

  /** The consumer ended: wake the reader so the worker can restart from its checkpoint. */
  readonly end = (): void => {
    this.done = true
    this.wakeUp()
  }

  /** Messages delivered and not yet taken. */
  get buffered(): number {
    return this.queue.length
  }

  async next(max: number, waitMs: number): Promise<Array<M>> {
    if (this.buffered === 0 && !this.done && waitMs > 0) {
      let timer: NodeJS.Timeout | undefined
      await new Promise<void>((resolve) => {
        this.wake = resolve
        timer = setTimeout(resolve, waitMs)
      })
      clearTimeout(timer)
      this.wake = undefined
    }
    for (let turn = 0; turn < GATHER_TURNS && this.buffered > 0 && this.buffered < max && !this.done; turn++) {
      const before = this.buffered
      await nextTurn()
      if (this.buffered === before) break
    }
    const n = Math.min(max, this.buffered)
    if (n === 0) return []
    let batch: Array<M>
    if (n === this.queue.length) {
      batch = this.queue
      this.queue = []
    } else {
      // splice, not an index into the array: taken messages must not stay referenced
      // (each holds its payload) until the buffer happens to empty.
      batch = this.queue.splice(0, n)
    }
    return batch
  }

  private wakeUp() {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}
