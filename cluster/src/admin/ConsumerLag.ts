/**
 * How far behind each partition is: the pending counts of its durable consumer
 * (`bramble-p<N>` on READINGS), as JetStream reports them. One consumer-list call covers
 * every partition; the answer is cached for a second because a status call, a metrics scrape
 * and the dashboard may all ask at once.
 */
import { natsError, type NatsError } from "@bramble/nats"
import type { Admin } from "@bramble/protocol"
import { Subjects } from "@bramble/protocol"
import type { JetStreamManager } from "@nats-io/jetstream"
import { Clock, Effect } from "effect"

const CONSUMER = /^bramble-p(\d+)$/

/** Lag per partition (only partitions whose consumer exists). */
export type LagByPartition = ReadonlyMap<number, Admin.ConsumerLag>

/** Reads every partition consumer's lag (cached for `cacheMs`, default 1 s). */
export const makeLagReader = (jsm: JetStreamManager, cacheMs = 1_000): Effect.Effect<LagByPartition, NatsError> => {
  let cached: { at: number; value: LagByPartition } | undefined
  const read = Effect.tryPromise({
    try: async () => {
      const out = new Map<number, Admin.ConsumerLag>()
      for await (const info of jsm.consumers.list(Subjects.Streams.readings)) {
        const match = CONSUMER.exec(info.name)
        if (match !== null) out.set(Number(match[1]), { pending: info.num_pending, ackPending: info.num_ack_pending })
      }
      return out as LagByPartition
    },
    catch: natsError("JetStream", "cannot list the partition consumers")
  })
  return Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    if (cached !== undefined && now - cached.at < cacheMs) return cached.value
    const value = yield* read
    cached = { at: now, value }
    return value
  })
}
