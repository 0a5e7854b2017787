/**
 * The fence of one owned partition: whether this node may still write on its behalf.
 *
 * A lease is valid on the server until TTL after its last write. The node cannot know when
 * the server stored that write, only when it sent it, which is earlier — so it counts from
 * the send time of its last successful renewal and stops `fenceMs` (< TTL) after it. The
 * difference (TTL − fenceMs) is the safety margin for interrupting the partition's actors
 * and for clocks: the fence uses the monotonic clock, which keeps running while the process
 * is stopped (SIGSTOP), so a process that wakes up after its lease expired finds its fence
 * already shut before it can write anything.
 *
 * Every write a partition worker makes goes through `check` at the moment of writing (see
 * `OwnedPorts`), so being fenced does not depend on how fast the worker is interrupted.
 * Closing the fence is final; a fence that merely expired opens again when a renewal that
 * was sent later succeeds (the compare-and-set proves nobody else held the lease between).
 */
import { type Clock, Data, Deferred, Effect } from "effect"

/** A write refused because the partition's fence is shut. */
export class FencedOut extends Data.TaggedError("FencedOut")<{
  readonly partition: number
  readonly reason: "Expired" | "Closed"
}> {
  override get message() {
    return `partition ${this.partition}: write refused, this node no longer holds the lease (${this.reason === "Expired" ? "not renewed in time" : "released or lost"})`
  }
}

const NANOS_PER_MS = 1_000_000n

export class Fence {
  private deadline: bigint
  private lastSentAt: bigint
  private closed = false
  private draining = false
  private readonly closedSignal = Deferred.makeUnsafe<void>()
  /** Completes when a final checkpoint was saved after `requestDrain`. */
  readonly drained = Deferred.makeUnsafe<void>()

  constructor(
    readonly partition: number,
    private readonly clock: Clock.Clock,
    readonly fenceMs: number,
    /** Send time (monotonic ns) of the claim that created the lease. */
    sentAt: bigint
  ) {
    this.lastSentAt = sentAt
    this.deadline = sentAt + BigInt(fenceMs) * NANOS_PER_MS
  }

  /** Monotonic now, in ns. */
  now(): bigint {
    return this.clock.monotonicTimeNanosUnsafe()
  }

  /** Whether a write may happen now. */
  holds(): boolean {
    return !this.closed && this.now() < this.deadline
  }

  /** Undefined when the fence holds, else the reason to refuse. */
  check(): FencedOut | undefined {
    if (this.closed) return new FencedOut({ partition: this.partition, reason: "Closed" })
    if (this.now() >= this.deadline) return new FencedOut({ partition: this.partition, reason: "Expired" })
    return undefined
  }

  /** A renewal sent at `sentAt` (monotonic ns) succeeded. */
  extend(sentAt: bigint): void {
    if (sentAt > this.lastSentAt) this.lastSentAt = sentAt
    const deadline = sentAt + BigInt(this.fenceMs) * NANOS_PER_MS
    if (deadline > this.deadline) this.deadline = deadline
  }

  /** Send time of the last successful claim or renewal (monotonic ns). */
  get lastRenewalSentAt(): bigint {
    return this.lastSentAt
  }

  /** Ms until the fence expires (0 when it does not hold). */
  remainingMs(): number {
    if (this.closed) return 0
    const left = this.deadline - this.now()
    return left <= 0n ? 0 : Number(left / NANOS_PER_MS)
  }

  /** The deadline as wall-clock ms (for the ownership log; approximate by clock skew). */
  deadlineWallMs(): number {
    return this.clock.currentTimeMillisUnsafe() + Number((this.deadline - this.now()) / NANOS_PER_MS)
  }

  /** Shuts the fence for good: nothing may be written for this ownership any more. */
  close(): void {
    if (this.closed) return
    this.closed = true
    Deferred.doneUnsafe(this.closedSignal, Effect.void)
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Ask for a last checkpoint: the next successful partition checkpoint closes the fence. */
  requestDrain(): void {
    this.draining = true
  }

  /** Whether a last checkpoint was asked for and not yet saved (a quiet partition saves one
   * even with nothing new: ../partition/Checkpointer.ts). */
  get drainRequested(): boolean {
    return this.draining && !this.closed
  }

  /** Called after a partition checkpoint was saved under this fence. */
  checkpointSaved(): void {
    if (!this.draining) return
    // Drained before closed: whoever wakes up on the close sees the drain done.
    Deferred.doneUnsafe(this.drained, Effect.void)
    this.close()
  }

  /** Completes as soon as the fence stops holding (expired or closed). */
  readonly expired: Effect.Effect<void> = Effect.raceFirst(
    Effect.suspend(() => {
      const loop: Effect.Effect<void> = Effect.suspend(() =>
        this.holds() ? Effect.andThen(Effect.sleep(Math.max(1, this.remainingMs())), loop) : Effect.void
      )
      return loop
    }),
    Deferred.await(this.closedSignal)
  )
}
