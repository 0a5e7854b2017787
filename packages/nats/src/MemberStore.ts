/**
 * Member heartbeats in the `bramble_members` KV bucket: every live node rewrites its own
 * key (its name) every heartbeat, and every node watches the bucket. A node that stops
 * writing disappears from the bucket `ttl` after its last heartbeat; watchers are not told
 * about such expiries (nats-server removes expired messages silently), so liveness is
 * decided by the watcher from when it last heard a heartbeat (see cluster membership).
 *
 * A memory implementation with the same shape lets membership be tested with `TestClock`.
 */
import type { KV } from "@nats-io/kv"
import { Effect, Predicate, PubSub, Stream } from "effect"
import { natsError, type NatsError } from "./NatsError.js"

/** What a member says about itself in each heartbeat. */
export interface MemberRecord {
  readonly node: string
  /** Unique per process start: a restarted node is a new incarnation. */
  readonly incarnation: string
  /** Wall-clock ms the process started. */
  readonly startedAt: number
  /** Wall-clock ms of this heartbeat (the sender's clock). */
  readonly heartbeatAt: number
  readonly natsUrl?: string
  readonly mqttUrl?: string
  /** The node's dashboard and /metrics, when it serves them. */
  readonly httpUrl?: string
}

/** A change seen by a watcher. */
export type MemberEvent =
  | { readonly _tag: "Heartbeat"; readonly record: MemberRecord; readonly revision: number }
  | { readonly _tag: "Left"; readonly node: string; readonly revision: number }

/** Heartbeat and watch operations on one bucket. */
export interface MemberStore {
  /** Writes the member's heartbeat; its revision. */
  readonly heartbeat: (record: MemberRecord) => Effect.Effect<number, NatsError>
  /** Removes the member's key if `revision` is still its last heartbeat (a graceful leave
   * never deletes the key of a newer incarnation that took the name). */
  readonly leave: (node: string, revision: number) => Effect.Effect<void, NatsError>
  /** The current heartbeats, then every change, until the watch fails or ends. */
  readonly watch: Stream.Stream<MemberEvent, NatsError>
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const decodeRecord = (bytes: Uint8Array): MemberRecord | undefined => {
  try {
    const value = JSON.parse(decoder.decode(bytes)) as Partial<MemberRecord>
    if (typeof value.node !== "string" || typeof value.incarnation !== "string") return undefined
    if (typeof value.startedAt !== "number" || typeof value.heartbeatAt !== "number") return undefined
    return {
      node: value.node,
      incarnation: value.incarnation,
      startedAt: value.startedAt,
      heartbeatAt: value.heartbeatAt,
      ...(typeof value.natsUrl === "string" ? { natsUrl: value.natsUrl } : {}),
      ...(typeof value.mqttUrl === "string" ? { mqttUrl: value.mqttUrl } : {}),
      ...(typeof value.httpUrl === "string" ? { httpUrl: value.httpUrl } : {})
    }
  } catch {
    return undefined
  }
}

/** Members kept in a KV bucket. */
export const kvMemberStore = (kv: KV): MemberStore => ({
  heartbeat: (record) =>
    Effect.tryPromise({
      try: () => kv.put(record.node, encoder.encode(JSON.stringify(record))),
      catch: natsError("KeyValue", `cannot write the heartbeat of ${record.node}`)
    }),
  leave: (node, revision) =>
    Effect.tryPromise({
      try: () => kv.delete(node, { previousSeq: revision }),
      catch: natsError("KeyValue", `cannot remove member ${node}`)
    }),
  watch: Stream.unwrap(
    Effect.map(
      Effect.tryPromise({ try: () => kv.watch(), catch: natsError("KeyValue", "cannot watch the members bucket") }),
      (iterator) =>
        Stream.fromAsyncIterable(iterator, natsError("KeyValue", "the members watch failed")).pipe(
          Stream.map((entry): MemberEvent | undefined => {
            if (entry.operation !== "PUT") return { _tag: "Left", node: entry.key, revision: entry.revision }
            const record = decodeRecord(entry.value)
            return record === undefined ? undefined : { _tag: "Heartbeat", record, revision: entry.revision }
          }),
          Stream.filter(Predicate.isNotUndefined),
          Stream.ensuring(Effect.sync(() => iterator.stop()))
        )
    )
  )
})

/** In-memory members: watchers get the current heartbeats, then every change. */
export const memoryMemberStore = Effect.fn("MemberStore.memoryMemberStore")(function*(): Effect.fn.Return<MemberStore> {
  const pubsub = yield* PubSub.unbounded<MemberEvent>()
  const current = new Map<string, MemberEvent>()
  let revision = 0
  const publish = (key: string, event: MemberEvent) =>
    Effect.suspend(() => {
      current.set(key, event)
      return PubSub.publish(pubsub, event)
    })
  return {
    heartbeat: (record) =>
      Effect.suspend(() => {
        const r = ++revision
        return Effect.as(publish(record.node, { _tag: "Heartbeat", record, revision: r }), r)
      }),
    leave: (node, expected) =>
      Effect.suspend(() => {
        const last = current.get(node)
        if (last === undefined || last.revision !== expected) return Effect.void
        return Effect.asVoid(publish(node, { _tag: "Left", node, revision: ++revision }))
      }),
    // Subscribe before taking the snapshot, so no change falls between the two.
    watch: Stream.unwrap(Effect.map(PubSub.subscribe(pubsub), (subscription) =>
      Stream.concat(Stream.fromIterable([...current.values()]), Stream.fromSubscription(subscription))
    ))
  }
})
