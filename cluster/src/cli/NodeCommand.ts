/**
 * `bramble node --config FILE --node NAME`: what runs on each Pi (and under systemd).
 */
import { loadClusterConfig } from "@bramble/config"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { hostname } from "node:os"
import { processHeapLimitMismatch } from "../node/HeapLimitCheck.js"
import { runNode } from "../node/Node.js"
import { fileOwnershipLog } from "../ownership/OwnershipLog.js"
import { ExitCode } from "./ExitCode.js"

/**
 * Started with `node --expose-gc`, a node runs a full garbage collection on SIGUSR2 — so a
 * memory measurement (test/bench/memory.ts) reads the heap that is really retained, not
 * whatever garbage the last collection left. Without the flag nothing is installed.
 */
const onDemandGc = () => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (typeof gc === "function") process.on("SIGUSR2", () => gc())
}

export const nodeCommand = Command.make(
  "node",
  {
    config: Flag.String("config").pipe(Flag.withAlias("c"), Flag.withDescription("Cluster file (YAML)")),
    node: Flag.String("node").pipe(Flag.withAlias("n"), Flag.withDescription("This node's name in the cluster file (default: the hostname)"), Flag.optional),
    simulate: Flag.Boolean("simulate").pipe(Flag.withDescription("Use simulated sensors instead of the GPIO hardware"), Flag.withDefault(false)),
    natsUrl: Flag.String("nats-url").pipe(Flag.withDescription("Use this NATS server instead of starting the one the file describes"), Flag.optional),
    ownershipLog: Flag.String("ownership-log").pipe(
      Flag.withDescription("Append every partition lease claim, renewal and release to this file (JSON lines; fault tests, audits)"),
      Flag.optional
    )
  },
  ({ config, node, simulate, natsUrl, ownershipLog }) =>
    Effect.gen(function*() {
      const loaded = yield* loadClusterConfig(config).pipe(
        Effect.catchTag("ConfigError", (error) => Console.error(error.message).pipe(Effect.andThen(ExitCode.fail(1))))
      )
      const name = Option.getOrElse(node, () => hostname())
      onDemandGc()
      const self = loaded.config.nodes.find((n) => n.name === name)
      const mismatch = self === undefined ? undefined : processHeapLimitMismatch(self.heapLimit)
      if (mismatch !== undefined) yield* Effect.logWarning(`node ${name}: ${mismatch}`)
      yield* runNode({
        config: loaded.config,
        node: name,
        simulate,
        ...(Option.isSome(natsUrl) ? { natsUrl: natsUrl.value } : {}),
        ...(Option.isSome(ownershipLog) ? { ownershipLog: fileOwnershipLog(ownershipLog.value) } : {})
      })
    })
).pipe(
  Command.withDescription("Run a Bramble node: its nats-server, partitions, actors and sensors, until stopped"),
  Command.withExamples([
    { command: "bramble node --config /etc/bramble/cluster.yaml --node pi1", description: "Run node pi1" },
    { command: "bramble node -c cluster.yaml -n pi1 --simulate", description: "Run it off a Pi with simulated sensors" }
  ])
)
