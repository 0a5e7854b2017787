/**
 * Reading a slice of a stream without disturbing it: the latest message of every subject
 * under a filter (each device's last reading, last window result, last alarm event) or
 * everything since a moment (the dashboard's history).
 *
 * The log itself answers these questions, so any node can answer them for the whole
 * cluster, whichever node owns the partitions. Each read is a short-lived ephemeral
 * consumer with no acks, kept in memory with one replica, deleted afterwards (and expired
 * by the server if this process dies first). It is nats-server 2.9 compatible: one filter
 * subject, no multi-filter or batch direct-get APIs.
 */
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream"
import { natsError, type NatsError } from "@bramble/nats"
import { Effect } from "effect"

/** A stored message, detached from the consumer that read it. */
export interface PeekedMessage {
  readonly subject: string
  readonly seq: number
  /** When JetStream stored it, ms since the epoch. */
  readonly storedAt: number
  readonly data: Uint8Array
}

export type PeekStart =
  /** The latest message of every subject matching the filter. */
  | { readonly kind: "lastPerSubject" }
  /** Every message stored since this time (ms since the epoch). */
  | { readonly kind: "since"; readonly time: number }
  /** Every message from this stream sequence on. */
  | { readonly kind: "fromSeq"; readonly seq: number }

export interface PeekOptions {
  readonly stream: string
  readonly filter: string
  readonly start: PeekStart
  /** At most this many messages: the first ones in stream order, or the newest with `newest`. */
  readonly limit: number
  /** When more than `limit` match, read the newest `limit` instead of the oldest. For a
   * filter covering (nearly) the whole stream, as the dashboard's history does. */
  readonly newest?: boolean
  /** Give up waiting for messages after this long (default 5 s). */
  readonly timeoutMs?: number
}

const detach = (m: JsMsg): PeekedMessage => ({
  subject: m.subject,
  seq: m.seq,
  storedAt: Math.floor(m.info.timestampNanos / 1e6),
  data: m.data
})

const startConfig = (start: PeekStart) => {
  switch (start.kind) {
    case "lastPerSubject":
      return { deliver_policy: DeliverPolicy.LastPerSubject }
    case "since":
      return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(start.time).toISOString() }
    case "fromSeq":
      return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, start.seq) }
  }
}

/** Read up to `limit` messages of `stream` matching `filter` from `start`. */
export const peekStream = (
  js: JetStreamClient,
  jsm: JetStreamManager,
  options: PeekOptions
): Effect.Effect<ReadonlyArray<PeekedMessage>, NatsError> =>
  Effect.tryPromise({
    try: async () => {
      const timeout = options.timeoutMs ?? 5_000
      const create = (start: PeekStart) =>
        jsm.consumers.add(options.stream, {
          ...startConfig(start),
          filter_subject: options.filter,
          ack_policy: AckPolicy.None,
          mem_storage: true,
          num_replicas: 1,
          // Removed by the server if we never get to delete it.
          inactive_threshold: 30_000_000_000
        })
      let info = await create(options.start)
      if (options.newest === true && info.num_pending > options.limit) {
        await jsm.consumers.delete(options.stream, info.name).catch(() => false)
        const stream = await jsm.streams.info(options.stream)
        info = await create({ kind: "fromSeq", seq: stream.state.last_seq - options.limit + 1 })
      }
      try {
        const wanted = Math.min(info.num_pending, options.limit)
        const out: Array<PeekedMessage> = []
        if (wanted === 0) return out
        const consumer = await js.consumers.get(options.stream, info.name)
        while (out.length < wanted) {
          const batch = await consumer.fetch({ max_messages: Math.min(wanted - out.length, 1000), expires: timeout })
          let got = 0
          for await (const m of batch) {
            out.push(detach(m))
            got += 1
          }
          // Nothing came within the timeout: the messages went away (age, limits) meanwhile.
          if (got === 0) break
        }
        return out
      } finally {
        await jsm.consumers.delete(options.stream, info.name).catch(() => false)
      }
    },
    catch: natsError("JetStream", `cannot read ${options.stream} (${options.filter})`)
  })
