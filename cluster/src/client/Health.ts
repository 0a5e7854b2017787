/**
 * How a node is doing, read from its admin `status` reply: the one reading of health that
 * `bramble status` and the dashboard's cluster view share.
 */
import type { Admin } from "@bramble/protocol"

/** How a member is doing. `forming`: up, waiting for its cluster to form (cluster/src/node/Formation.ts).
 * `failing`: a partition it owns keeps failing (its worker restarts from its checkpoint and
 * does not get past the same point). */
export type Health = "ok" | "degraded" | "forming" | "failing" | "down"

/** Lag beyond which a node counts as degraded (it is falling behind its partitions). */
export const LAG_DEGRADED = 10_000

/** The health of a node from its status. */
export const healthOf = (status: Admin.NodeStatus): { readonly health: Health; readonly problem?: string } => {
  const failing = status.partitions.filter((p) => p.failing !== undefined)
  if (failing.length > 0) return { health: "failing", problem: failing.map(failingText).join("; ") }
  if (status.storage.unavailableSince !== undefined) {
    return { health: "degraded", problem: `database unreachable: ${status.storage.lastError ?? "unknown error"}` }
  }
  if (status.lag !== undefined && status.lag.pending > LAG_DEGRADED) {
    return { health: "degraded", problem: `${status.lag.pending} readings behind` }
  }
  if (status.config?.error !== undefined) {
    return { health: "degraded", problem: `runs version ${status.config.version ?? "of its own file"} of the cluster file: ${status.config.error}` }
  }
  if (status.clock?.synchronized === false) {
    return { health: "degraded", problem: `the node's clock is not synchronized (${status.clock.detail}): stored times, and so ClockAhead refusals, are off` }
  }
  return { health: "ok" }
}

/** "partition 2 failing since …: <reason> at stream sequence N (5 failures; restarts after 1200)". */
export const failingText = (p: Admin.PartitionStatus): string => {
  const f = p.failing!
  const where = f.seq === undefined ? `after stream sequence ${f.checkpointedSeq}` : `at stream sequence ${f.seq}`
  return `partition ${p.partition} failing ${where} since ${new Date(f.since).toISOString()} ` +
    `(${f.failures} failure${f.failures === 1 ? "" : "s"}, restarting from its checkpoint at ${f.checkpointedSeq}): ${f.reason}`
}
