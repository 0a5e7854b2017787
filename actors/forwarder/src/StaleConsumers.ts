/**
 * Removing the consumers of forward targets that are gone from the cluster file. Each target
 * reads through a durable consumer `bramble-fwd-<name>`; removing the target from the file
 * stops its forwarders but not the consumer, which then lingers in JetStream (in a cluster,
 * an R3 consumer is a RAFT group of its own on every Pi).
 *
 * This node's file alone is not enough authority to delete one: during a rolling update, or
 * when nodes come back from a power cut with files of different versions, a node with an
 * older file would delete the consumer of a target that was just added — and the target's
 * position (what it has been sent) with it. The authority is the running nodes together:
 * every forwarder answers on a presence subject while it runs (`Subjects.forwarderPresenceSubject`),
 * so "does any running node have this target?" is one request that nobody answers when
 * none has. A consumer is removed only when no target of this node's file reads it AND,
 * on every look throughout a grace period (10 minutes by default: longer than a node's
 * start or a forwarder's restart backoff), no forwarder answered for it and it showed no
 * sign of use (no pull request waiting, its position unchanged — which also covers nodes
 * of a Bramble version without the presence answer). Until then, or while it is in use, it
 * is kept and said so once. A node started later with an older file creates the consumer
 * again (as it would for any target it has); once that node is updated, it is removed again.
 *
 * Messages a stopped forwarder left unacknowledged (it held a batch while its receiver was
 * away) do not keep a consumer: they count as "ack pending" on the server whether or not a
 * node still holds them, so they say nothing about use — the presence answer does.
 */
import type { ForwardTarget } from "@bramble/config"
import { forwardConsumerName, NatsClient } from "@bramble/nats"
import { Subjects } from "@bramble/protocol"
import type { ConsumerInfo } from "@nats-io/jetstream"
import { type NatsConnection, RequestError } from "@nats-io/transport-node"
import { Clock, Effect, type Scope } from "effect"
import { sourceSpec } from "./ForwardItem.js"

/** Every forward target's consumer name starts with this. */
export const FORWARD_CONSUMER_PREFIX = forwardConsumerName("")

/** The streams forward targets read (READINGS, AGGREGATES, ALARMS). */
export const FORWARD_STREAMS: ReadonlyArray<string> = [...new Set((["raw", "windows", "alarms"] as const).map((s) => sourceSpec(s).stream))]


/** Answer presence requests for this forwarder until the scope closes. */
export const answerPresence = (nc: NatsConnection, stream: string, target: string, who: string): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.acquireRelease(
    Effect.sync(() => nc.subscribe(Subjects.forwarderPresenceSubject(stream, target), { callback: (_error, msg) => void msg.respond(who) })),
    (sub) => Effect.sync(() => sub.unsubscribe())
  ))

/** Whether a running forwarder reads `stream` for `target`: a name answered, nobody did, or we cannot tell. */
export type Presence = { readonly _tag: "Running"; readonly by: string } | { readonly _tag: "None" } | { readonly _tag: "Unknown"; readonly why: string }

/** Ask whether any running node forwards `target` from `stream`. */
export const askPresence = (nc: NatsConnection, stream: string, target: string, timeoutMs = 2_000): Effect.Effect<Presence> =>
  Effect.promise(() =>
    nc.request(Subjects.forwarderPresenceSubject(stream, target), undefined, { timeout: timeoutMs }).then(
      (reply): Presence => ({ _tag: "Running", by: reply.string() || "?" }),
      (error: unknown): Presence =>
        error instanceof RequestError && error.isNoResponders() ? { _tag: "None" } : { _tag: "Unknown", why: error instanceof Error ? error.message : String(error) }
    )
  )

/** What one look at a forward consumer shows. */
export interface ConsumerSighting {
  readonly stream: string
  readonly name: string
  /** A forwarder answered for it (or we could not ask), or a pull request is waiting. */
  readonly busy: boolean
  /** Where it is (delivered and acknowledged stream sequences): a change means someone uses it. */
  readonly position: string
  /** Why it is busy, for the log line that says it is kept. */
  readonly activity: string
}

/** The sighting of a consumer from its info and the presence answer. */
export const sightingOf = (
  info: Pick<ConsumerInfo, "stream_name" | "name" | "num_waiting" | "delivered" | "ack_floor">,
  presence: Presence
): ConsumerSighting => ({
  stream: info.stream_name,
  name: info.name,
  busy: presence._tag !== "None" || info.num_waiting > 0,
  position: `${info.delivered.stream_seq}/${info.ack_floor.stream_seq}`,
  activity: presence._tag === "Running"
    ? `a forwarder on nats-server ${presence.by} answers for it`
    : presence._tag === "Unknown"
    ? `cannot tell whether a node forwards it: ${presence.why}`
    : info.num_waiting > 0
    ? "a pull request is waiting"
    : "it moved"
})

/** Whether `stream`/`name` is a forward consumer that none of `targets` reads. */
export const isUnconfigured = (targets: ReadonlyArray<Pick<ForwardTarget, "name" | "source">>, stream: string, name: string): boolean =>
  name.startsWith(FORWARD_CONSUMER_PREFIX) && !targets.some((t) => forwardConsumerName(t.name) === name && sourceSpec(t.source).stream === stream)

/** What to do with the unconfigured consumers seen in one look. */
export interface Verdict {
  /** Unused for the whole grace period: delete. */
  readonly remove: ReadonlyArray<ConsumerSighting>
  /** In use by some node (first time seen so): keep, and say so. */
  readonly inUse: ReadonlyArray<ConsumerSighting>
}

/**
 * Since when each unconfigured consumer has been seen unused with the same position. A
 * consumer is due once it has been so for `graceMs` on every look; any sign of use restarts
 * its clock. Pure, so the rule is tested without a server or a clock.
 */
export const makeIdleTracker = (graceMs: number) => {
  const idle = new Map<string, { readonly since: number; readonly position: string }>()
  const said = new Set<string>()
  return {
    observe: (sightings: ReadonlyArray<ConsumerSighting>, now: number): Verdict => {
      const remove: Array<ConsumerSighting> = []
      const inUse: Array<ConsumerSighting> = []
      const seen = new Set<string>()
      for (const s of sightings) {
        const key = `${s.stream}/${s.name}`
        seen.add(key)
        const last = idle.get(key)
        if (s.busy || (last !== undefined && last.position !== s.position)) {
          idle.delete(key)
          if (!said.has(key)) {
            said.add(key)
            inUse.push(s)
          }
          // Moving but not busy right now: its clock starts again from this position.
          if (!s.busy) idle.set(key, { since: now, position: s.position })
          continue
        }
        if (last === undefined) idle.set(key, { since: now, position: s.position })
        else if (now - last.since >= graceMs) remove.push(s)
      }
      for (const key of [...idle.keys()]) if (!seen.has(key)) idle.delete(key)
      for (const s of remove) idle.delete(`${s.stream}/${s.name}`)
      return { remove, inUse }
    }
  }
}

export interface StaleConsumerOptions {
  /** The targets of this node's cluster file, or a function giving those in force now (they
   * change when a new version of the cluster file is applied: Forwarders.ts). */
  readonly targets: ReadonlyArray<Pick<ForwardTarget, "name" | "source">> | (() => ReadonlyArray<Pick<ForwardTarget, "name" | "source">>)
  /** How long an unconfigured consumer must be seen unused before it is removed (default 10 min). */
  readonly graceMs?: number
  /** How often consumers are looked at (default 20 s). */
  readonly intervalMs?: number
}

/** Default grace period: well past a forwarder's restart backoff (30 s) and a node's start. */
export const STALE_CONSUMER_GRACE_MS = 10 * 60_000

/**
 * Watch the forward consumers and remove those of targets no longer configured (see the
 * header for when). Runs until interrupted; a failed look (NATS away) is tried again at the
 * next interval, and never fails the node.
 */
export const removeStaleForwardConsumers = (options: StaleConsumerOptions): Effect.Effect<never, never, NatsClient> =>
  Effect.gen(function*() {
    const { jsm, nc } = yield* NatsClient
    const graceMs = options.graceMs ?? STALE_CONSUMER_GRACE_MS
    const tracker = makeIdleTracker(graceMs)
    const grace = graceMs >= 60_000 ? `${Math.round(graceMs / 60_000)} min` : `${Math.round(graceMs / 1000)} s`
    const targetsNow = typeof options.targets === "function" ? options.targets : () => options.targets as ReadonlyArray<Pick<ForwardTarget, "name" | "source">>
    const look = Effect.gen(function*() {
      const targets = targetsNow()
      const sightings = yield* Effect.tryPromise(async () => {
        const out: Array<ConsumerInfo> = []
        for (const stream of FORWARD_STREAMS) {
          for await (const info of jsm.consumers.list(stream)) {
            if (isUnconfigured(targets, stream, info.name)) out.push(info)
          }
        }
        return out
      }).pipe(Effect.flatMap((infos) =>
        Effect.forEach(infos, (info) =>
          Effect.map(askPresence(nc, info.stream_name, info.name.slice(FORWARD_CONSUMER_PREFIX.length)), (presence) => sightingOf(info, presence)))
      ))
      const verdict = tracker.observe(sightings, yield* Clock.currentTimeMillis)
      for (const s of verdict.inUse) {
        yield* Effect.logInfo(
          `forward: keeping consumer ${s.name} on ${s.stream} although no target of this node's cluster file reads it: it is in use (${s.activity}), ` +
            `so another node's file probably still has that target; it is removed once no node has used it for ${grace}`
        )
      }
      for (const s of verdict.remove) {
        // Several nodes may remove it at once: one that is already gone is fine.
        const deleted = yield* Effect.result(Effect.tryPromise(() => jsm.consumers.delete(s.stream, s.name)))
        if (deleted._tag === "Success") {
          yield* Effect.logInfo(
            `forward: removed consumer ${s.name} on ${s.stream}: no target of the cluster file reads it and it was unused for ${grace}`
          )
        }
      }
    })
    return yield* Effect.forever(Effect.andThen(Effect.ignore(look), Effect.sleep(options.intervalMs ?? 20_000)))
  })
