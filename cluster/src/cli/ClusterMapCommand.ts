/**
 * `bramble members` and `bramble partitions`: the live map of the cluster, answered by any
 * node through the admin protocol's `members` and `partitions` calls (packages/protocol
 * `Admin`, served by cluster/src/admin/AdminService.ts) — members with their heartbeat age
 * and the partitions they hold; every partition's owner, lease age and lag. During a
 * failover `--watch` shows the dead node's partitions turn unowned and come back under a new
 * owner.
 */
import { readDevClusterState } from "@bramble/deploy"
import { Admin } from "@bramble/protocol"
import { Option } from "effect"
import { Command, Flag } from "effect/cli"
import { callCluster } from "../client/index.js"
import { connectionFlags, showQuery, viewFlags } from "./AdminConnection.js"
import { DEFAULT_DEV_DIR } from "./DevCommand.js"
import { cyan, dim, duration, green, ranges, red, table, yellow } from "./Table.js"

export const devDirFlag = Flag.String("dir").pipe(
  Flag.withDescription(`A dev cluster's directory: ask its servers (default: ${DEFAULT_DEV_DIR} when it holds a running dev cluster)`),
  Flag.optional
)

/** The first server of the running dev cluster in `dir` (default the default dev dir), if any. */
const devClusterServer = (dir: Option.Option<string>): Option.Option<string> => {
  const state = readDevClusterState(Option.getOrElse(dir, () => DEFAULT_DEV_DIR))
  return state !== undefined && state.natsUrls.length > 0 ? Option.some(state.natsUrls[0]!) : Option.none()
}

const stateColor = (state: string) => (state === "alive" ? green(state) : state === "suspect" ? yellow(state) : red(state))

/** "-" for what the answering node did not say (a node without leases, an older node). */
const orDash = <A>(value: A | null | undefined, show: (a: A) => string): string => (value === undefined || value === null ? "-" : show(value))

export const renderMembers = (reply: Admin.MembersReply): string => {
  const at = reply.at ?? Date.now()
  const rows = reply.members.map((m) => [
    m.node,
    stateColor(m.state),
    orDash(m.heartbeatAgeMs, duration),
    String(m.partitions.length),
    ranges(m.partitions),
    dim(m.incarnation ?? "-"),
    orDash(m.startedAt, (startedAt) => duration(at - startedAt))
  ])
  const by = reply.answeredBy ?? "?"
  const note = reply.fresh === false ? `\n${yellow(`${by}'s view is not fresh (it cannot see its own heartbeats): partitions do not move on it`)}` : ""
  return `${table(["node", "state", "heartbeat", "owns", "partitions", "incarnation", "up"], rows, ["left", "left", "right", "right", "left", "left", "right"])}\n${dim(`answered by ${by}`)}${note}`
}

export const renderPartitions = (reply: Admin.PartitionsReply): string => {
  const rows = reply.owners.map((p) => [
    String(p.partition),
    p.owner === null ? red("unowned") : p.target !== undefined && p.target !== null && p.target !== p.owner ? yellow(p.owner) : p.owner,
    p.target === undefined || p.target === null ? "-" : p.target === p.owner ? dim(p.target) : cyan(p.target),
    orDash(p.leaseAgeMs, duration),
    orDash(p.renewedAgoMs, duration),
    orDash(p.revision, String),
    orDash(p.pending, String),
    orDash(p.ackPending, String)
  ])
  const moving = reply.owners.filter((p) => p.target !== undefined && p.target !== null && p.owner !== p.target).length
  const lag = reply.owners.reduce((a, p) => a + (p.pending ?? 0), 0)
  return `${
    table(["partition", "owner", "target", "lease age", "renewed", "revision", "lag", "unacked"], rows, ["right", "left", "left", "right", "right", "right", "right", "right"])
  }\n${dim(`answered by ${reply.answeredBy ?? "?"}; ${moving === 0 ? "every partition is where it should be" : `${moving} moving`}; total lag ${lag}`)}`
}

const mapCommand = <A>(call: Admin.AdminCall<Admin.NoParams, A>, render: (a: A) => string, description: string) =>
  Command.make(
    call.name,
    { ...connectionFlags, dir: devDirFlag, ...viewFlags },
    ({ dir, ...flags }) =>
      showQuery(
        // --server, else a running dev cluster, else the cluster file's first node or $BRAMBLE_NATS.
        { ...flags, server: Option.orElse(flags.server, () => devClusterServer(dir)) },
        `bramble ${call.name}`,
        (nc, timeoutMs) => callCluster(nc, call, {}, timeoutMs),
        render
      )
  ).pipe(
    Command.withDescription(description),
    Command.withExamples([
      { command: `bramble ${call.name}`, description: "Ask the dev cluster in ./.bramble-dev, or the node at $BRAMBLE_NATS" },
      { command: `bramble ${call.name} --watch --server nats://pi1:4222`, description: "Refresh every 2 seconds" },
      { command: `bramble ${call.name} --json`, description: "For scripts" }
    ])
  )

export const membersCommand = mapCommand(
  Admin.AdminCalls.members,
  renderMembers,
  "Members of the cluster: state, heartbeat age, the partitions each holds, incarnation"
)

export const partitionsCommand = mapCommand(
  Admin.AdminCalls.partitions,
  renderPartitions,
  "Every partition: its owner (lease holder), where it should be, lease age, last renewal, lag"
)
