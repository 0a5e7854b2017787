/**
 * The durable pull consumer through which one node reads one partition of READINGS.
 * Acknowledgements follow checkpoints (AckPolicy.All: one ack covers everything before it),
 * and a (re)starting owner recreates the consumer at the position after its checkpoint.
 */
import { AckPolicy, DeliverPolicy, type JetStreamManager } from "@nats-io/jetstream"
import { Subjects } from "@bramble/protocol"
import { Effect } from "effect"
import { natsError } from "./NatsError.js"

/** Durable consumer name of a partition: stable, so `nats consumer info` shows its lag. */
export const consumerName = (partition: number) => `bramble-p${partition}`

export interface PartitionConsumerOptions {
  /** Messages delivered but not acknowledged before the server pauses delivery (the
   * reader's buffer bound); unlimited when absent. */
  readonly maxAckPending?: number
}

/** Recreate the partition's consumer so delivery starts right after the checkpoint. */
export const resetPartitionConsumer = (jsm: JetStreamManager, partition: number, startSeq: number, options: PartitionConsumerOptions = {}) =>
  Effect.tryPromise({
    try: async () => {
      const name = consumerName(partition)
      await jsm.consumers.delete(Subjects.Streams.readings, name).catch(() => false)
      await jsm.consumers.add(Subjects.Streams.readings, {
        durable_name: name,
        filter_subject: Subjects.partitionFilter(partition),
        ack_policy: AckPolicy.All,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: startSeq,
        // Acks follow checkpoints; redelivery is not how we recover (the checkpoint is), so
        // keep it rare and let everything in flight stay unacked until the next checkpoint.
        ack_wait: 300_000_000_000,
        max_ack_pending: options.maxAckPending ?? -1,
        max_deliver: -1
      })
    },
    catch: natsError("JetStream", `cannot create consumer for partition ${partition}`)
  })

