/**
 * JetStream publishing with many PubAcks outstanding, the way the Go client's PublishAsync
 * does it: one wildcard subscription on a private reply prefix, one reply subject per message,
 * a map of pending publishes and one timer sweeping the expired ones.
 *
 * Why not `jetstream(nc).publish`: each call is a full request (a mux-inbox entry, its own
 * timer, two Error objects with captured stack traces, a promise chain and JSON parsing
 * through the client's layers). On a 2-core box it tops out near 15,000 acks/s with the
 * server on the same cores, while this path reaches about 50,000/s. Partitions publish every
 * window result, forecast, alarm and dead letter this way, and benchmarks and tests use it
 * to stay cheaper than the system under test. The wire traffic is the same: a message with a `Nats-Msg-Id` header and a reply
 * subject, answered by a PubAck (or an error, or a 503 when no stream listens).
 */
import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node"

/** The stream's answer: stored (or already stored under the same msgID). */
export interface PubAckLite {
  readonly stream: string
  readonly seq: number
  readonly duplicate: boolean
}

interface Pending {
  readonly resolve: (ack: PubAckLite) => void
  readonly reject: (error: Error) => void
  readonly deadline: number
}

const SWEEP_MS = 100
const decoder = new TextDecoder()

export class AsyncJetStreamPublisher {
  private readonly prefix = createInbox()
  private readonly pending = new Map<number, Pending>()
  private readonly subscription: Subscription
  private readonly sweeper: ReturnType<typeof setInterval>
  private next = 0

  constructor(private readonly nc: NatsConnection, private readonly timeoutMs: number) {
    this.subscription = nc.subscribe(`${this.prefix}.*`, { callback: (_error, msg) => this.onReply(msg) })
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS)
  }

  /** Publishes `data` to `subject` with de-duplication id `msgID`; resolves with the PubAck. */
  publish(subject: string, data: Uint8Array, msgID: string): Promise<PubAckLite> {
    const id = this.next++
    const h = headers()
    h.set("Nats-Msg-Id", msgID)
    return new Promise<PubAckLite>((resolve, reject) => {
      // Pending entries are inserted in deadline order (one timeout for all), which lets the
      // sweep stop at the first entry that has not expired.
      this.pending.set(id, { resolve, reject, deadline: performance.now() + this.timeoutMs })
      try {
        this.nc.publish(subject, data, { reply: `${this.prefix}.${id}`, headers: h })
      } catch (error) {
        this.pending.delete(id)
        reject(error instanceof Error ? error : new Error(String(error)))
      }
    })
  }

  /** Fails whatever is still pending and stops listening; the connection stays open. */
  close(): void {
    clearInterval(this.sweeper)
    this.subscription.unsubscribe()
    for (const [id, pending] of this.pending) {
      this.pending.delete(id)
      pending.reject(new Error("publisher closed before the PubAck arrived"))
    }
  }

  private onReply(msg: Msg): void {
    const id = Number(msg.subject.slice(this.prefix.length + 1))
    const pending = this.pending.get(id)
    // A PubAck after its timeout: the publish was already reported as failed (indeterminate).
    if (pending === undefined) return
    this.pending.delete(id)
    if (msg.data.length === 0) {
      const code = msg.headers?.code ?? 0
      pending.reject(new Error(code === 503 ? "no responders: no stream captures the subject" : `status ${code} ${msg.headers?.description ?? ""}`))
      return
    }
    let body: { stream?: unknown; seq?: unknown; duplicate?: unknown; error?: { code?: unknown; err_code?: unknown; description?: unknown } }
    try {
      body = JSON.parse(decoder.decode(msg.data)) as typeof body
    } catch {
      pending.reject(new Error(`unreadable PubAck: ${decoder.decode(msg.data).slice(0, 200)}`))
      return
    }
    if (body.error !== undefined) {
      pending.reject(new Error(`JetStream error ${String(body.error.err_code ?? body.error.code)}: ${String(body.error.description)}`))
      return
    }
    if (typeof body.stream !== "string" || body.stream === "" || typeof body.seq !== "number") {
      pending.reject(new Error(`invalid PubAck: ${decoder.decode(msg.data).slice(0, 200)}`))
      return
    }
    pending.resolve({ stream: body.stream, seq: body.seq, duplicate: body.duplicate === true })
  }

  private sweep(): void {
    const now = performance.now()
    for (const [id, pending] of this.pending) {
      if (pending.deadline > now) break
      this.pending.delete(id)
      pending.reject(new Error(`no PubAck within ${this.timeoutMs} ms`))
    }
  }
}
