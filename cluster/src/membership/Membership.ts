/**
 * Who is in the cluster, as this node sees it.
 *
 * Every node writes a heartbeat (its name, incarnation and addresses) into the members
 * bucket every `heartbeatMs` and watches the bucket. A member is live while its heartbeats
 * keep arriving: one not heard from for `timeoutMs` is dead to us, whatever the bucket
 * still holds (watchers are not told when nats-server expires a key). A graceful leave
 * deletes the key, which watchers do see.
 *
 * The view is only `fresh` — fit for moving partitions — while our own heartbeats come back
 * through the watch and the watch has run for `settleMs`. A node cut off from NATS, stopped
 * for a while, or just started sees a stale or partial cluster; it must not hand partitions
 * over or claim them on that basis (renewals of what it holds go on regardless).
 */
import { type MemberRecord, type MemberStore } from "@bramble/nats"
import { Clock, Effect, Fiber, type Scope, Stream } from "effect"
import { randomUUID } from "node:crypto"

export interface MembershipTiming {
  /** How often this node writes its heartbeat. */
  readonly heartbeatMs: number
  /** A member not heard from for this long is dead to us. Must be below the lease TTL, so
   * survivors want a dead node's partitions by the time its leases expire. */
  readonly timeoutMs: number
  /** How long the watch must have run before the view is trusted. */
  readonly settleMs: number
}

/** A member gone this long is dropped from the view. */
const FORGET_AFTER_MS = 60_000

export const membershipTiming: MembershipTiming = { heartbeatMs: 1_000, timeoutMs: 3_000, settleMs: 1_500 }

/** `alive`: heard from within two heartbeats; `suspect`: later, but within the timeout
 * (still counted as a member); `down`: not heard from for longer (recently gone). */
export type MemberState = "alive" | "suspect" | "down"

/** A member and how long ago we last heard from it. */
export interface SeenMember {
  readonly record: MemberRecord
  readonly heartbeatAgeMs: number
  readonly state: MemberState
}

export interface MembershipView {
  readonly fresh: boolean
  /** Members heard from recently, sorted by name (this node included once its heartbeat
   * came back); `down` ones stay listed for a minute, then are forgotten. */
  readonly members: ReadonlyArray<SeenMember>
}

export interface Membership {
  /** This node's identity. */
  readonly self: MemberRecord
  readonly view: Effect.Effect<MembershipView>
  /** Names of the live members, or undefined while the view is not fresh. */
  readonly liveNames: Effect.Effect<ReadonlyArray<string> | undefined>
  /** Stop heartbeating and remove our key (graceful leave). Idempotent. */
  readonly leave: Effect.Effect<void>
}

/** A new incarnation id: unique per process start, sortable by start time. */
export const newIncarnation = (startedAt: number): string => `${startedAt.toString(36)}-${randomUUID().slice(0, 8)}`

export interface MembershipOptions {
  readonly store: MemberStore
  /** Everything but `heartbeatAt`, which each heartbeat sets. */
  readonly self: Omit<MemberRecord, "heartbeatAt">
  /** Read at every heartbeat: addresses known only after start (the dashboard URL). */
  readonly extra?: () => Pick<MemberRecord, "httpUrl">
  readonly timing?: MembershipTiming
}

/** Joins the cluster: heartbeats and the watch run until the scope closes. */
export const startMembership = Effect.fn("Membership.startMembership")(function*(options: MembershipOptions): Effect.fn.Return<Membership, never, Scope.Scope> {
  const timing = options.timing ?? membershipTiming
  const clock = yield* Clock.Clock
  const nowMs = () => Number(clock.monotonicTimeNanosUnsafe() / 1_000_000n)
  const self = options.self
  const seen = new Map<string, { record: MemberRecord; seenAt: number }>()
  let watchStartedAt = Number.NEGATIVE_INFINITY
  let selfSeenAt = Number.NEGATIVE_INFINITY
  let lastHeartbeatOk = Number.NEGATIVE_INFINITY
  let lastRevision = 0
  let leaving = false

  const heartbeats = Effect.gen(function*() {
    let failures = 0
    while (!leaving) {
      const sent = nowMs()
      const result = yield* Effect.exit(options.store.heartbeat({ ...self, ...options.extra?.(), heartbeatAt: clock.currentTimeMillisUnsafe() }))
      if (result._tag === "Success") {
        lastRevision = result.value
        lastHeartbeatOk = sent
        failures = 0
      } else if (++failures === 1 || failures % 30 === 0) {
        yield* Effect.logWarning(`membership: heartbeat of ${self.node} failed (${failures}x)`, result.cause)
      }
      yield* Effect.sleep(timing.heartbeatMs)
    }
  })

  const watchOnce = Stream.runForEach(options.store.watch, (event) =>
    Effect.sync(() => {
      const at = nowMs()
      if (event._tag === "Left") {
        seen.delete(event.node)
        return
      }
      seen.set(event.record.node, { record: event.record, seenAt: at })
      if (event.record.node === self.node && event.record.incarnation === self.incarnation) selfSeenAt = at
    })
  )
  // The watch restarts when it fails, ends, or stops showing our own heartbeats although
  // they are being written (a watcher that silently fell behind).
  const watchStale = Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(timing.heartbeatMs)
      const now = nowMs()
      const stalled = now - watchStartedAt > timing.timeoutMs && now - selfSeenAt > timing.timeoutMs &&
        now - lastHeartbeatOk < 2 * timing.heartbeatMs
      if (stalled) return
    }
  })
  const watches = Effect.gen(function*() {
    while (true) {
      watchStartedAt = nowMs()
      const exit = yield* Effect.exit(Effect.raceFirst(watchOnce, watchStale))
      if (exit._tag === "Failure") yield* Effect.logWarning("membership: the members watch failed; restarting it", exit.cause)
      yield* Effect.sleep(Math.min(1_000, timing.heartbeatMs))
    }
  })

  const heartbeatFiber = yield* Effect.forkScoped(heartbeats)
  yield* Effect.forkScoped(watches)

  const view = Effect.sync((): MembershipView => {
    const now = nowMs()
    const fresh = !leaving && now - selfSeenAt <= timing.timeoutMs && now - watchStartedAt >= timing.settleMs
    const members: Array<SeenMember> = []
    for (const [node, { record, seenAt }] of seen) {
      const age = now - seenAt
      if (age > FORGET_AFTER_MS) {
        seen.delete(node)
        continue
      }
      const state = age <= 2 * timing.heartbeatMs ? "alive" : age <= timing.timeoutMs ? "suspect" : "down"
      members.push({ record, heartbeatAgeMs: age, state })
    }
    members.sort((a, b) => (a.record.node < b.record.node ? -1 : a.record.node > b.record.node ? 1 : 0))
    return { fresh, members }
  })

  const leave = Effect.gen(function*() {
    if (leaving) return
    leaving = true
    yield* Fiber.interrupt(heartbeatFiber)
    if (lastRevision > 0) yield* Effect.ignore(options.store.leave(self.node, lastRevision))
  })

  return {
    self: { ...self, heartbeatAt: clock.currentTimeMillisUnsafe() },
    view,
    liveNames: Effect.map(view, (v) => (v.fresh ? v.members.filter((m) => m.state !== "down").map((m) => m.record.node) : undefined)),
    leave
  }
})
