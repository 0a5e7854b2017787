/**
 * Delivery of an outbox to JetStream: oldest first, one publish at a time (so readings reach
 * the stream in the order they were taken), and a reading leaves the outbox only after its
 * PubAck. Every message carries `Nats-Msg-Id` `<device>.<sensor>.<seq>` with the outbox's
 * persistent sequence number, so a reading published again after a reconnect or a restart
 * (its PubAck lost, or the process killed before it committed) is stored once.
 *
 * While NATS is unreachable the loop waits with capped exponential backoff and tries the
 * same reading again; the outbox meanwhile keeps everything taken.
 */
import { encodeReadingPayload, Subjects } from "@bramble/protocol"
import { Effect } from "effect"
import type { Outbox, OutboxError, OutboxRecord } from "./Outbox.js"
import type { Publish } from "./Publish.js"

export interface DeliveryOptions {
  readonly outbox: Outbox
  readonly publish: Publish
  readonly device: string
  readonly sensor: string
  /** Readings taken from the outbox at a time; the delivery state is saved once per batch. Default 256. */
  readonly batch?: number
  /** First wait after a failed publish; doubled per failure up to `maxBackoffMs`. Default 100 ms. */
  readonly initialBackoffMs?: number
  /** Default 5 s: a recovered server is noticed within this. */
  readonly maxBackoffMs?: number
  /** Runs once per acknowledged batch, with its size. */
  readonly onDelivered?: (count: number) => Effect.Effect<void>
}

/** The message of one outbox record: subject, msgpack payload, de-duplication id. */
export const readingMessage = (device: string, sensor: string, record: OutboxRecord) => ({
  subject: Subjects.ingestSubject(device, sensor),
  data: encodeReadingPayload({ ts: record.ts, seq: record.seq, values: record.values }),
  msgId: Subjects.readingMsgId(device, sensor, record.seq)
})

const describe = (error: unknown): string => error instanceof Error ? error.message : String(error)

/** Delivers the outbox until interrupted; fails only if the outbox itself fails. */
export const deliverOutbox = (options: DeliveryOptions): Effect.Effect<never, OutboxError> =>
  Effect.gen(function*() {
    const { outbox, publish, device, sensor } = options
    const batch = options.batch ?? 256
    const initial = options.initialBackoffMs ?? 100
    const cap = options.maxBackoffMs ?? 5_000
    let backoff = initial
    let failures = 0
    while (true) {
      yield* outbox.awaitPending
      const records = yield* outbox.peek(batch)
      let delivered: number | undefined
      let failure: unknown
      for (const record of records) {
        const message = readingMessage(device, sensor, record)
        const sent = yield* Effect.result(publish(message.subject, message.data, message.msgId))
        if (sent._tag === "Failure") {
          failure = sent.failure
          break
        }
        delivered = record.seq
      }
      if (delivered !== undefined) {
        yield* outbox.commit(delivered)
        if (options.onDelivered !== undefined) yield* options.onDelivered(delivered - records[0]!.seq + 1)
      }
      if (failure === undefined) {
        if (failures > 0) {
          yield* Effect.logInfo(`sensor ${device}/${sensor}: publishing again after ${failures} failed attempt(s); ${outbox.stats().pending} reading(s) waiting`)
        }
        failures = 0
        backoff = initial
      } else {
        failures += 1
        if (failures === 1) {
          yield* Effect.logWarning(
            `sensor ${device}/${sensor}: cannot publish (${describe(failure)}); keeping readings in the outbox ` +
              `(${outbox.stats().pending} waiting) and retrying`
          )
        }
        yield* Effect.sleep(backoff)
        backoff = Math.min(backoff * 2, cap)
      }
    }
  })
