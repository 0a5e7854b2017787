/**
 * The partition's inbox: messages pulled from the partition's consumer one `fetch` at a
 * time, in callback mode, and taken out in batches.
 *
 * Callback mode hands each message over synchronously as the client parses it. The
 * iterator mode it replaces cost an async-generator step, a wrapper promise and a timer race
 * per message — a fifth of the node's CPU at 25,000 readings/s.
 *
 * Pulls follow the taking: the next fetch (one batch) is asked for only when the previous
 * one is over and less than a batch waits here, so a partition holds at most about two
 * batches in memory however long the backlog. `consume()` (which this replaced) pulls again
 * as soon as messages arrive, whether or not anyone took them, so on a backlog each
 * partition buffered up to its `max_ack_pending` (25 batches): 200+ MB of heap on a node
 * catching up, and a quarter of its CPU in the garbage collector copying messages that
 * waited. `max_ack_pending` still bounds what is delivered and not yet acknowledged (the
 * acknowledgement follows the checkpoint, which follows the database), so a slow pipeline
 * still slows the pulls.
 *
 * `next` returns what is buffered (up to `max`), or waits up to `waitMs` for something to
 * arrive — an empty batch means "nothing new", which is when the partition checkpoints and
 * advances idle watermarks.
 */
import type { ConsumerMessages, JsMsg } from "@bramble/nats"

/** Start one pull of up to `max` messages, each handed to `deliver` as it arrives. */
export type Pull = (max: number, deliver: (message: JsMsg) => void) => Promise<ConsumerMessages>

export class BatchReader {
  private queue: Array<JsMsg> = []
  private wake: (() => void) | undefined
  private pulling = false
  private current: ConsumerMessages | undefined
  private closing = false
  private received = 0
  /** The consumer stopped (deleted, fenced off, connection closed, a pull failed): nothing more will arrive. */
  done = false

  /** @param pull starts a fetch; `undefined` for a reader fed by `deliver` alone (tests). */
  constructor(private readonly pull: Pull | undefined = undefined, private readonly batchSize = 1000) {}

  /** Start pulling. */
  start(): void {
    this.refill()
  }

  /** Stop pulling; what is buffered stays. */
  async close(): Promise<void> {
    this.closing = true
    const current = this.current
    if (current !== undefined) {
      current.stop()
      await current.closed().then(() => undefined, () => undefined)
    }
  }

  /** A message of the pull: never throws (nats.js would stop the pull). */
  readonly deliver = (message: JsMsg): void => {
    this.received += 1
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

  async next(max: number, waitMs: number): Promise<Array<JsMsg>> {
    if (this.buffered === 0 && !this.done && waitMs > 0) {
      let timer: NodeJS.Timeout | undefined
      await new Promise<void>((resolve) => {
        this.wake = resolve
        timer = setTimeout(resolve, waitMs)
      })
      clearTimeout(timer)
      this.wake = undefined
    }
    const n = Math.min(max, this.buffered)
    if (n === 0) return []
    let batch: Array<JsMsg>
    if (n === this.queue.length) {
      batch = this.queue
      this.queue = []
    } else {
      // splice, not an index into the array: taken messages must not stay referenced
      // (each holds its payload) until the buffer happens to empty.
      batch = this.queue.splice(0, n)
    }
    this.refill()
    return batch
  }

  /** Ask for the next batch once the previous pull is over and less than a batch waits. */
  private refill(): void {
    const pull = this.pull
    if (pull === undefined || this.pulling || this.done || this.closing || this.queue.length >= this.batchSize) return
    this.pulling = true
    const before = this.received
    pull(this.batchSize, this.deliver).then(
      (messages) => {
        this.current = messages
        if (this.closing) messages.stop()
        // A pull ends when its batch is complete or it expired: pull again. One that ends
        // with an error after delivering something (a leader moved, heartbeats missed after
        // a busy spell) is worth another; one that failed with nothing (the consumer is gone,
        // the server unreachable) ends the reader, and the worker restarts from its
        // checkpoint — on its own back-off, not in a tight loop here.
        void messages.closed().then((error) => {
          this.current = undefined
          this.pulling = false
          if (error instanceof Error && this.received === before) this.end()
          else this.refill()
        }, this.end)
      },
      this.end
    )
  }

  private wakeUp() {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}
