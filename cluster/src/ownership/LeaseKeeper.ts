/**
 * One held lease and the partition worker it licenses, from the claim to the end.
 *
 * Three fibers: renewals (compare-and-set every `renewEvery`; a conflict means the lease is
 * gone and closes the fence for good), the worker (runs only while the fence holds, is
 * interrupted the moment it stops holding, and restarts from its checkpoint after a crash),
 * and the keeper itself, which waits for a handover request or the loss of the lease.
 *
 * A fence that merely expired (renewals failing: NATS unreachable, a leader election) stops
 * the worker but keeps renewing; if a renewal then succeeds, the compare-and-set proves the
 * lease was never anyone else's, and the worker starts again from its checkpoint.
 *
 * Handover (the partition should move, or the node is stopping): ask the worker for one
 * more checkpoint, which closes the fence once saved; stop the worker; delete the lease on
 * its revision, so the next owner can claim at once instead of waiting out the TTL.
 */
import type { LeaseConflict, LeaseRecord, LeaseStore } from "@bramble/nats"
import { Backoff } from "@bramble/runtime"
import { Cause, Clock, Deferred, Effect, Exit, Fiber, Random, type Scope } from "effect"
import { Fence } from "./Fence.js"
import type { LeaseTiming } from "./LeaseTiming.js"
import type { OwnershipEvent, OwnershipLog } from "./OwnershipLog.js"

/** Where a held lease is in its life. */
export type KeeperState = "running" | "suspended" | "draining" | "ended"

/** A held lease, as the node and its admin actor see it. */
export interface LeaseKeeper {
  readonly partition: number
  /** Revision of the claim: identifies this ownership (the fencing token). */
  readonly lease: number
  /** Wall-clock ms of the claim. */
  readonly claimedAt: number
  readonly state: () => KeeperState
  /** Wall-clock ms of the last successful claim or renewal. */
  readonly lastRenewalAt: () => number
  /** Hand the partition over gracefully; completes when the lease is released. */
  readonly release: Effect.Effect<void>
  /** Completes when the keeper has ended (released or lost). */
  readonly ended: Effect.Effect<void>
}

export interface LeaseKeeperOptions {
  readonly partition: number
  readonly record: LeaseRecord
  /** Revision returned by the claim. */
  readonly revision: number
  /** Monotonic ns at which the claim was sent (the fence counts from here). */
  readonly sentAt: bigint
  readonly leases: LeaseStore
  readonly timing: LeaseTiming
  /** The partition worker; interrupted when the fence stops holding. */
  readonly runWorker: (fence: Fence, lease: number) => Effect.Effect<void, unknown>
  readonly log: OwnershipLog
  readonly onEnd?: () => void
}

const WORKER_BACKOFF: Backoff.Backoff = { initial: "200 millis", max: "10 seconds", factor: 2, jitter: 0.3 }
/** A worker that ran this long before failing starts again from the shortest backoff. */
const WORKER_HEALTHY_MS = 30_000

/** Starts keeping a lease that was just claimed. The keeper runs in the current scope. */
export const startLeaseKeeper = Effect.fn("LeaseKeeper.startLeaseKeeper")(function*(options: LeaseKeeperOptions): Effect.fn.Return<LeaseKeeper, never, Scope.Scope> {
  const { partition, record, leases, timing } = options
  const clock = yield* Clock.Clock
  const fence = new Fence(partition, clock, timing.fenceMs, options.sentAt)
  const lease = options.revision
  let revision = options.revision
  let state: KeeperState = "running"
  let lastRenewalAt = clock.currentTimeMillisUnsafe()
  const lost = Deferred.makeUnsafe<void>()
  const releaseRequested = Deferred.makeUnsafe<void>()
  const ended = Deferred.makeUnsafe<void>()

  const log = (event: OwnershipEvent["event"], extra: Partial<OwnershipEvent> = {}) =>
    options.log.write({
      event,
      partition,
      node: record.node,
      incarnation: record.incarnation,
      lease,
      at: clock.currentTimeMillisUnsafe(),
      fenceDeadline: fence.deadlineWallMs(),
      ...extra
    })
  log("claimed", { revision })

  let failures = 0
  /** One renewal; uninterruptible so a stopped keeper never forgets a revision it wrote. */
  const renewOnce: Effect.Effect<"ok" | "failed" | "lost"> = Effect.uninterruptible(Effect.gen(function*() {
    const sentAt = fence.now()
    const result = yield* Effect.exit(leases.renew(partition, record, revision, timing.fenceMs))
    if (Exit.isSuccess(result)) {
      revision = result.value
      fence.extend(sentAt)
      lastRenewalAt = clock.currentTimeMillisUnsafe()
      failures = 0
      log("renewed", { revision })
      return "ok" as const
    }
    const error = Cause.findErrorOption(result.cause)
    if (error._tag === "Some" && error.value._tag === "LeaseConflict") {
      fence.close()
      log("lost", { detail: (error.value as LeaseConflict).message })
      yield* Effect.logWarning(`partition ${partition}: lease lost (expired or taken); its worker is stopped`)
      Deferred.doneUnsafe(lost, Effect.void)
      return "lost" as const
    }
    failures += 1
    if (failures === 1 || failures % 20 === 0) {
      yield* Effect.logWarning(`partition ${partition}: lease renewal failed (${failures}x), fence closes in ${fence.remainingMs()} ms`, result.cause)
    }
    return "failed" as const
  }))

  const renewals = Effect.gen(function*() {
    let last: "ok" | "failed" = "ok"
    while (true) {
      const dueIn = last === "ok"
        ? Number((fence.lastRenewalSentAt - fence.now()) / 1_000_000n) + timing.renewEveryMs
        : timing.retryMs
      yield* Effect.sleep(Math.max(0, dueIn))
      const outcome = yield* renewOnce
      if (outcome === "lost") return
      last = outcome
    }
  })

  const worker = Effect.gen(function*() {
    let attempt = 0
    while (!fence.isClosed) {
      if (!fence.holds()) {
        // Suspended: wait for a renewal to prove the lease is still ours (or for the end).
        yield* Effect.sleep(Math.max(10, Math.min(100, timing.retryMs)))
        continue
      }
      if (state === "suspended") {
        state = "running"
        log("resumed")
        yield* Effect.logInfo(`partition ${partition}: lease renewed again, worker resumes from its checkpoint`)
      }
      const startedAt = clock.currentTimeMillisUnsafe()
      const fiber = yield* Effect.forkChild(options.runWorker(fence, lease))
      yield* Effect.raceFirst(Effect.asVoid(Fiber.await(fiber)), fence.expired)
      // Interrupts the worker if the fence won, and waits until it has stopped.
      const exit = yield* Effect.andThen(Fiber.interrupt(fiber), Fiber.await(fiber))
      if (fence.isClosed) return
      if (!fence.holds()) {
        if (state === "running") {
          state = "suspended"
          log("suspended", { detail: "no successful renewal in time" })
          yield* Effect.logWarning(`partition ${partition}: lease not renewed in time; worker stopped before the lease can expire`)
        }
        continue
      }
      // The worker ended by itself while the lease is ours: start it again from its checkpoint.
      if (clock.currentTimeMillisUnsafe() - startedAt >= WORKER_HEALTHY_MS) attempt = 0
      attempt += 1
      const delay = Backoff.delay(WORKER_BACKOFF, attempt, yield* Random.next)
      yield* Effect.logError(`partition ${partition} failed; restarting from its checkpoint`, Exit.isFailure(exit) ? exit.cause : "ended")
      yield* Effect.sleep(delay)
    }
  })

  const keep = Effect.gen(function*() {
    const renewFiber = yield* Effect.forkChild(renewals)
    const workerFiber = yield* Effect.forkChild(worker)
    const why = yield* Effect.raceFirst(
      Effect.as(Deferred.await(lost), "lost" as const),
      Effect.as(Deferred.await(releaseRequested), "release" as const)
    )
    if (why === "release") {
      state = "draining"
      if (fence.holds()) {
        // One more checkpoint (it closes the fence), unless the lease goes first.
        fence.requestDrain()
        yield* Effect.raceFirst(fence.expired, Effect.sleep(timing.drainTimeoutMs))
      }
      fence.close()
      yield* Fiber.interrupt(workerFiber)
      yield* Fiber.interrupt(renewFiber)
      // The ownership ends here, with the worker stopped and the fence shut, not when the
      // delete returns: the next owner may claim as soon as the server applies the delete,
      // which is before its reply reaches us (logged after it, the release overlapped the
      // next claim by the round trip — a false overlap in the fault tests).
      const stoppedAt = clock.currentTimeMillisUnsafe()
      if (!Deferred.isDoneUnsafe(lost)) {
        const released = yield* Effect.exit(leases.release(partition, revision))
        log("released", Exit.isSuccess(released) ? { at: stoppedAt } : { at: stoppedAt, detail: "delete failed; the lease expires by its TTL" })
      }
    } else {
      yield* Fiber.interrupt(workerFiber)
    }
  }).pipe(
    Effect.onExit(() =>
      Effect.sync(() => {
        fence.close()
        state = "ended"
        Deferred.doneUnsafe(ended, Effect.void)
        options.onEnd?.()
      })
    )
  )
  yield* Effect.forkScoped(keep)

  return {
    partition,
    lease,
    claimedAt: record.claimedAt,
    state: () => state,
    lastRenewalAt: () => lastRenewalAt,
    release: Effect.andThen(Effect.sync(() => Deferred.doneUnsafe(releaseRequested, Effect.void)), Deferred.await(ended)),
    ended: Deferred.await(ended)
  }
})
