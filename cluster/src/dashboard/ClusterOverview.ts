/**
 * The cluster at a glance, for the dashboard: every member with its health and rates, and
 * who owns each partition. This node's status is read directly; other members are asked over
 * the admin protocol, in parallel, each with a short timeout so one dead Pi cannot freeze the
 * page (it shows as down instead).
 */
import type { Admin } from "@bramble/protocol"
import { Admin as AdminProtocol } from "@bramble/protocol"
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { callNode } from "../admin/AdminClient.js"
import type { ClusterView } from "../admin/ClusterView.js"

/** How a member is doing. `forming`: up, waiting for its cluster to form (cluster/src/node/Formation.ts).
 * `failing`: a partition it owns keeps failing (its worker restarts from its checkpoint and
 * does not get past the same point). */
export type Health = "ok" | "degraded" | "forming" | "failing" | "down"

/** One member as the dashboard shows it. */
export interface MemberOverview {
  readonly node: string
  readonly state: Admin.MemberInfo["state"]
  readonly health: Health
  /** Why it is not "ok". */
  readonly problem?: string
  readonly http?: string
  readonly partitions: ReadonlyArray<number>
  readonly status?: Admin.NodeStatus
}

export interface ClusterOverview {
  readonly cluster: string
  /** The node that answered. */
  readonly self: string
  readonly partitions: number
  readonly members: ReadonlyArray<MemberOverview>
  readonly owners: ReadonlyArray<Admin.PartitionOwner>
  readonly at: number
}

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

/** Build the overview. */
export const clusterOverview = (options: {
  readonly cluster: string
  readonly nc: NatsConnection
  readonly view: ClusterView
  readonly selfStatus: Effect.Effect<Admin.NodeStatus>
}): Effect.Effect<ClusterOverview> =>
  Effect.gen(function*() {
    const { view } = options
    const [members, owners] = yield* Effect.all([view.members, view.owners])
    const overviews = yield* Effect.forEach(
      members,
      (m) =>
        Effect.gen(function*() {
          const base = {
            node: m.node,
            state: m.state,
            partitions: m.partitions,
            ...(m.http === undefined ? {} : { http: m.http })
          }
          if (m.state === "down") return { ...base, health: "down" as const, problem: "not a live member" }
          const status = m.node === view.self
            ? yield* options.selfStatus
            : yield* callNode(options.nc, m.node, AdminProtocol.AdminCalls.status, {}, 2_000).pipe(
              Effect.catch(() => Effect.succeed(undefined))
            )
          if (status === undefined) return { ...base, health: "down" as const, problem: "does not answer admin requests" }
          return { ...base, ...healthOf(status), status }
        }),
      { concurrency: "unbounded" }
    )
    return {
      cluster: options.cluster,
      self: view.self,
      partitions: view.partitions,
      members: overviews,
      owners,
      at: Date.now()
    }
  })
