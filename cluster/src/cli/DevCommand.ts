/**
 * `bramble dev up --nodes N` / `bramble dev down`: a local multi-node bramble on loopback —
 * N nats-servers in one JetStream cluster, N nodes with simulated sensors, one
 * VictoriaMetrics (deploy/src/local/DevCluster.ts) — for trying clustering on one machine.
 *
 * `up` starts the cluster in a background process and returns once every node is ready,
 * printing where everything is; the cluster keeps running after the command exits.
 * `--foreground` runs it in this process instead, until Ctrl-C. Either way the directory
 * holds the cluster file, logs, data and `dev-cluster.json` (pids and URLs), which `down`,
 * `bramble members` and `bramble partitions` read. `down` stops it in order: every node
 * hands its partitions over, then the servers and the database stop.
 */
import { isProcessAlive, readDevClusterState, startDevCluster, stopDevCluster } from "@bramble/deploy"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { spawn } from "node:child_process"
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { ExitCode } from "./ExitCode.js"

/** Where `dev up` keeps the cluster unless told otherwise. */
export const DEFAULT_DEV_DIR = ".bramble-dev"

const dirFlag = Flag.String("dir").pipe(Flag.withDescription(`The cluster's directory (default ${DEFAULT_DEV_DIR})`), Flag.withDefault(DEFAULT_DEV_DIR))

/** The argv that runs this very CLI again (for the background process and the nodes). */
const selfCommand = (): Array<string> => [process.execPath, ...process.execArgv, process.argv[1]!]

const tail = (file: string, lines: number) => {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n")
  } catch {
    return "(no log)"
  }
}

const summary = (dir: string) => {
  const state = readDevClusterState(dir)
  if (state === undefined) return ""
  const nodes = state.nodes.map((n) => `    ${n.name.padEnd(4)} ${n.natsUrl}${n.httpUrl === undefined ? "" : `  dashboard ${n.httpUrl}`}  log ${n.log}`)
  return [
    "",
    `  Cluster file ${state.configFile}`,
    `  NATS         ${state.natsUrls.join(" ")}`,
    `  MQTT         ${state.mqttUrls.join(" ")}`,
    `  Database     ${state.dbUrl}  (browse: ${state.dbUrl}/vmui)`,
    "  Nodes",
    ...nodes,
    "",
    `  bramble members --dir ${dir}`,
    `  bramble partitions --dir ${dir} --watch`,
    `  bramble dev down --dir ${dir}`,
    ""
  ].join("\n")
}

const up = Command.make(
  "up",
  {
    nodes: Flag.Int("nodes").pipe(Flag.withAlias("n"), Flag.withDescription("How many nodes (each with its own nats-server)"), Flag.withDefault(3)),
    dir: dirFlag,
    partitions: Flag.Int("partitions").pipe(Flag.withDescription("Partitions of READINGS (fixed for the cluster's life)"), Flag.withDefault(8)),
    sensors: Flag.Int("sensors").pipe(Flag.withDescription("Simulated DHT22 sensors per node"), Flag.withDefault(2)),
    heapLimit: Flag.String("heap-limit").pipe(
      Flag.withDescription("Every node's V8 heap limit, as heapLimit in a cluster file (e.g. 384MiB; default 768MiB)"),
      Flag.optional
    ),
    foreground: Flag.Boolean("foreground").pipe(Flag.withDescription("Run the cluster in this process until Ctrl-C instead of in the background"), Flag.withDefault(false))
  },
  ({ nodes, dir, partitions, sensors, heapLimit, foreground }) =>
    Effect.gen(function*() {
      const home = resolve(dir)
      if (nodes < 1 || nodes > 9) {
        yield* Console.error("--nodes must be between 1 and 9")
        return yield* ExitCode.fail(2)
      }
      const running = readDevClusterState(home)
      if (running !== undefined && isProcessAlive(running.pid)) {
        yield* Console.error(`a dev cluster already runs from ${home} (pid ${running.pid}); \`bramble dev down --dir ${dir}\` stops it`)
        return yield* ExitCode.fail(1)
      }
      mkdirSync(home, { recursive: true })
      if (foreground) {
        return yield* Effect.scoped(Effect.gen(function*() {
          yield* Console.log(`Starting a ${nodes}-node bramble in ${home} ...`)
          yield* startDevCluster({
            dir: home,
            nodes,
            partitions,
            sensorsPerNode: sensors,
            bramble: selfCommand(),
            ...Option.match(heapLimit, { onNone: () => ({}), onSome: (limit) => ({ heapLimit: limit }) })
          })
          yield* Console.log(`${summary(home)}Ctrl-C (or \`bramble dev down --dir ${dir}\`) stops everything.`)
          return yield* Effect.never
        }))
      }
      // Background: the same command with --foreground, detached, its output in dev.log.
      const logFile = join(home, "dev.log")
      const out = openSync(logFile, "a")
      const child = spawn(
        selfCommand()[0]!,
        [...selfCommand().slice(1), "dev", "up", "--foreground", "--nodes", String(nodes), "--dir", home, "--partitions", String(partitions), "--sensors", String(sensors), ...Option.match(heapLimit, { onNone: () => [], onSome: (limit) => ["--heap-limit", limit] })],
        { detached: true, stdio: ["ignore", out, out], cwd: process.cwd() }
      )
      closeSync(out)
      child.unref()
      const pid = child.pid
      yield* Console.log(`Starting a ${nodes}-node bramble in ${home} (pid ${pid}, log ${logFile}) ...`)
      const deadline = Date.now() + 180_000
      while (true) {
        const state = readDevClusterState(home)
        if (state !== undefined && state.pid === pid) break
        if (pid === undefined || !isProcessAlive(pid)) {
          yield* Console.error(`the dev cluster did not start; the end of ${logFile}:\n${tail(logFile, 30)}`)
          return yield* ExitCode.fail(1)
        }
        if (Date.now() > deadline) {
          yield* Console.error(`the dev cluster was not ready after 3 minutes; see ${logFile}; stopping it`)
          yield* Effect.sync(() => process.kill(pid, "SIGTERM"))
          return yield* ExitCode.fail(1)
        }
        yield* Effect.sleep("250 millis")
      }
      yield* Console.log(`${summary(dir)}It keeps running in the background.`)
    })
).pipe(
  Command.withDescription("Start a local multi-node bramble: N nats-servers in one JetStream cluster, N nodes, simulated sensors, one database"),
  Command.withExamples([
    { command: "bramble dev up", description: "3 nodes in ./.bramble-dev, in the background" },
    { command: "bramble dev up --nodes 5 --dir /tmp/bramble", description: "5 nodes elsewhere" },
    { command: "bramble dev up --foreground", description: "Run it in this terminal until Ctrl-C" }
  ])
)

const down = Command.make(
  "down",
  { dir: dirFlag },
  ({ dir }) =>
    Effect.gen(function*() {
      const lines = yield* stopDevCluster(resolve(dir))
      for (const line of lines) yield* Console.log(line)
    })
).pipe(
  Command.withDescription("Stop the local bramble `dev up` started (nodes hand their partitions over first)"),
  Command.withExamples([{ command: "bramble dev down", description: "Stop the cluster in ./.bramble-dev" }])
)

export const devCommand = Command.make("dev").pipe(
  Command.withDescription("A local multi-node bramble for trying clustering on one machine"),
  Command.withSubcommands([up, down])
)
