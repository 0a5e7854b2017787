/**
 * The clocks of partition ownership. The lease TTL decides how long a dead node's
 * partitions wait for a new owner (failover ≥ TTL); the fence is how long after the send
 * time of its last successful renewal a node keeps writing; the gap between the two is the
 * margin in which a node that cannot renew stops its partition's actors before anyone else
 * can claim the lease.
 *
 *   claim/renew sent ──renewEvery──▶ renew ──…        (renewals every TTL/4)
 *   │◀──────── fence (0.65 TTL): writes allowed ─────▶│ stop writing
 *   │◀──────────────── lease TTL on the server ────────────────▶│ others may claim
 */
import { Data } from "effect"

export interface LeaseTiming {
  /** Lease expiry on the server (the leases bucket's TTL). */
  readonly ttlMs: number
  /** How often a held lease is renewed. */
  readonly renewEveryMs: number
  /** How long after the send time of the last successful renewal this node may write. */
  readonly fenceMs: number
  /** Delay before retrying a renewal that failed without a verdict (timeout, no server). */
  readonly retryMs: number
  /** How often ownership is reconciled with the membership (claims and handovers). */
  readonly tickMs: number
  /** How long a handover waits for the partition's last checkpoint before letting go anyway. */
  readonly drainTimeoutMs: number
}

/** A timing that cannot keep the fencing promise. */
export class InvalidLeaseTiming extends Data.TaggedError("InvalidLeaseTiming")<{ readonly message: string }> {}

/**
 * TTL 4 s: renew every second, stop writing 2.6 s after the last successful renewal was sent.
 * Failover is the TTL plus a reconcile tick plus the new owner's replay since the last
 * checkpoint, so the TTL is what keeps it under 5 s. Renewing every TTL/4 gives a busy or
 * starved node (a GC pause, a Pi at full load) two more chances before its fence closes; the
 * 1.4 s between fence and expiry is the margin in which a node that could not renew stops
 * writing — its fenced ports refuse every write from then on — before anyone may claim.
 */
export const leaseTiming = (ttlMs = 4_000): LeaseTiming => {
  const timing = {
    ttlMs,
    renewEveryMs: Math.round(ttlMs / 4),
    fenceMs: Math.round(ttlMs * 0.65),
    retryMs: Math.min(250, Math.round(ttlMs / 24)),
    tickMs: Math.min(500, Math.round(ttlMs / 12)),
    drainTimeoutMs: Math.max(2_000, ttlMs)
  }
  // A TTL of a few ms rounds the renewals or the fence to 0: a bug in the caller, not input.
  const invalid = checkLeaseTiming(timing)
  if (invalid !== undefined) throw invalid
  return timing
}

/**
 * Undefined when the timing is safe, else why not. `leaseTiming` and `startOwnership` (for a
 * timing built by hand) call it: a fence at or past the TTL would let a node write after
 * another could claim its lease.
 */
export const checkLeaseTiming = (t: LeaseTiming): InvalidLeaseTiming | undefined => {
  if (!(t.fenceMs > 0 && t.fenceMs < t.ttlMs)) {
    return new InvalidLeaseTiming({ message: `the fence (${t.fenceMs} ms) must be shorter than the lease TTL (${t.ttlMs} ms)` })
  }
  if (!(t.renewEveryMs > 0 && t.renewEveryMs < t.fenceMs)) {
    return new InvalidLeaseTiming({ message: `renewals (every ${t.renewEveryMs} ms) must come more often than the fence (${t.fenceMs} ms)` })
  }
  return undefined
}
