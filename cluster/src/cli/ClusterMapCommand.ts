/**
 * `bramble members` and `bramble partitions`: the live map of the cluster, answered by any
 * node (cluster/src/ownership/ClusterMap.ts) — members with their heartbeat age and the
 * partitions they hold; every partition's owner, lease age and lag. During a failover
 * `--watch` shows the dead node's partitions turn unowned and come back under a new owner.
 */
import { readDevClusterState } from "@bramble/deploy"
import { Effect, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { adminRequest } from "../admin/AdminClient.js"
import { clusterMapSubject, MembersReply, PartitionsReply } from "../ownership/ClusterMap.js"
import { connectionFlags, connectWith, intervalFlag, jsonFlag, serverUrl, showOrWatch, timeoutFlag, watchFlag } from "./AdminConnection.js"
import { DEFAULT_DEV_DIR } from "./DevCommand.js"
import { cyan, dim, duration, green, red, table, yellow } from "./Table.js"

export const devDirFlag = Flag.String("dir").pipe(
  Flag.withDescription(`A dev cluster's directory: ask its servers (default: ${DEFAULT_DEV_DIR} when it holds a running dev cluster)`),
  Flag.optional
)

/** The first server of the running dev cluster in `dir` (default the default dev dir), if any. */
const devClusterServer = (dir: Option.Option<string>): Option.Option<string> => {
  const state = readDevClusterState(Option.getOrElse(dir, () => DEFAULT_DEV_DIR))
  return state !== undefined && state.natsUrls.length > 0 ? Option.some(state.natsUrls[0]!) : Option.none()
}

/** --server, else the dev cluster in --dir (or the default dev dir), else $BRAMBLE_NATS / localhost. */
export const resolveServer = (server: Option.Option<string>, dir: Option.Option<string>): string =>
  serverUrl(Option.orElse(server, () => devClusterServer(dir)))

const NoParams = Schema.Struct({})
const callMap = <A>(what: "members" | "partitions", reply: Schema.Codec<A, unknown>) => ({ name: what, request: NoParams, reply, clusterWide: true })

const ranges = (ps: ReadonlyArray<number>): string => {
  const out: Array<string> = []
  const sorted = [...ps].sort((a, b) => a - b)
  for (let i = 0; i < sorted.length; i++) {
    let j = i
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++
    out.push(j > i ? `${sorted[i]}-${sorted[j]}` : `${sorted[i]}`)
    i = j
  }
  return out.length === 0 ? "-" : out.join(",")
}

const stateColor = (state: string) => (state === "alive" ? green(state) : state === "suspect" ? yellow(state) : red(state))

export const renderMembers = (reply: MembersReply): string => {
  const rows = reply.members.map((m) => [
    m.node,
    stateColor(m.state),
    duration(m.heartbeatAgeMs),
    String(m.partitions.length),
    ranges(m.partitions),
    dim(m.incarnation),
    duration(reply.at - m.startedAt)
  ])
  const note = reply.fresh ? "" : `\n${yellow(`${reply.answeredBy}'s view is not fresh (it cannot see its own heartbeats): partitions do not move on it`)}`
  return `${table(["node", "state", "heartbeat", "owns", "partitions", "incarnation", "up"], rows, ["left", "left", "right", "right", "left", "left", "right"])}\n${dim(`answered by ${reply.answeredBy}`)}${note}`
}

export const renderPartitions = (reply: PartitionsReply): string => {
  const rows = reply.partitions.map((p) => [
    String(p.partition),
    p.owner === null ? red("unowned") : p.target !== null && p.target !== p.owner ? yellow(p.owner) : p.owner,
    p.target === null ? "-" : p.target === p.owner ? dim(p.target) : cyan(p.target),
    p.leaseAgeMs === null ? "-" : duration(p.leaseAgeMs),
    p.renewedAgoMs === null ? "-" : duration(p.renewedAgoMs),
    p.revision === null ? "-" : String(p.revision),
    p.pending === null ? "-" : String(p.pending),
    p.ackPending === null ? "-" : String(p.ackPending)
  ])
  const moving = reply.partitions.filter((p) => p.target !== null && p.owner !== p.target).length
  const lag = reply.partitions.reduce((a, p) => a + (p.pending ?? 0), 0)
  return `${
    table(["partition", "owner", "target", "lease age", "renewed", "revision", "lag", "unacked"], rows, ["right", "left", "left", "right", "right", "right", "right", "right"])
  }\n${dim(`answered by ${reply.answeredBy}; ${moving === 0 ? "every partition is where it should be" : `${moving} moving`}; total lag ${lag}`)}`
}

const mapCommand = <A>(what: "members" | "partitions", reply: Schema.Codec<A, unknown>, render: (a: A) => string, description: string) =>
  Command.make(
    what,
    { ...connectionFlags, dir: devDirFlag, json: jsonFlag, watch: watchFlag, interval: intervalFlag, timeout: timeoutFlag },
    ({ server, config, credentials, user, dir, json, watch, interval, timeout }) =>
      Effect.scoped(Effect.gen(function*() {
        // --server, else a running dev cluster, else the cluster file's first node or $BRAMBLE_NATS.
        const { nc, url } = yield* connectWith({ server: Option.orElse(server, () => devClusterServer(dir)), config, credentials, user }, { persistent: watch })
        const fetch = adminRequest(nc, clusterMapSubject(what), callMap(what, reply), {}, timeout * 1000)
        yield* showOrWatch({ watch, interval, json, title: `bramble ${what}`, server: url, fetch, render })
      }))
  ).pipe(
    Command.withDescription(description),
    Command.withExamples([
      { command: `bramble ${what}`, description: "Ask the dev cluster in ./.bramble-dev, or the node at $BRAMBLE_NATS" },
      { command: `bramble ${what} --watch --server nats://pi1:4222`, description: "Refresh every 2 seconds" },
      { command: `bramble ${what} --json`, description: "For scripts" }
    ])
  )

export const membersCommand = mapCommand(
  "members",
  MembersReply,
  renderMembers,
  "Members of the cluster: state, heartbeat age, the partitions each holds, incarnation"
)

export const partitionsCommand = mapCommand(
  "partitions",
  PartitionsReply,
  renderPartitions,
  "Every partition: its owner (lease holder), where it should be, lease age, last renewal, lag"
)
