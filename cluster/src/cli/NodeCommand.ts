/**
 * `bramble node --config FILE --node NAME`: what runs on each Pi (and under systemd).
 */
import { loadClusterConfig } from "@bramble/config"
import { readFileSync } from "node:fs"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { hostname } from "node:os"
import { spawn } from "node:child_process"
import { processHeapLimitMismatch, REEXECUTED_ENV, reexecutionWithHeapLimit } from "../node/HeapLimitCheck.js"
import { runNode } from "../node/Node.js"
import { fileOwnershipLog } from "../ownership/OwnershipLog.js"
import { ExitCode } from "./ExitCode.js"

/**
 * Started with `node --expose-gc`, a node runs a full garbage collection on SIGUSR2 — so a
 * memory measurement (test/bench/memory.ts) reads the heap that is really retained, not
 * whatever garbage the last collection left. Without the flag nothing is installed.
 */
/**
 * A node started by hand (not through the systemd unit, which sets `NODE_OPTIONS`) would run
 * with V8's own heap limit — up to half the board's memory, where the node swaps and dies on
 * a 1 GB Pi. So it starts itself again with the file's `heapLimit` (Node.js cannot change the
 * limit of a running process, nor replace itself on Node 20), passes signals on and exits as
 * the child does (which dies with it: `dieWithParent`). The waiting parent costs memory of its own (docs/performance.md): the
 * systemd unit, `bramble dev up` and the benchmarks set the limit and never get here.
 */
const runWithHeapLimit = (name: string, reexec: NonNullable<ReturnType<typeof reexecutionWithHeapLimit>>) =>
  Effect.gen(function*() {
    yield* Effect.logInfo(`node ${name}: starting again with ${reexec.flag} (the node's heapLimit; set NODE_OPTIONS to choose another)`)
    const code = yield* Effect.callback<number>((resume) => {
      const child = spawn(reexec.command, reexec.args, { stdio: ["inherit", "inherit", "inherit", "ipc"], env: { ...process.env, [REEXECUTED_ENV]: "1" } })
      // A second SIGINT from the terminal (which signals both) only interrupts the child again.
      const signals = ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR2"] as const
      const forward = (signal: NodeJS.Signals) => void child.kill(signal)
      for (const signal of signals) process.on(signal, forward)
      const exited = new Promise<number>((done) => {
        child.on("exit", (exitCode, signal) => {
          for (const s of signals) process.off(s, forward)
          done(exitCode ?? (signal === "SIGINT" ? 130 : 1))
        })
        child.on("error", () => done(1))
      })
      void exited.then((c) => resume(Effect.succeed(c)))
      // Interrupted (this process got SIGINT or SIGTERM, passed on above): the node shuts
      // down in the child; wait for it, so the parent never exits first.
      return Effect.promise(() => exited)
    })
    process.exit(code)
  })

/**
 * In the re-executed node: ends with its parent. Signals are passed on by the parent, but a
 * SIGKILL cannot be (a supervisor, a test killing "the node", the OOM killer). The parent
 * holds an IPC channel to the child, which the kernel closes when the parent dies, however
 * it dies: the child then dies the same way at once, so its files (outboxes, the nats-server
 * it started) are free for the node started next. The channel does not keep the child alive.
 */
const dieWithParent = () => {
  if (process.env[REEXECUTED_ENV] === undefined || process.channel === undefined) return
  process.on("disconnect", () => process.kill(process.pid, "SIGKILL"))
  process.channel.unref()
}

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
      dieWithParent()
      const self = loaded.config.nodes.find((n) => n.name === name)
      const reexec = self === undefined ? undefined : reexecutionWithHeapLimit(self.heapLimit)
      if (reexec !== undefined) return yield* runWithHeapLimit(name, reexec)
      const mismatch = self === undefined ? undefined : processHeapLimitMismatch(self.heapLimit)
      if (mismatch !== undefined) yield* Effect.logWarning(`node ${name}: ${mismatch}`)
      yield* runNode({
        config: loaded.config,
        // Published as the cluster's version 1 when this node is the first (docs/live-config.md).
        configFile: { path: loaded.file, text: readFileSync(loaded.file, "utf8") },
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
