/**
 * The ingest router: every message of a routed topic, read in its route's dialect and put
 * into READINGS under its device's partition — and every part that is not a reading, and
 * every message no route takes, dead-lettered with its reason. Nothing vanishes.
 *
 * Why a router and not a subject mapping: where the device id is in the payload
 * (`deviceField`, `deviceTag`) or a message holds several devices' readings, nats-server
 * cannot compute the partition. So routed first levels are captured by the INGEST stream,
 * and one durable consumer (`bramble-ingest`) reads it, in order, on the node that owns
 * partition 0 (its lease and fence decide who: one reader at a time, so each device's
 * readings reach READINGS in the order they were published).
 *
 * Acknowledgement rule (docs/design.md, decision 4): a batch is acknowledged only once every reading
 * and dead letter it produced is stored. A message's readings go out as one batch record per
 * device and sensor (./BatchRecords.ts); each publish carries a de-duplication id
 * (`ingest.<INGEST seq>.<n>`, n the record's place), so a batch read again after a crash stores nothing twice
 * within the streams' 2-minute window, and outside it a reading stored twice is the same
 * point (device, event time) and is counted once by the windows (docs/neighbours.md). A
 * reading without a time takes the time INGEST stored the message: the same on every read.
 */
import { fetchBatch, INGEST_STREAM, NatsClient, natsError } from "@bramble/nats"
import { deadLetterOf, encodeDeadLetter, type RejectionReason, Subjects } from "@bramble/protocol"
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream"
import { Cause, Effect, Schedule } from "effect"
import { batchRecords } from "./BatchRecords.js"
import type { RouteTable } from "./RouteTable.js"

export const INGEST_CONSUMER = "bramble-ingest"

/** What the router did, for `bramble status` and `/metrics`. */
export interface IngestStats {
  /** Messages read from INGEST. */
  messages: number
  /** Readings put into READINGS. */
  readings: number
  /** Parts of messages refused (dead-lettered) by their route's dialect. */
  refused: number
  /** Messages no route takes (dead-lettered as NoRoute), INGEST and MQTT QoS 1 together. */
  noRoute: number
}

export const makeIngestStats = (): IngestStats => ({ messages: 0, readings: 0, refused: 0, noRoute: 0 })

/** The longest refusal message a dead letter carries (as the partitions do). */
const MAX_MESSAGE_CHARS = 4_096

export interface Publisher {
  readonly publish: (subject: string, data: Uint8Array, msgID: string) => Promise<unknown>
}

/** A dead letter for `payload`, published with a de-duplication id. */
export const publishDeadLetter = (
  publisher: Publisher,
  reason: RejectionReason,
  message: string,
  subject: string,
  streamSeq: number | undefined,
  payload: Uint8Array,
  msgID: string
): Promise<unknown> => {
  const text = message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS)}…` : message
  const entry = deadLetterOf({ reason, message: text, subject, ...(streamSeq === undefined ? {} : { streamSeq }), at: Date.now() }, payload)
  return publisher.publish(Subjects.deadLetterSubject(reason), encodeDeadLetter(entry), msgID)
}

/**
 * Route one message: start its publishes (readings and dead letters) and return them, to
 * be awaited with the rest of the batch. `msgIdPrefix` makes the ids unique per source.
 */
export const routeMessage = (
  table: RouteTable,
  partitions: number,
  publisher: Publisher,
  stats: IngestStats,
  m: { readonly subject: string; readonly data: Uint8Array; readonly seq: number; readonly storedAt: number },
  msgIdPrefix: string,
  maxRecordBytes: number
): Array<Promise<unknown>> => {
  stats.messages += 1
  const routed = table.take(m.subject, m.data, m.storedAt)
  if (routed._tag === "NoRoute") {
    stats.noRoute += 1
    return [publishDeadLetter(publisher, "NoRoute", routed.message, m.subject, m.seq, m.data, `dl.NoRoute.${msgIdPrefix}.${m.seq}`)]
  }
  const { route, decoded } = routed
  const out: Array<Promise<unknown>> = []
  // One batch record per device and sensor (./BatchRecords.ts), numbered in a deterministic order.
  batchRecords(decoded.readings, partitions, m.storedAt, maxRecordBytes).forEach((record, n) => {
    out.push(publisher.publish(record.subject, record.data, `${msgIdPrefix}.${m.seq}.${n}`))
  })
  decoded.refusals.forEach((refusal, i) => {
    out.push(publishDeadLetter(publisher, refusal.reason, `route ${route.route.name}: ${refusal.message}`, m.subject, m.seq, m.data, `dl.${refusal.reason}.${msgIdPrefix}.${m.seq}.${i}`))
  })
  stats.readings += decoded.readings.length
  stats.refused += decoded.refusals.length
  return out
}

const BATCH = 500

export interface RouterOptions {
  readonly table: RouteTable
  readonly partitions: number
  readonly stats: IngestStats
  /** The cluster's `processing.maxPayload`: no batch record is bigger. */
  readonly maxRecordBytes: number
}

/**
 * Runs until interrupted. Any failure (JetStream unavailable, a publish refused) is logged
 * and the router starts again from what is unacknowledged, 2 s later.
 */
export const runIngestRouter = (options: RouterOptions) =>
  retryForever("ingest router", routeOnce(options))

/** `effect`, started again 2 s after any failure; only interruption ends it. */
export const retryForever = <E, R>(what: string, effect: Effect.Effect<never, E, R>): Effect.Effect<never, never, R> =>
  effect.pipe(
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.interrupt
        : Effect.andThen(Effect.logWarning(`${what} failed; starting it again in 2 s`, cause), Effect.fail("retry" as const))
    ),
    Effect.retry(Schedule.spaced("2 seconds")),
    Effect.orDie
  ) as Effect.Effect<never, never, R>

const routeOnce = (options: RouterOptions) =>
  Effect.gen(function*() {
    const { table, partitions, stats, maxRecordBytes } = options
    const { js, jsm, publisher } = yield* NatsClient
    yield* Effect.tryPromise({
      try: () =>
        jsm.consumers.add(INGEST_STREAM, {
          durable_name: INGEST_CONSUMER,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: 60_000_000_000,
          max_ack_pending: 10 * BATCH
        }),
      catch: natsError("JetStream", `cannot create the consumer ${INGEST_CONSUMER} on ${INGEST_STREAM}`)
    })
    const consumer = yield* Effect.tryPromise({
      try: () => js.consumers.get(INGEST_STREAM, INGEST_CONSUMER),
      catch: natsError("JetStream", `cannot open the consumer ${INGEST_CONSUMER}`)
    })
    while (true) {
      const batch = yield* fetchBatch(consumer, { max: BATCH, expiresMs: 2_000, what: INGEST_STREAM })
      if (batch.length === 0) continue
      const pending = batch.flatMap((m) =>
        routeMessage(table, partitions, publisher, stats, { subject: m.subject, data: m.data, seq: m.seq, storedAt: Math.floor(m.info.timestampNanos / 1e6) }, "ingest", maxRecordBytes)
      )
      // Durable first, acknowledged after: a failure leaves the batch unacknowledged, to be
      // read again (and de-duplicated) by the next run.
      yield* Effect.tryPromise({
        try: () => Promise.all(pending),
        catch: natsError("Publish", `cannot store the readings of ${INGEST_STREAM} messages ${batch[0]!.seq}-${batch[batch.length - 1]!.seq}`)
      })
      for (const m of batch) m.ack()
    }
  })
