/**
 * What the admin actor needs to know about the cluster: who the members are, who owns each
 * partition, and whether this node owns one right now.
 *
 * Membership and partition leases (cluster/src/membership, cluster/src/ownership) implement
 * this view from their KV buckets; until a node runs them, `singleNodeView` describes
 * a cluster of one that owns every partition. The admin actor only reads the view, so the
 * `members` and `partitions` calls, device-query forwarding and the dashboard's partition
 * map follow whatever the leases say.
 */
import type { Admin } from "@bramble/protocol"
import { Effect } from "effect"

/** The cluster as the admin actor sees it. */
export interface ClusterView {
  /** This node. */
  readonly self: string
  /** Partitions of the cluster (fixed when it was created). */
  readonly partitions: number
  /** Every member the cluster knows of, this node included. */
  readonly members: Effect.Effect<ReadonlyArray<Admin.MemberInfo>>
  /** Whether this node's membership view is fresh enough to move partitions on; absent
   * without membership (a single-node view). */
  readonly fresh?: Effect.Effect<boolean>
  /** The lease of every partition, in partition order. */
  readonly owners: Effect.Effect<ReadonlyArray<Admin.PartitionOwner>>
  /** `owners` with what operators watch during a failover: the holder's incarnation, lease
   * age, last renewal, and the owner this node's assignment wants (the admin `partitions`
   * call adds the consumer lag). Absent without leases. */
  readonly leaseDetails?: Effect.Effect<ReadonlyArray<Admin.PartitionOwner>>
  /** The node holding `partition`'s lease now; undefined while unowned. */
  readonly ownerOf: (partition: number) => Effect.Effect<string | undefined>
  /**
   * Whether this node holds `partition`'s lease right now. Answers about a partition's
   * actors are given only while it does (a node that lost its lease has stopped them).
   */
  readonly owns: (partition: number) => boolean
}

/** A cluster of one node that owns every partition (the node before leases exist). */
export const singleNodeView = (options: {
  readonly self: string
  readonly partitions: number
  /** The node's dashboard/metrics URL, when it serves one (read on every call). */
  readonly http?: () => string | undefined
}): ClusterView => {
  const all = Array.from({ length: options.partitions }, (_, p) => p)
  return {
    self: options.self,
    partitions: options.partitions,
    members: Effect.sync(() => {
      const http = options.http?.()
      return [{ node: options.self, state: "alive" as const, lastSeen: Date.now(), ...(http === undefined ? {} : { http }), partitions: all }]
    }),
    owners: Effect.succeed(all.map((partition) => ({ partition, owner: options.self }))),
    ownerOf: () => Effect.succeed(options.self),
    owns: (partition) => partition >= 0 && partition < options.partitions
  }
}
