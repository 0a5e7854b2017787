/**
 * The live map of the cluster, answered over NATS request-reply by any node: who is a
 * member (with heartbeat age), and who owns each partition (with lease age and lag). The
 * `bramble members` and `bramble partitions` commands are its clients.
 *
 * `bramble.cluster.members` and `bramble.cluster.partitions` are served in a queue group,
 * so exactly one node answers; `bramble.cluster.<node>.members|partitions` asks one node.
 * Any node gives the whole cluster's map: leases and consumer lag are read from JetStream,
 * members from this node's membership view. (The admin actor's `members` and `partitions`
 * calls, `bramble.admin.*`, answer from the same view in the admin protocol's shape; this
 * map adds what operators watch during a failover: incarnations, lease age, lag.)
 */
import { consumerName, type LeaseStore, NatsClient } from "@bramble/nats"
import { Subjects } from "@bramble/protocol"
import { Clock, Effect, Schema } from "effect"
import type { Membership } from "../membership/Membership.js"
import type { Ownership } from "./Ownership.js"

/** Subjects of the cluster map (cluster-wide when `node` is omitted). */
export const clusterMapSubject = (what: "members" | "partitions", node?: string): string =>
  node === undefined ? `bramble.cluster.${what}` : `bramble.cluster.${node}.${what}`

/** Queue group of the cluster-wide subjects: one node answers. */
export const CLUSTER_MAP_QUEUE = "bramble-cluster"

export const MemberInfo = Schema.Struct({
  node: Schema.String,
  incarnation: Schema.String,
  startedAt: Schema.Number,
  state: Schema.Literals(["alive", "suspect", "down"]),
  heartbeatAgeMs: Schema.Number,
  natsUrl: Schema.optionalKey(Schema.String),
  mqttUrl: Schema.optionalKey(Schema.String),
  /** Partitions whose lease this member holds. */
  partitions: Schema.Array(Schema.Number)
})
export type MemberInfo = typeof MemberInfo.Type

export const MembersReply = Schema.Struct({
  answeredBy: Schema.String,
  at: Schema.Number,
  /** Whether the answering node's view is fresh enough to move partitions on. */
  fresh: Schema.Boolean,
  members: Schema.Array(MemberInfo)
})
export type MembersReply = typeof MembersReply.Type

export const PartitionInfo = Schema.Struct({
  partition: Schema.Number,
  owner: Schema.NullOr(Schema.String),
  incarnation: Schema.NullOr(Schema.String),
  /** Current revision of the lease key. */
  revision: Schema.NullOr(Schema.Number),
  /** Since the owner claimed it (owner's clock). */
  leaseAgeMs: Schema.NullOr(Schema.Number),
  /** Since the last renewal was stored (server clock). */
  renewedAgoMs: Schema.NullOr(Schema.Number),
  /** Who should own it, by the answering node's view. */
  target: Schema.NullOr(Schema.String),
  /** Messages of the partition not yet delivered to its owner. */
  pending: Schema.NullOr(Schema.Number),
  /** Delivered, not yet checkpointed and acknowledged. */
  ackPending: Schema.NullOr(Schema.Number)
})
export type PartitionInfo = typeof PartitionInfo.Type

export const PartitionsReply = Schema.Struct({
  answeredBy: Schema.String,
  at: Schema.Number,
  partitions: Schema.Array(PartitionInfo)
})
export type PartitionsReply = typeof PartitionsReply.Type

export interface ClusterMapOptions {
  readonly node: string
  readonly partitions: number
  readonly leases: LeaseStore
  readonly membership: Membership
  readonly ownership: Ownership
}

/** The partition map, read now. */
export const readPartitions = (options: ClusterMapOptions): Effect.Effect<PartitionsReply, never, NatsClient> =>
  Effect.gen(function*() {
    const { jsm } = yield* NatsClient
    const now = yield* Clock.currentTimeMillis
    const target = yield* options.ownership.target
    const rows = yield* Effect.forEach(
      Array.from({ length: options.partitions }, (_, p) => p),
      (partition) =>
        Effect.gen(function*() {
          const lease = yield* Effect.orElseSucceed(options.leases.read(partition), () => undefined)
          const consumer = yield* Effect.tryPromise(() => jsm.consumers.info(Subjects.Streams.readings, consumerName(partition))).pipe(
            Effect.orElseSucceed(() => undefined)
          )
          return {
            partition,
            owner: lease?.record.node ?? null,
            incarnation: lease?.record.incarnation ?? null,
            revision: lease?.revision ?? null,
            leaseAgeMs: lease === undefined ? null : Math.max(0, now - lease.record.claimedAt),
            renewedAgoMs: lease === undefined ? null : Math.max(0, now - lease.writtenAt),
            target: target[partition] ?? null,
            pending: consumer?.num_pending ?? null,
            ackPending: consumer?.num_ack_pending ?? null
          } satisfies PartitionInfo
        }),
      { concurrency: 16 }
    )
    return { answeredBy: options.node, at: now, partitions: rows }
  })

/** The member list, with the partitions each holds. */
export const readMembers = (options: ClusterMapOptions, partitions?: PartitionsReply): Effect.Effect<MembersReply, never, NatsClient> =>
  Effect.gen(function*() {
    const map = partitions ?? (yield* readPartitions(options))
    const view = yield* options.membership.view
    return {
      answeredBy: options.node,
      at: map.at,
      fresh: view.fresh,
      members: view.members.map(({ record, heartbeatAgeMs, state }) => ({
        node: record.node,
        incarnation: record.incarnation,
        startedAt: record.startedAt,
        state,
        heartbeatAgeMs,
        ...(record.natsUrl === undefined ? {} : { natsUrl: record.natsUrl }),
        ...(record.mqttUrl === undefined ? {} : { mqttUrl: record.mqttUrl }),
        partitions: map.partitions.filter((p) => p.incarnation === record.incarnation).map((p) => p.partition)
      }))
    }
  })

/** Serves the cluster map until the scope closes. */
export const serveClusterMap = (options: ClusterMapOptions) =>
  Effect.gen(function*() {
    const client = yield* NatsClient
    const encoder = new TextEncoder()
    const answer = (what: "members" | "partitions") => (reply: (data: Uint8Array) => void) =>
      Effect.runFork(
        Effect.map(
          what === "members" ? readMembers(options) : readPartitions(options),
          (value: MembersReply | PartitionsReply) => reply(encoder.encode(JSON.stringify(value)))
        ).pipe(
          Effect.provideService(NatsClient, client),
          Effect.catchCause((cause) => Effect.logWarning(`cluster map: cannot answer ${what}`, cause))
        )
      )
    const subs = (["members", "partitions"] as const).flatMap((what) => [
      client.nc.subscribe(clusterMapSubject(what), {
        queue: CLUSTER_MAP_QUEUE,
        callback: (error, msg) => {
          if (error === null) answer(what)((data) => msg.respond(data))
        }
      }),
      client.nc.subscribe(clusterMapSubject(what, options.node), {
        callback: (error, msg) => {
          if (error === null) answer(what)((data) => msg.respond(data))
        }
      })
    ])
    yield* Effect.addFinalizer(() => Effect.sync(() => subs.forEach((s) => s.unsubscribe())))
  })
