/**
 * What a partition publishes to JetStream between two checkpoints — window results,
 * forecasts, alarms, dead letters — pipelined, and awaited all together before the
 * checkpoint that covers them (docs/design.md, decision 4: acknowledge only what is durable).
 *
 * A dead letter always fits in one NATS message: an original payload over
 * `DEAD_LETTER_PAYLOAD_LIMIT` is carried as a truncated copy, with its size and its READINGS
 * sequence (nats-server 2.9 stores an MQTT publish of any size, and a dead letter wrapping
 * one whole exceeded `max_payload`, so its partition failed at every checkpoint for good).
 * A publish that still fails names the stream sequence it was for, so the partition's
 * failure — in the log and in `bramble status` — says where it is stuck.
 */
import { deadLetterOf, encodeDeadLetter, type RejectionReason, Subjects } from "@bramble/protocol"
import { Data, Effect } from "effect"

/** Publishing what a partition produced failed; the checkpoint is not taken. */
export class PublishFailed extends Data.TaggedError("PublishFailed")<{
  readonly partition: number
  readonly subject: string
  /** The READINGS sequence the publish was for (dead letters). */
  readonly streamSeq: number | undefined
  readonly message: string
}> {}

/** The longest refusal message a dead letter carries. */
const MAX_MESSAGE_CHARS = 4_096

/** The JetStream publisher (`NatsClient.publisher`). */
export interface Publisher {
  readonly publish: (subject: string, data: Uint8Array, msgID: string) => Promise<unknown>
}

export interface Publishes {
  /** Starts a publish, de-duplicated by `msgID`; awaited by the next `settle`. */
  readonly publish: (subject: string, data: Uint8Array, msgID: string, streamSeq?: number) => void
  /** Dead-letters the message stored at READINGS `streamSeq` (its id is that sequence, so a
   * replay does not dead-letter it twice). */
  readonly deadLetter: (reason: RejectionReason, message: string, subject: string, streamSeq: number, payload: Uint8Array) => void
  /** Takes every publish started so far: the effect succeeds once the streams hold them all. */
  readonly take: () => Effect.Effect<void, PublishFailed>
  /** How many publishes were started and not yet taken. */
  readonly pending: () => number
}

export const makePublishes = (partition: number, publisher: Publisher): Publishes => {
  let inFlight: Array<Promise<unknown>> = []

  const publish = (subject: string, data: Uint8Array, msgID: string, streamSeq?: number) => {
    const ack = publisher.publish(subject, data, msgID).catch((cause: unknown) => {
      throw new PublishFailed({
        partition,
        subject,
        streamSeq,
        message: `partition ${partition}: publishing to ${subject}${streamSeq === undefined ? "" : ` for stream sequence ${streamSeq}`} failed: ` +
          (cause instanceof Error ? cause.message : String(cause))
      })
    })
    // Awaited at the next checkpoint; until then a failure must not be an unhandled rejection.
    ack.catch(() => undefined)
    inFlight.push(ack)
  }

  const deadLetter = (reason: RejectionReason, message: string, subject: string, streamSeq: number, payload: Uint8Array) => {
    // A refusal's message may quote what it refuses (a Schema error quotes the value): bounded too.
    const text = message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS)}…` : message
    const entry = deadLetterOf({ reason, message: text, subject, streamSeq, at: Date.now() }, payload)
    publish(Subjects.deadLetterSubject(reason), encodeDeadLetter(entry), `dl.${reason}.${streamSeq}`, streamSeq)
  }

  const take = () => {
    const pending = inFlight
    inFlight = []
    return Effect.tryPromise({
      try: () => Promise.all(pending),
      catch: (error) =>
        error instanceof PublishFailed
          ? error
          : new PublishFailed({ partition, subject: "?", streamSeq: undefined, message: `partition ${partition}: publishing failed: ${String(error)}` })
    }).pipe(Effect.asVoid)
  }

  return { publish, deadLetter, take, pending: () => inFlight.length }
}
