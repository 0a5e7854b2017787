/**
 * Where a partition worker reads its log from: the seam between the loop (./PartitionWorker.ts)
 * and JetStream, so the loop can be run and tested on an in-memory log
 * (test/PartitionLoop.test.ts) exactly as it runs on READINGS.
 *
 * The NATS source (re)creates the partition's durable consumer after the checkpointed
 * position, delivers in callback mode into a `BatchReader`, answers "is the log drained?"
 * from the consumer's info, sets aside messages that would stall the consumer
 * (./Quarantine.ts), and runs MQTT recovery beside the loop (./MqttRecovery.ts).
 */
import { consumerName, NatsClient, natsError, type NatsError, resetPartitionConsumer } from "@bramble/nats"
import { type DecodeLimits, Subjects } from "@bramble/protocol"
import { Clock, Data, Effect, type Scope } from "effect"
import { BatchReader } from "./BatchReader.js"
import { type ConsumerDelivery, DeliveryWatch } from "./DeliveryWatch.js"
import { type RecoveryProgress, runMqttRecovery } from "./MqttRecovery.js"
import type { PartitionStats } from "./PartitionStats.js"
import { setAsideStalled, type UndeliverableSetAside } from "./Quarantine.js"

/**
 * One message of the partition's log, as the loop reads it. A nats.js `JsMsg` is one as it
 * is: the loop takes the client's own objects, no wrapper per message, and reads the stream
 * sequence and the time the stream stored it from the JetStream reply subject in place
 * (@bramble/nats DeliveryInfo.ts), not through `JsMsg.info`, which builds an object per message.
 */
export interface LogMessage {
  readonly subject: string
  readonly data: Uint8Array
  /** The JetStream reply subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<streamSeq>.<deliverySeq>.<ns>.<pending>` (or the newer layout). */
  readonly reply: string
  /** Acknowledges this message and every earlier one (AckPolicy.All). */
  ack(): void
}

/** The partition's consumer holds deliverable messages and has delivered none for a while
 * (./DeliveryWatch.ts): the run fails and restarts with a fresh consumer from its checkpoint. */
export class DeliveryStalled extends Data.TaggedError("DeliveryStalled")<{
  readonly partition: number
  readonly message: string
}> {}

/** The messages delivered to this run, taken in batches (see BatchReader). */
export interface Batches {
  /** Up to `max` delivered messages, or, after waiting up to `waitMs` for one, none. */
  readonly next: (max: number, waitMs: number) => Promise<ReadonlyArray<LogMessage>>
  /** Delivery stopped for good (consumer closed, deleted, fenced off). */
  readonly done: boolean
}

export interface PartitionSource {
  /** Starts delivery of the messages after `afterSeq`; stops when the scope closes. At most
   * `maxAckPending` messages are delivered and not yet acknowledged. */
  readonly open: (afterSeq: number, maxAckPending: number) => Effect.Effect<Batches, NatsError, Scope.Scope>
  /** Whether nothing is left to deliver and nothing delivered is unprocessed, given that
   * `processedUnacked` messages were processed and not yet acknowledged. False when unsure. */
  readonly drained: (processedUnacked: number) => Effect.Effect<boolean>
  /** Run after a whole interval with nothing delivered, with the last sequence received: may
   * set aside what stalls delivery (./Quarantine.ts), or find that the consumer stopped
   * delivering what it holds (./DeliveryWatch.ts), and fail so the worker restarts. */
  readonly stalled: (lastSeq: number, processedUnacked: number) => Effect.Effect<void, UndeliverableSetAside | DeliveryStalled>
  /** Work that runs beside the loop for as long as it runs (MQTT recovery). */
  readonly beside: (progress: RecoveryProgress) => Effect.Effect<void, never, Scope.Scope>
}

/** The partition's slice of READINGS, through the `NatsClient` in context (fenced by the node). */
export const natsPartitionSource = (options: {
  readonly partition: number
  readonly stats: PartitionStats
  readonly limits: DecodeLimits
  readonly batchSize: number
  /** How long deliverable messages may wait undelivered before the run restarts (tests shorten it). */
  readonly stallMs?: number
}): Effect.Effect<PartitionSource, never, NatsClient> =>
  Effect.gen(function*() {
    const { partition } = options
    const { js, jsm } = yield* NatsClient
    const context = yield* Effect.context<NatsClient>()
    // The reader of this run's consumer, once open, and the watch over its delivery.
    let reader: BatchReader | undefined
    const watch = new DeliveryWatch(options.stallMs)
    const open = (afterSeq: number, maxAckPending: number) =>
      Effect.gen(function*() {
        yield* resetPartitionConsumer(jsm, partition, afterSeq + 1, { maxAckPending })
        const consumer = yield* Effect.tryPromise({
          try: () => js.consumers.get(Subjects.Streams.readings, consumerName(partition)),
          catch: natsError("JetStream", `cannot open consumer for partition ${partition}`)
        })
        const opened = new BatchReader()
        reader = opened
        yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: async () => {
              const messages = await consumer.consume({ max_messages: options.batchSize * 2, callback: opened.deliver })
              // Stopped (consumer deleted, connection closed for good, fenced off): wake the
              // loop, which fails and restarts from the checkpoint.
              void messages.closed().then(opened.end, opened.end)
              return messages
            },
            catch: natsError("JetStream", `cannot consume partition ${partition}`)
          }),
          (m) => Effect.promise(() => m.close().then(() => undefined, () => undefined))
        )
        // nats.js's messages carry their reply subject as `reply` (a getter of JsMsgImpl that
        // the JsMsg type does not declare; packages/nats/test/DeliveryInfo.test.ts checks it).
        return opened as unknown as Batches
      })
    const consumerInfo = Effect.tryPromise(() => jsm.consumers.info(Subjects.Streams.readings, consumerName(partition)))
    const drained = (processedUnacked: number) =>
      consumerInfo.pipe(
        Effect.map((info) => info.num_pending === 0 && info.num_ack_pending <= processedUnacked),
        Effect.orElseSucceed(() => false)
      )
    // Asked only when the log holds a deliverable message after the last one received (an
    // idle partition costs no more requests than before).
    const deliveryStalled = (waiting: boolean, processedUnacked: number) => Effect.gen(function*() {
      if (reader === undefined) return
      // Nothing after the last message received: nothing held (no request made).
      const held: ConsumerDelivery | undefined = waiting
        ? yield* consumerInfo.pipe(
          Effect.map((info) => ({ numPending: info.num_pending, numAckPending: info.num_ack_pending, maxAckPending: info.config.max_ack_pending ?? -1, processedUnacked })),
          Effect.orElseSucceed(() => undefined)
        )
        : { numPending: 0, numAckPending: 0, maxAckPending: -1, processedUnacked }
      const stalledMs = watch.observe(yield* Clock.currentTimeMillis, reader.delivered, held)
      if (stalledMs === undefined || held === undefined) return
      const message = `partition ${partition}: its consumer holds ${held.numPending} message(s) not delivered and ${held.numAckPending} awaiting acknowledgement ` +
        `(${processedUnacked} of them processed here), and has delivered nothing for ${Math.round(stalledMs / 1000)} s; restarting it from the checkpoint`
      yield* Effect.logWarning(message)
      return yield* Effect.fail(new DeliveryStalled({ partition, message }))
    })
    return {
      open,
      drained,
      stalled: (lastSeq, processedUnacked) =>
        Effect.flatMap(Effect.provideContext(setAsideStalled(partition, lastSeq, options.stats), context), (waiting) => deliveryStalled(waiting, processedUnacked)),
      beside: (progress) =>
        Effect.forkScoped(Effect.provideContext(runMqttRecovery({ partition, stats: options.stats.sequence, limits: options.limits, progress }), context)).pipe(Effect.asVoid)
    }
  })
