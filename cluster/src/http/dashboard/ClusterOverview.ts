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
import type { ClusterView } from "../../admin/ClusterView.js"
import { callNode } from "../../client/AdminClient.js"
import { type Health, healthOf } from "../../client/Health.js"

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

/** Build the overview. */
export const clusterOverview = Effect.fn("ClusterOverview.clusterOverview")(function*(options: {
  readonly cluster: string
  readonly nc: NatsConnection
  readonly view: ClusterView
  readonly selfStatus: Effect.Effect<Admin.NodeStatus>
}): Effect.fn.Return<ClusterOverview> {
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
