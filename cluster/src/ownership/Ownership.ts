/**
 * Partition ownership on one node: reconcile, every tick, the partitions this node holds
 * leases for with the partitions the assignment gives it for the live members it sees.
 *
 * - Wanted and not held: claim (KV create). A partition whose previous owner died is
 *   claimed once its lease expires; one being handed over, once the owner released it.
 * - Held and no longer wanted (a member joined, or the view changed): hand it over
 *   gracefully (last checkpoint, stop, release), see `LeaseKeeper`.
 * - Nothing moves while the membership view is not fresh.
 *
 * Every node decides alone, from the same member list, so they agree once their views
 * agree; while they disagree, the leases arbitrate — a claim on a held lease just fails.
 * `shutdown` (SIGTERM) stops claiming and hands everything over before the node exits.
 */
import type { LeaseRecord, LeaseStore } from "@bramble/nats"
import { Cause, Clock, Effect, Exit, Fiber, Scope } from "effect"
import { assignPartitions } from "./Assignment.js"
import type { Fence } from "./Fence.js"
import { type KeeperState, type LeaseKeeper, startLeaseKeeper } from "./LeaseKeeper.js"
import { checkLeaseTiming, type LeaseTiming } from "./LeaseTiming.js"
import { noOwnershipLog, type OwnershipLog } from "./OwnershipLog.js"

export interface OwnershipOptions {
  readonly node: string
  readonly incarnation: string
  readonly partitions: number
  readonly leases: LeaseStore
  /** Live member names, or undefined while the view must not be acted on. */
  readonly members: Effect.Effect<ReadonlyArray<string> | undefined>
  readonly timing: LeaseTiming
  /** The worker of one partition; runs while the fence holds (see `LeaseKeeper`). */
  readonly runWorker: (partition: number, fence: Fence, lease: number) => Effect.Effect<void, unknown>
  readonly log?: OwnershipLog
}

/** A partition this node holds a lease for. */
export interface OwnedPartition {
  readonly partition: number
  readonly lease: number
  readonly claimedAt: number
  readonly lastRenewalAt: number
  readonly state: KeeperState
}

export interface Ownership {
  /** What this node holds now, by partition. */
  readonly owned: Effect.Effect<ReadonlyArray<OwnedPartition>>
  /** Whether this node runs `partition` now (lease held and fence open). */
  readonly holds: (partition: number) => boolean
  /** The assignment at the last tick that had a fresh view (owner per partition). */
  readonly target: Effect.Effect<ReadonlyArray<string | undefined>>
  /** Stop claiming and hand every partition over; completes when all are released. */
  readonly shutdown: Effect.Effect<void>
}

/** Starts reconciling; runs until `shutdown` or until the scope closes (which also shuts down). */
export const startOwnership = Effect.fn("Ownership.startOwnership")(function*(options: OwnershipOptions): Effect.fn.Return<Ownership, never, Scope.Scope> {
  const { node, incarnation, partitions, leases, timing } = options
  const invalid = checkLeaseTiming(timing)
  if (invalid !== undefined) return yield* Effect.die(invalid)
  const log = options.log ?? noOwnershipLog
  const clock = yield* Clock.Clock
  // Keepers, claims and handovers run in a scope of their own, closed only after
  // `shutdown` handed everything over: forked into the caller's scope, a keeper started
  // late would be interrupted before any finalizer registered earlier could hand it over.
  const scope = yield* Scope.fork(yield* Effect.scope, "parallel")
  const keepers = new Map<number, LeaseKeeper>()
  const claiming = new Set<number>()
  const releasing = new Set<number>()
  let target: ReadonlyArray<string | undefined> = []
  let stopping = false

  const keep = (partition: number, revision: number, sentAt: bigint, record: LeaseRecord) =>
    Effect.gen(function*() {
      const keeper = yield* startLeaseKeeper({
        partition,
        record,
        revision,
        sentAt,
        leases,
        timing,
        runWorker: (fence, lease) => options.runWorker(partition, fence, lease),
        log,
        onEnd: () => {
          if (keepers.get(partition) === keeper) keepers.delete(partition)
        }
      }).pipe(Scope.provide(scope))
      keepers.set(partition, keeper)
      yield* Effect.logInfo(`partition ${partition}: claimed (lease ${revision})`)
    })

  const claim = (partition: number) =>
    Effect.gen(function*() {
      const record: LeaseRecord = { node, incarnation, claimedAt: clock.currentTimeMillisUnsafe() }
      const sentAt = clock.monotonicTimeNanosUnsafe()
      const claimed = yield* Effect.exit(leases.claim(partition, record))
      if (Exit.isSuccess(claimed)) return yield* keep(partition, claimed.value, sentAt, record)
      const error = Cause.findErrorOption(claimed.cause)
      if (error._tag !== "Some" || error.value._tag !== "LeaseConflict") return
      // Held — by us? A claim whose reply was lost (timeout) leaves our own lease behind.
      // Adopt it only through a successful renewal, which proves it is still ours.
      const current = yield* Effect.orElseSucceed(leases.read(partition), () => undefined)
      if (current === undefined || current.record.incarnation !== incarnation || keepers.has(partition)) return
      const renewSentAt = clock.monotonicTimeNanosUnsafe()
      const renewed = yield* Effect.exit(leases.renew(partition, current.record, current.revision))
      if (Exit.isSuccess(renewed)) yield* keep(partition, renewed.value, renewSentAt, current.record)
    }).pipe(Effect.ensuring(Effect.sync(() => claiming.delete(partition))))

  const handOver = (keeper: LeaseKeeper) =>
    Effect.gen(function*() {
      yield* Effect.logInfo(`partition ${keeper.partition}: handing over`)
      yield* keeper.release
    }).pipe(Effect.ensuring(Effect.sync(() => releasing.delete(keeper.partition))))

  const tick = Effect.gen(function*() {
    if (stopping) return
    const members = yield* options.members
    if (members === undefined) return
    const owners = assignPartitions(members, partitions)
    target = owners
    for (const keeper of keepers.values()) {
      if (owners[keeper.partition] === node || releasing.has(keeper.partition)) continue
      if (keeper.state() === "running" || keeper.state() === "suspended") {
        releasing.add(keeper.partition)
        yield* Effect.forkIn(handOver(keeper), scope)
      }
    }
    const wanted: Array<number> = []
    for (let p = 0; p < partitions; p++) {
      if (owners[p] === node && !keepers.has(p) && !claiming.has(p)) {
        claiming.add(p)
        wanted.push(p)
      }
    }
    if (wanted.length > 0) yield* Effect.forkIn(Effect.forEach(wanted, claim, { concurrency: 16, discard: true }), scope)
  })

  const loop = Effect.gen(function*() {
    while (true) {
      yield* tick.pipe(Effect.catchCause((cause) => Effect.logError("ownership: reconcile failed", cause)))
      yield* Effect.sleep(timing.tickMs)
    }
  })
  const loopFiber = yield* Effect.forkScoped(loop)

  const shutdown = Effect.gen(function*() {
    if (stopping) return
    stopping = true
    yield* Fiber.interrupt(loopFiber)
    // Claims in flight finish (a claimed partition gets a keeper, released just below);
    // one that hangs is abandoned, its lease (if any) expires by the TTL.
    const giveUpAt = clock.currentTimeMillisUnsafe() + timing.ttlMs
    while (claiming.size > 0 && clock.currentTimeMillisUnsafe() < giveUpAt) yield* Effect.sleep(10)
    yield* Effect.forEach([...keepers.values()], (keeper) => keeper.release, { concurrency: "unbounded", discard: true })
  })
  yield* Effect.addFinalizer(() => Effect.andThen(shutdown, Scope.close(scope, Exit.void)))

  return {
    owned: Effect.sync(() =>
      [...keepers.values()]
        .map((k) => ({ partition: k.partition, lease: k.lease, claimedAt: k.claimedAt, lastRenewalAt: k.lastRenewalAt(), state: k.state() }))
        .sort((a, b) => a.partition - b.partition)
    ),
    holds: (partition) => keepers.get(partition)?.state() === "running",
    target: Effect.sync(() => target),
    shutdown
  }
})
