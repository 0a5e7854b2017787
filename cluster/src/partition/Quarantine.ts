/**
 * Setting aside what a partition consumer cannot be sent.
 *
 * nats-server 2.9 takes an MQTT topic level holding a tab or a line break (a device allowed
 * `ingest/dev-a/#` publishes `ingest/dev-a/line\nbreak`), stores it in READINGS as
 * `readings.<p>.dev-a.line\nbreak` and delivers it. That subject splits the client's `HMSG`
 * control line: nats.js logs "processHeaderMsgArgs Parse Error" to stdout and stops reading
 * the connection — no error, no status event, no close. The socket stays open, so nothing
 * else on that connection (requests, KV, other subscriptions) gets an answer until pings go
 * unanswered for minutes (2 × nats.js' 2-minute ping interval); after the reconnect the
 * message comes again. On a node's one shared connection that stopped lease renewals,
 * heartbeats and the admin responder, and the partition never got past it. Permissions
 * cannot prevent it (`readings.<p>.dev-a.*` matches the level as one token) and no consumer
 * setting keeps the subject off the wire.
 *
 * So, two defences:
 * - Each run of a partition worker reads through a NATS connection of its own
 *   (`ownConsumerConnection`): such a message stalls that connection only, never the node's.
 * - When a worker has waited a whole interval for nothing, it checks the next message of its
 *   partition after the last one it received (`setAsideStalled`), through the JSON API
 *   `$JS.API.STREAM.MSG.GET` — the subject comes back JSON-escaped there, so the reply parses.
 *   If that subject is not deliverable (protocol `isDeliverableSubject`), the message is
 *   dead-lettered (`BadSubject`, the subject escaped, the original bytes and stream sequence)
 *   and, once the dead letter is stored, deleted from READINGS. The worker then fails with
 *   `UndeliverableSetAside` and restarts from its checkpoint on a fresh connection. Nothing
 *   else is skipped: everything after the bad message is delivered as usual.
 *
 * The check costs one small request per idle interval of a partition (usually "no message").
 */
import { NatsClient, type NatsClientOptions, natsError, type NatsError } from "@bramble/nats"
import { deadLetterOf, encodeDeadLetter, Subjects } from "@bramble/protocol"
import { type JetStreamClient, JetStreamApiError } from "@nats-io/jetstream"
import { Data, Effect, Result, Schema, type Scope } from "effect"
import type { PartitionStats } from "./PartitionStats.js"

/** A partition worker set messages aside: its consumer's connection may be stalled, so it restarts. */
export class UndeliverableSetAside extends Data.TaggedError("UndeliverableSetAside")<{
  readonly partition: number
  /** READINGS sequences dead-lettered and deleted. */
  readonly sequences: ReadonlyArray<number>
  readonly message: string
}> {}

/** Most messages set aside in one check (a device sending nothing but bad topics is handled over several). */
export const MAX_SET_ASIDE_PER_CHECK = 100

// JetStream's JSON API (not direct get: its reply carries the subject in a header).
const msgGetSubject = (stream: string) => `$JS.API.STREAM.MSG.GET.${stream}`
// JetStream's err_code for a message delete of a sequence the stream does not hold.
const SEQUENCE_NOT_FOUND = 10043

const MsgGetReply = Schema.Struct({
  message: Schema.optional(Schema.Struct({
    subject: Schema.String,
    seq: Schema.Int,
    /** Base64; absent for an empty payload. */
    data: Schema.optional(Schema.String)
  })),
  error: Schema.optional(Schema.Struct({ code: Schema.Int, description: Schema.optional(Schema.String) }))
})
const decodeMsgGetReply = Schema.decodeUnknownResult(MsgGetReply)

interface StoredMessage {
  readonly subject: string
  readonly seq: number
  readonly data: Uint8Array
}

/** The first message of `partition` stored after `afterSeq`, or undefined when there is none yet. */
const nextMessage = (partition: number, afterSeq: number) =>
  Effect.gen(function*() {
    const { nc } = yield* NatsClient
    const what = `partition ${partition}: cannot read the message after stream sequence ${afterSeq}`
    const reply = yield* Effect.tryPromise({
      try: () =>
        nc.request(
          msgGetSubject(Subjects.Streams.readings),
          JSON.stringify({ seq: afterSeq + 1, next_by_subj: Subjects.partitionFilter(partition) }),
          { timeout: 10_000 }
        ),
      catch: natsError("JetStream", what)
    })
    const decoded = decodeMsgGetReply(yield* Effect.try({ try: () => reply.json<unknown>(), catch: natsError("JetStream", what) }))
    if (Result.isFailure(decoded)) return yield* Effect.fail(natsError("JetStream", what)(decoded.failure))
    const { message, error } = decoded.success
    if (error !== undefined) {
      if (error.code === 404) return undefined
      return yield* Effect.fail(natsError("JetStream", what)(`${error.code} ${error.description ?? ""}`))
    }
    if (message === undefined) return undefined
    const stored: StoredMessage = {
      subject: message.subject,
      seq: message.seq,
      data: new Uint8Array(Buffer.from(message.data ?? "", "base64"))
    }
    return stored
  })

/** Dead-letters `message` (awaiting the stream's acknowledgement), then deletes it from READINGS. */
const setAside = (partition: number, message: StoredMessage) =>
  Effect.gen(function*() {
    const { jsm, publisher } = yield* NatsClient
    const subject = Subjects.escapeSubject(message.subject)
    // The payload may be of any size (nats-server 2.9 stores MQTT publishes over max_payload):
    // the dead letter carries at most the first DEAD_LETTER_PAYLOAD_LIMIT bytes of it.
    const entry = encodeDeadLetter(deadLetterOf({
      reason: "BadSubject",
      message: `subject ${subject} holds white space that breaks the NATS client protocol (an MQTT topic level with a tab or line break); ` +
        `deleted from ${Subjects.Streams.readings} so partition ${partition} can go on`,
      subject,
      streamSeq: message.seq,
      at: Date.now()
    }, message.data))
    // The same id as the worker's own dead letters: setting aside again after a crash between
    // these two steps does not store a second one.
    yield* Effect.tryPromise({
      try: () => publisher.publish(Subjects.deadLetterSubject("BadSubject"), entry, `dl.BadSubject.${message.seq}`),
      catch: natsError("Publish", `partition ${partition}: cannot dead-letter stream sequence ${message.seq}`)
    })
    yield* Effect.tryPromise({
      try: () => jsm.streams.deleteMessage(Subjects.Streams.readings, message.seq, false),
      catch: (cause) => cause
    }).pipe(
      // Already gone (another owner, or an earlier attempt, deleted it): done all the same.
      Effect.catch((cause) =>
        cause instanceof JetStreamApiError && cause.code === SEQUENCE_NOT_FOUND
          ? Effect.succeed(true)
          : Effect.fail(natsError("JetStream", `partition ${partition}: cannot delete stream sequence ${message.seq}`)(cause))
      )
    )
    yield* Effect.logWarning(`partition ${partition}: stream sequence ${message.seq} (${subject}) cannot be delivered to any NATS client; dead-lettered as BadSubject and deleted`)
  })

/**
 * Sets aside every undeliverable message that directly follows `afterSeq` in `partition`
 * (dead letter, then delete), up to `limit`. `sequences`: those set aside; `waiting`: a
 * deliverable message follows them (the log holds more for this partition).
 */
const scanUndeliverable = Effect.fn("Quarantine.scanUndeliverable")(function*(options: {
  readonly partition: number
  readonly afterSeq: number
  readonly limit?: number
}) {
  const limit = options.limit ?? MAX_SET_ASIDE_PER_CHECK
  const sequences: Array<number> = []
  let after = options.afterSeq
  while (sequences.length < limit) {
    const next = yield* nextMessage(options.partition, after)
    if (next === undefined) return { sequences, waiting: false }
    if (Subjects.isDeliverableSubject(next.subject)) return { sequences, waiting: true }
    yield* setAside(options.partition, next)
    sequences.push(next.seq)
    after = next.seq
  }
  return { sequences, waiting: true }
})

/** The sequences `scanUndeliverable` set aside: empty when the next message is deliverable or there is none. */
export const setAsideUndeliverable = (options: { readonly partition: number; readonly afterSeq: number; readonly limit?: number }) =>
  Effect.map(scanUndeliverable(options), ({ sequences }) => sequences as ReadonlyArray<number>)

/**
 * What a partition worker runs when it waited a whole interval and received nothing, with
 * the last stream sequence it received: sets aside what would stall its consumer, counts it
 * (received and rejected) and then fails with `UndeliverableSetAside`, so the worker
 * restarts from its checkpoint on a fresh connection. A check that cannot be made (NATS
 * busy) is logged and left for the next interval. Succeeds with whether a deliverable
 * message waits after `lastSeq` (then ./DeliveryWatch.ts asks why it was not delivered).
 */
export const setAsideStalled = (
  partition: number,
  lastSeq: number,
  stats: PartitionStats
): Effect.Effect<boolean, UndeliverableSetAside, NatsClient> =>
  scanUndeliverable({ partition, afterSeq: lastSeq }).pipe(
    Effect.catch((error: NatsError) =>
      Effect.as(Effect.logWarning(`partition ${partition}: cannot check for undeliverable messages; trying again later`, error), { sequences: [] as Array<number>, waiting: false })
    ),
    Effect.flatMap(({ sequences, waiting }) => {
      if (sequences.length === 0) return Effect.succeed(waiting)
      stats.received += sequences.length
      stats.rejected += sequences.length
      return Effect.fail(
        new UndeliverableSetAside({
          partition,
          sequences,
          message: `partition ${partition}: set aside ${sequences.length} undeliverable message(s) (stream sequence ${sequences.join(", ")}); ` +
            "restarting its consumer on a fresh connection"
        })
      )
    })
  )

/**
 * A NATS connection of its own for one run of a partition worker's consumer (give the
 * worker `{ ...nodeClient, js }`): an undeliverable message can stall only this connection.
 * Closed — not drained, as a stalled connection never finishes draining — when the scope
 * closes.
 */
export const ownConsumerConnection = (options: NatsClientOptions): Effect.Effect<JetStreamClient, NatsError, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* NatsClient.make(options)
    // Added after NatsClient's own release (a drain), so it runs first.
    yield* Effect.addFinalizer(() => Effect.promise(() => client.nc.close().catch(() => undefined)))
    return client.js
  })
