/**
 * `bramble actors` and `bramble restart ACTOR`: what runs on each node (partition workers,
 * sensors, the storage actor, device aggregators under their supervisors) with state,
 * mailbox depth and restarts; and restarting one of them.
 */
import { Admin } from "@bramble/protocol"
import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { callNode } from "../client/index.js"
import {
  connectionFlags,
  connectWith,
  discoverNodes,
  fail,
  jsonFlag,
  orExplain,
  showQuery,
  timeoutFlag,
  usage,
  viewFlags
} from "./AdminConnection.js"
import { bold, dim, green, red, table, yellow } from "./Table.js"

const nodeFlag = Flag.String("node").pipe(Flag.withDescription("The node to ask (default: every node / the only node)"), Flag.optional)

const paintState = (state: Admin.ActorInfo["state"]) =>
  state === "running" ? green(state) : state === "failed" ? red(state) : state === "stopped" ? dim(state) : yellow(state)

/** The actors table of one node. */
export const renderActors = (reply: Admin.ActorsReply, all = false): string => {
  const aggregators = reply.actors.filter((a) => a.kind === "aggregator")
  const shown = all ? reply.actors : reply.actors.filter((a) => a.kind !== "aggregator")
  const rows = shown.map((a) => [
    a.name,
    a.kind,
    paintState(a.state),
    a.mailboxCapacity === 0 ? "-" : `${a.mailboxSize}/${a.mailboxCapacity}`,
    String(a.processed),
    String(a.restarts),
    a.lastFailure ?? ""
  ])
  const summary = all || aggregators.length === 0
    ? ""
    : `\n${dim(`+ ${aggregators.length} device aggregator(s), ${aggregators.reduce((n, a) => n + a.mailboxSize, 0)} queued, ` +
      `${aggregators.reduce((n, a) => n + a.restarts, 0)} restarts (--all lists them)`)}`
  return `${bold(reply.node)}\n${table(["name", "kind", "state", "mailbox", "processed", "restarts", "last failure"], rows, ["left", "left", "left", "right", "right", "right", "left"])}${summary}`
}

export const actorsCommand = Command.make(
  "actors",
  {
    node: nodeFlag,
    all: Flag.Boolean("all").pipe(Flag.withAlias("a"), Flag.withDescription("List every device aggregator too"), Flag.withDefault(false)),
    ...connectionFlags,
    ...viewFlags
  },
  ({ node, all, ...flags }) =>
    showQuery(
      flags,
      "bramble actors",
      (nc, timeoutMs, url) =>
        Effect.gen(function*() {
          const nodes = Option.isSome(node) ? [node.value] : yield* discoverNodes(nc, Math.min(timeoutMs, 2_000))
          if (nodes.length === 0) return yield* fail(1, `no bramble node answers on ${url}; start one or point --server at a node's NATS port`)
          return { nodes: yield* Effect.forEach(nodes, (n) => callNode(nc, n, Admin.AdminCalls.actors, {}, timeoutMs), { concurrency: "unbounded" }) }
        }),
      (v: { readonly nodes: ReadonlyArray<Admin.ActorsReply> }) => v.nodes.map((r) => renderActors(r, all)).join("\n\n")
    )
).pipe(
  Command.withDescription("Actors on each node: kind, state, mailbox depth, restarts"),
  Command.withExamples([
    { command: "bramble actors", description: "Workers and actors of every node" },
    { command: "bramble actors --node pi2 --all", description: "Including every device aggregator on pi2" }
  ])
)

export const restartCommand = Command.make(
  "restart",
  {
    actor: Argument.String("actor").pipe(Argument.withDescription("The actor's name as `bramble actors` lists it (partition-3, sensor-barn-env, a device id)")),
    node: nodeFlag,
    ...connectionFlags,
    json: jsonFlag,
    timeout: timeoutFlag
  },
  ({ actor, node, server, config, credentials, user, json, timeout }) =>
    Effect.scoped(Effect.gen(function*() {
      if (actor.trim() === "") return yield* usage("name the actor to restart")
      const { nc, url } = yield* connectWith({ server, config, credentials, user })
      let target: string
      if (Option.isSome(node)) {
        target = node.value
      } else {
        const nodes = yield* discoverNodes(nc, Math.min(timeout * 1000, 2_000))
        if (nodes.length === 0) return yield* fail(1, `no bramble node answers on ${url}; start one or point --server at a node's NATS port`)
        if (nodes.length > 1) return yield* usage(`several nodes answer (${nodes.join(", ")}): say which with --node`)
        target = nodes[0]!
      }
      const reply = yield* orExplain(url)(callNode(nc, target, Admin.AdminCalls.restart, { actor }, timeout * 1000))
      yield* Console.log(json ? JSON.stringify(reply, null, 2) : `${reply.node}: ${reply.message}`)
    }))
).pipe(
  Command.withDescription("Restart an actor (a partition worker restores its checkpoint and replays the log after it)"),
  Command.withExamples([{ command: "bramble restart partition-3 --node pi1", description: "Restart partition 3 on pi1" }])
)
