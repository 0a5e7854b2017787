/**
 * Partition leases in the `bramble_leases` KV bucket (docs/design.md, decision 3): claim = create
 * (fails when the key exists), renew = update on the revision we last wrote (fails when
 * anyone else wrote since, or the key expired), release = delete on that revision. The
 * bucket's TTL is the lease expiry. Every operation is a compare-and-set on the stream
 * leader, so two nodes can never both believe a write of theirs made them the owner.
 *
 * A memory implementation with the same semantics (TTL from the Effect `Clock`) lets the
 * ownership logic be tested with `TestClock`.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream"
import type { KV } from "@nats-io/kv"
import { Clock, Data, Effect } from "effect"
import { natsError, type NatsError } from "./NatsError.js"

/** Who holds a lease. `incarnation` tells a restarted node from its previous life. */
export interface LeaseRecord {
  readonly node: string
  readonly incarnation: string
  /** Wall-clock ms when this holder claimed the lease. */
  readonly claimedAt: number
}

/** A lease as read from the bucket. */
export interface LeaseEntry {
  readonly partition: number
  readonly record: LeaseRecord
  /** KV revision of the last write (claim or renewal). */
  readonly revision: number
  /** Server time of the last write, ms since the epoch. */
  readonly writtenAt: number
}

/** The compare-and-set failed: someone holds the lease (`Held`), or ours is gone (`Lost`). */
export class LeaseConflict extends Data.TaggedError("LeaseConflict")<{
  readonly partition: number
  readonly reason: "Held" | "Lost"
}> {
  override get message() {
    return this.reason === "Held"
      ? `partition ${this.partition}: the lease is held by another node`
      : `partition ${this.partition}: the lease was lost (expired or taken)`
  }
}

/** Lease operations on one bucket. */
export interface LeaseStore {
  /** Creates the lease; its revision is the fencing token of this ownership. */
  readonly claim: (partition: number, record: LeaseRecord) => Effect.Effect<number, LeaseConflict | NatsError>
  /** Rewrites the lease if `revision` is still the last write; the new revision. */
  readonly renew: (
    partition: number,
    record: LeaseRecord,
    revision: number,
    timeoutMs?: number
  ) => Effect.Effect<number, LeaseConflict | NatsError>
  /** Deletes the lease if `revision` is still the last write. */
  readonly release: (partition: number, revision: number) => Effect.Effect<void, LeaseConflict | NatsError>
  /** The current lease of a partition, if any. */
  readonly read: (partition: number) => Effect.Effect<LeaseEntry | undefined, NatsError>
}

/** The KV key of a partition's lease. */
export const leaseKey = (partition: number): string => `p.${partition}`

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const isWrongLastSequence = (error: unknown) =>
  error instanceof JetStreamApiError &&
  (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)

const decodeRecord = (bytes: Uint8Array): LeaseRecord | undefined => {
  try {
    const value = JSON.parse(decoder.decode(bytes)) as Partial<LeaseRecord>
    return typeof value.node === "string" && typeof value.incarnation === "string" && typeof value.claimedAt === "number"
      ? { node: value.node, incarnation: value.incarnation, claimedAt: value.claimedAt }
      : undefined
  } catch {
    return undefined
  }
}

/** Leases kept in a KV bucket (open it without direct get: reads must come from the leader). */
export const kvLeaseStore = (kv: KV): LeaseStore => {
  const cas = <A>(partition: number, reason: LeaseConflict["reason"], what: string, f: () => Promise<A>) =>
    Effect.tryPromise({ try: f, catch: (error) => error }).pipe(
      Effect.mapError((error) =>
        isWrongLastSequence(error)
          ? new LeaseConflict({ partition, reason })
          : natsError("KeyValue", `partition ${partition}: cannot ${what} the lease`)(error)
      )
    )
  return {
    claim: (partition, record) =>
      cas(partition, "Held", "claim", () => kv.create(leaseKey(partition), encoder.encode(JSON.stringify(record)))),
    renew: (partition, record, revision, timeoutMs) =>
      cas(partition, "Lost", "renew", () => kv.update(leaseKey(partition), encoder.encode(JSON.stringify(record)), revision, timeoutMs)),
    release: (partition, revision) =>
      cas(partition, "Lost", "release", () => kv.delete(leaseKey(partition), { previousSeq: revision })),
    read: (partition) =>
      Effect.tryPromise({
        try: async () => {
          const entry = await kv.get(leaseKey(partition))
          if (entry === null || entry.operation !== "PUT") return undefined
          const record = decodeRecord(entry.value)
          return record === undefined
            ? undefined
            : { partition, record, revision: entry.revision, writtenAt: entry.created.getTime() }
        },
        catch: natsError("KeyValue", `partition ${partition}: cannot read the lease`)
      })
  }
}

/**
 * In-memory leases with the bucket's semantics: one global revision counter, a key expires
 * `ttlMs` after its last write (by the Effect `Clock`), deletes need the current revision.
 * `unavailable` makes every call fail with a NatsError, as when the servers are unreachable.
 */
export interface MemoryLeaseStore extends LeaseStore {
  readonly setUnavailable: (down: boolean) => void
  /** Every successful write, in order (the bucket's history as a watcher would see it). */
  readonly history: ReadonlyArray<{ readonly partition: number; readonly op: "claim" | "renew" | "release"; readonly record?: LeaseRecord; readonly revision: number; readonly at: number }>
}

export const memoryLeaseStore = (ttlMs: number): MemoryLeaseStore => {
  let revision = 0
  let down = false
  const keys = new Map<number, { record: LeaseRecord; revision: number; writtenAt: number }>()
  const history: Array<MemoryLeaseStore["history"][number]> = []
  const live = (partition: number, now: number) => {
    const entry = keys.get(partition)
    if (entry !== undefined && now - entry.writtenAt >= ttlMs) {
      keys.delete(partition)
      return undefined
    }
    return entry
  }
  const op = <A, E>(f: (now: number) => Effect.Effect<A, E>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<A, E | NatsError> =>
      down ? Effect.fail(natsError("KeyValue", "lease store")(new Error("unavailable"))) : f(now))
  return {
    setUnavailable: (value) => {
      down = value
    },
    history,
    claim: (partition, record) =>
      op((now) => {
        if (live(partition, now) !== undefined) return Effect.fail(new LeaseConflict({ partition, reason: "Held" }))
        keys.set(partition, { record, revision: ++revision, writtenAt: now })
        history.push({ partition, op: "claim", record, revision, at: now })
        return Effect.succeed(revision)
      }),
    renew: (partition, record, expected) =>
      op((now) => {
        const entry = live(partition, now)
        if (entry === undefined || entry.revision !== expected) return Effect.fail(new LeaseConflict({ partition, reason: "Lost" }))
        keys.set(partition, { record, revision: ++revision, writtenAt: now })
        history.push({ partition, op: "renew", record, revision, at: now })
        return Effect.succeed(revision)
      }),
    release: (partition, expected) =>
      op((now) => {
        const entry = live(partition, now)
        if (entry === undefined || entry.revision !== expected) return Effect.fail(new LeaseConflict({ partition, reason: "Lost" }))
        keys.delete(partition)
        history.push({ partition, op: "release", revision: ++revision, at: now })
        return Effect.succeed(undefined)
      }),
    read: (partition) =>
      op((now) => {
        const entry = live(partition, now)
        return Effect.succeed(entry === undefined ? undefined : { partition, record: entry.record, revision: entry.revision, writtenAt: entry.writtenAt })
      })
  }
}
