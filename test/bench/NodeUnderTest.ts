/**
 * A Bramble node as a real child process (`bramble node`), with the servers it needs, for
 * benchmarks: the node's own nats-server and one victoria-metrics, on free loopback ports.
 * The node gets the V8 heap limit of its cluster file (`heapLimit`, default 768 MiB) through
 * `NODE_OPTIONS`, as a deployed node does from its systemd unit, so benchmarks measure what
 * runs on the Pis.
 */
import { parseClusterConfig } from "@bramble/config"
import { freePorts, makeManagedProcess, type ManagedProcess, nodeOptionsWithHeapLimit, startNatsServer, startVictoriaMetrics } from "@bramble/deploy"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, Result, type Scope } from "effect"
import { existsSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"

export const BRAMBLE_BIN = resolve(import.meta.dirname, "../../cluster/dist/bin/bramble.js")

export interface NodeUnderTest {
  readonly natsUrl: string
  /** nats-server's HTTP monitoring (`/connz`, `/jsz`). */
  readonly monitorUrl: string
  readonly mqttUrl: string
  readonly dbUrl: string
  readonly nc: NatsConnection
  readonly process: ManagedProcess
  readonly status: () => Promise<NodeStatus>
  /** The heap limit the node was started with (bytes), unless a command-line flag overrides it. */
  readonly heapLimit: number
  /** The pids of the node's nats-server and database (for their CPU and disk writes). */
  readonly serverPids: Effect.Effect<{ readonly nats: number | undefined; readonly db: number | undefined }>
}

export interface NodeStatus {
  readonly totals: { received: number; accepted: number; rejected: number; windowsEmitted: number; pointsWritten: number }
  readonly storage: { readingsWritten: number; pointsWritten: number; lastWriteMs: number }
  readonly partitions: ReadonlyArray<{ readonly accepted: number; readonly batches?: number; readonly deviceMessages?: number }>
}

export const startNodeUnderTest = (options: {
  readonly dir: string
  readonly partitions?: number
  readonly windows?: ReadonlyArray<{ name: string; size: string }>
  readonly extra?: string
  /** Serve the node's HTTP endpoint (metrics) on this port (default: off). */
  readonly httpPort?: number
  /** Write a V8 CPU profile of the node to this directory. */
  readonly cpuProfileDir?: string
  /** Extra V8/Node flags for the node process (on its command line, so they win over the
   * heap limit in `NODE_OPTIONS`). */
  readonly nodeFlags?: ReadonlyArray<string>
  /** The node's `heapLimit`, as the cluster file writes it (default: the file's default). */
  readonly heapLimit?: string
}): Effect.Effect<NodeUnderTest, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    if (!existsSync(BRAMBLE_BIN)) return yield* Effect.die(new Error(`${BRAMBLE_BIN} is missing: run \`npm run build\` first`))
    const db = yield* startVictoriaMetrics({ dir: join(options.dir, "vm") })
    const partitions = options.partitions ?? 4
    // The server runs separately from the node (--nats-url), so the node can be stopped and
    // restarted while the log keeps accepting readings (the backlog-drain measurement).
    const server = yield* startNatsServer({ dir: join(options.dir, "nats"), partitions })
    const [clusterPort] = yield* freePorts(1)
    const file = join(options.dir, "cluster.yaml")
    const windows = options.windows ?? [{ name: "10s", size: "10s" }, { name: "1m", size: "1m" }]
    const heapLimit = options.heapLimit === undefined ? "" : `, heapLimit: ${options.heapLimit}`
    const text = [
      `cluster: { name: bench, partitions: ${partitions}, dataDir: ${JSON.stringify(join(options.dir, "nodes"))} }`,
      `nodes: [{ name: n1, httpPort: ${options.httpPort ?? 0}, nats: { url: ${server.url}, clusterPort: ${clusterPort} }${heapLimit} }]`,
      `windows: [${windows.map((w) => `{ name: ${w.name}, size: ${w.size} }`).join(", ")}]`,
      `sink: { kind: influx-v2, url: ${db.url} }`,
      options.extra ?? ""
    ].join("\n")
    writeFileSync(file, text)
    const config = parseClusterConfig(text, file)
    if (Result.isFailure(config)) return yield* Effect.die(config.failure)
    const heapLimitBytes = config.success.nodes[0]!.heapLimit
    const natsUrl = server.url
    let nc: NatsConnection | undefined
    const status = async (): Promise<NodeStatus> => {
      nc ??= await connect({ servers: natsUrl, maxReconnectAttempts: -1 })
      const reply = await nc.request("bramble.admin.n1.status", undefined, { timeout: 2000 })
      return JSON.parse(new TextDecoder().decode(reply.data)) as NodeStatus
    }
    const process = yield* makeManagedProcess({
      name: "bramble-node",
      command: globalThis.process.execPath,
      args: [
        ...(options.cpuProfileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`]),
        ...(options.nodeFlags ?? []),
        // V8 flags to compare (e.g. BENCH_NODE_FLAGS="--max-semi-space-size=16").
        ...(globalThis.process.env["BENCH_NODE_FLAGS"]?.split(" ").filter((f) => f !== "") ?? []),
        BRAMBLE_BIN, "node", "--config", file, "--node", "n1"
      ],
      env: { NODE_OPTIONS: nodeOptionsWithHeapLimit(heapLimitBytes, globalThis.process.env["NODE_OPTIONS"]) },
      logFile: join(options.dir, "node.log"),
      readiness: { probe: Effect.tryPromise(() => status()), timeout: "60 seconds" }
    })
    yield* Effect.addFinalizer(() => Effect.promise(async () => nc?.close()))
    nc ??= yield* Effect.promise(() => connect({ servers: natsUrl }))
    const serverPids = Effect.all({ nats: server.process.pid, db: db.process.pid })
    return { natsUrl, monitorUrl: server.monitorUrl, mqttUrl: server.mqttUrl, dbUrl: db.url, nc, process, status, heapLimit: heapLimitBytes, serverPids }
  })
