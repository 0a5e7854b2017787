/**
 * The durable pull consumer that feeds one forward target (ThingsBoard, a webhook) from the
 * log. Unlike a partition's consumer it acknowledges every message on its own
 * (AckPolicy.Explicit): every node pulls from the same consumer, so JetStream spreads the
 * batches over the nodes, and what a dead node held comes back after `ack_wait`. It is
 * created once and never reset: its position is the target's progress, kept by JetStream.
 */
import { AckPolicy, type ConsumerInfo, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream"
import { nanos } from "@nats-io/transport-node"
import { Effect } from "effect"
import { natsError, type NatsError } from "./NatsError.js"

/** Durable consumer name of a forward target: stable, so `nats consumer info` shows its lag. */
export const forwardConsumerName = (target: string) => `bramble-fwd-${target}`

export interface ForwardConsumerSpec {
  /** The forward target's name (`[A-Za-z0-9_-]`). */
  readonly target: string
  readonly stream: string
  readonly filterSubject: string
  /** How long a delivered message may stay unacknowledged before it is redelivered. */
  readonly ackWaitMs: number
  /** Messages delivered and not yet acknowledged, over all nodes: the bound on what is in flight. */
  readonly maxAckPending: number
  /** `new`: start with what arrives after the consumer is created; `all`: everything stored. */
  readonly startFrom: "new" | "all"
}

const isNotFound = (error: unknown) => error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound

/**
 * Create the target's consumer, or bring the limits of an existing one up to date. Nodes
 * start together, so a create can lose a race: the winner's consumer is then used. Where it
 * starts is decided only at creation; changing `filterSubject` of an existing consumer is
 * not attempted (JetStream 2.9 refuses it) — the returned info says what it filters.
 */
export const ensureForwardConsumer = (jsm: JetStreamManager, spec: ForwardConsumerSpec): Effect.Effect<ConsumerInfo, NatsError> =>
  Effect.tryPromise({
    try: async () => {
      const name = forwardConsumerName(spec.target)
      const limits = { ack_wait: nanos(spec.ackWaitMs), max_ack_pending: spec.maxAckPending }
      const existing = await jsm.consumers.info(spec.stream, name).catch((error: unknown) => {
        if (isNotFound(error)) return undefined
        throw error
      })
      if (existing !== undefined) {
        const changed = existing.config.ack_wait !== limits.ack_wait || existing.config.max_ack_pending !== limits.max_ack_pending
        return changed ? await jsm.consumers.update(spec.stream, name, limits) : existing
      }
      try {
        return await jsm.consumers.add(spec.stream, {
          durable_name: name,
          filter_subject: spec.filterSubject,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: spec.startFrom === "all" ? DeliverPolicy.All : DeliverPolicy.New,
          // Never give up on a message: one that cannot be delivered is dead-lettered and
          // acknowledged by the forwarder, not dropped by the server.
          max_deliver: -1,
          ...limits
        })
      } catch (error) {
        // Another node created it meanwhile (with the same configuration, from the same file).
        const raced = await jsm.consumers.info(spec.stream, name).catch(() => undefined)
        if (raced !== undefined) return raced
        throw error
      }
    },
    catch: natsError("JetStream", `cannot create the forward consumer ${forwardConsumerName(spec.target)} on ${spec.stream}`)
  })
