/**
 * The two KV buckets that make a set of nodes a cluster: `bramble_members` (one heartbeat
 * key per live node) and `bramble_leases` (one lease key per owned partition). Both expire
 * their keys with the bucket's TTL (`max_age`): nats-server 2.9 has no per-message TTL, so
 * a key that is no longer written disappears `ttl` after its last write. That is what turns
 * a dead node's heartbeat and leases into free slots without anyone deleting them.
 */
import type { KV } from "@nats-io/kv"
import { Effect } from "effect"
import { NatsClient } from "./NatsClient.js"
import { natsError, type NatsError } from "./NatsError.js"
import { ensureLeaderReadBucket } from "./Topology.js"

/** Heartbeats of live members, keyed by node name. */
export const MEMBERS_BUCKET = "bramble_members"
/** Partition leases, keyed `p.<partition>`. */
export const LEASES_BUCKET = "bramble_leases"

export interface ClusterBucketsSpec {
  /** min(3, servers), like the streams. */
  readonly replicas: number
  /** How long a member's heartbeat stays in the bucket after its last write. */
  readonly memberTtlMs: number
  /** The lease TTL: a lease not renewed for this long is gone. */
  readonly leaseTtlMs: number
}

/** Both buckets, opened. */
export interface ClusterBuckets {
  readonly members: KV
  readonly leases: KV
}

/**
 * Creates the buckets when missing and opens them. An existing bucket keeps its settings
 * (changing a lease TTL under running nodes would break their fencing arithmetic), so the
 * TTLs of a cluster are those of the node that created it.
 */
export const ensureClusterBuckets = Effect.fn("ClusterBuckets.ensureClusterBuckets")(function*(spec: ClusterBucketsSpec): Effect.fn.Return<ClusterBuckets, NatsError, NatsClient> {
  const { jsm, kvm } = yield* NatsClient
  const open = (bucket: string, ttl: number) =>
    Effect.tryPromise({
      // Reads go to the stream leader (no direct get): a follower's copy can be behind,
      // and a lease read must not be (see ensureLeaderReadBucket).
      try: () => ensureLeaderReadBucket(jsm, kvm, bucket, spec.replicas, { ttl }),
      catch: natsError("KeyValue", `cannot create KV bucket ${bucket}`)
    }).pipe(
      Effect.andThen(Effect.tryPromise({
        try: () => kvm.open(bucket),
        catch: natsError("KeyValue", `cannot open KV bucket ${bucket}`)
      }))
    )
  const members = yield* open(MEMBERS_BUCKET, spec.memberTtlMs)
  const leases = yield* open(LEASES_BUCKET, spec.leaseTtlMs)
  return { members, leases }
})
