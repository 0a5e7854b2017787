/**
 * The admin actor's view of the cluster (`ClusterView`, cluster/src/admin), backed by the
 * membership watch and the partition leases: members with their state, incarnation and the
 * partitions whose leases they hold, and the lease of every partition with its revision and
 * expiry — and, for the admin `partitions` call (`bramble partitions`), lease age, last
 * renewal and the owner the assignment wants. `owns` is true only while this node's fence for
 * the partition is open, so the admin actor never answers for a partition whose actors are
 * stopped or about to be.
 */
import type { LeaseEntry, LeaseStore } from "@bramble/nats"
import type { Admin } from "@bramble/protocol"
import { Clock, Effect } from "effect"
import type { ClusterView } from "../admin/ClusterView.js"
import type { Membership } from "../membership/Membership.js"
import type { Ownership } from "./Ownership.js"

export interface LeasedClusterViewOptions {
  readonly self: string
  readonly partitions: number
  readonly leaseTtlMs: number
  readonly leases: LeaseStore
  readonly membership: Membership
  readonly ownership: Ownership
}

export const leasedClusterView = (options: LeasedClusterViewOptions): ClusterView => {
  const { partitions, leases } = options
  const all = Array.from({ length: partitions }, (_, p) => p)
  const readLeases: Effect.Effect<ReadonlyArray<LeaseEntry | undefined>> = Effect.forEach(
    all,
    (p) => Effect.orElseSucceed(leases.read(p), () => undefined),
    { concurrency: 16 }
  )
  const ownerOfLease = (partition: number, lease: LeaseEntry | undefined): Admin.PartitionOwner =>
    lease === undefined
      ? { partition, owner: null }
      : { partition, owner: lease.record.node, revision: lease.revision, expiresAt: lease.writtenAt + options.leaseTtlMs }
  return {
    self: options.self,
    partitions,
    members: Effect.gen(function*() {
      const [view, held, now] = yield* Effect.all([options.membership.view, readLeases, Clock.currentTimeMillis])
      return view.members.map(({ record, heartbeatAgeMs, state }) => ({
        node: record.node,
        state,
        lastSeen: now - heartbeatAgeMs,
        ...(record.httpUrl === undefined ? {} : { http: record.httpUrl }),
        partitions: held.flatMap((lease) => (lease !== undefined && lease.record.incarnation === record.incarnation ? [lease.partition] : [])),
        incarnation: record.incarnation,
        startedAt: record.startedAt,
        heartbeatAgeMs,
        ...(record.natsUrl === undefined ? {} : { natsUrl: record.natsUrl }),
        ...(record.mqttUrl === undefined ? {} : { mqttUrl: record.mqttUrl })
      }))
    }),
    fresh: Effect.map(options.membership.view, (view) => view.fresh),
    owners: Effect.map(readLeases, (held) => all.map((partition) => ownerOfLease(partition, held[partition]))),
    leaseDetails: Effect.gen(function*() {
      const [held, target, now] = yield* Effect.all([readLeases, options.ownership.target, Clock.currentTimeMillis])
      return all.map((partition) => {
        const lease = held[partition]
        return {
          ...ownerOfLease(partition, lease),
          ...(lease === undefined ? {} : {
            incarnation: lease.record.incarnation,
            leaseAgeMs: Math.max(0, now - lease.record.claimedAt),
            renewedAgoMs: Math.max(0, now - lease.writtenAt)
          }),
          target: target[partition] ?? null
        }
      })
    }),
    ownerOf: (partition) => Effect.map(Effect.orElseSucceed(leases.read(partition), () => undefined), (lease) => lease?.record.node),
    owns: (partition) => options.ownership.holds(partition)
  }
}
