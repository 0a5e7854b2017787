/**
 * A local multi-node bramble on loopback: N nats-servers in one JetStream cluster (routes
 * rendered from the cluster file), N `bramble node` processes each connected to its own
 * server, simulated sensors, and one VictoriaMetrics. What `bramble dev up` runs, and what
 * the cluster fault tests and benchmarks run.
 *
 * The servers are started here rather than by the nodes (each node gets `--nats-url`), so a
 * test can kill a node's server without killing the node, and the other way round. Nodes
 * can be declared as spares: they are in the cluster file (without a server of their own,
 * using the first node's) and start only when asked — a node joining a running cluster.
 *
 * Everything is scoped: closing the scope stops the nodes (SIGTERM: each hands its
 * partitions over), then the servers and the database. A state file in the directory
 * records the pids and URLs, for `bramble dev down`, `bramble members` and operators.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { type ClusterConfig, decodeClusterConfig } from "@bramble/config"
import { Admin } from "@bramble/protocol"
import { Duration, Effect, Result, Schedule, Scope } from "effect"
import { natsSpecForNode, nodeDataDir } from "../nats/NodeNatsSpec.js"
import { type ManagedProcess, makeManagedProcess } from "../process/ManagedProcess.js"
import { nodeOptionsWithHeapLimit } from "../render/HeapLimit.js"
import type { ProcessError } from "../process/ProcessError.js"
import { isProcessAlive } from "../process/internal/platform.js"
import { freePorts } from "./freePort.js"
import { expectStatus, httpRequest, parseJson } from "../process/internal/probe.js"
import { type RunningNatsServer, startNatsServer } from "../nats/NatsServerProcess.js"
import { type LocalVictoriaMetrics, startVictoriaMetrics } from "./LocalVictoriaMetrics.js"

/** Name of the state file in the cluster's directory. */
export const DEV_CLUSTER_STATE = "dev-cluster.json"

export interface DevClusterOptions {
  /** Home of the cluster: cluster file, state file, data and logs (created). */
  readonly dir: string
  /** Nodes started with the cluster (`n1` … `nN`), each with its own nats-server. */
  readonly nodes: number
  /** More nodes in the cluster file, started only by `startNode` (they use n1's server). */
  readonly spareNodes?: number
  /** Default 8. */
  readonly partitions?: number
  /** The argv that runs the bramble CLI, e.g. `[process.execPath, "/…/bramble.js"]`. */
  readonly bramble: ReadonlyArray<string>
  /** Simulated DHT22 sensors per node. Default 2. */
  readonly sensorsPerNode?: number
  /** Window specs, as the cluster file writes them. Default 10 s and 1 min. */
  readonly windows?: ReadonlyArray<{ readonly name: string; readonly size: string }>
  /** Every node's `heapLimit`, as the cluster file writes it (e.g. "384MiB"). Default: the
   * cluster file's default. Each node process gets it as `NODE_OPTIONS`, as on a Pi. */
  readonly heapLimit?: string
  /** `processing:` of the cluster file. */
  readonly processing?: Readonly<Record<string, string | number>>
  /** Extra arguments for `bramble node` (e.g. `--ownership-log`). */
  readonly nodeArgs?: (node: string) => ReadonlyArray<string>
  /** When a started node counts as up. Default: its admin endpoint is subscribed on its server. */
  readonly nodeReady?: (node: DevNodeInfo) => Effect.Effect<unknown, unknown>
  /** Give every node a dashboard port. Default true. */
  readonly dashboards?: boolean
  /** How long a node may take to be ready. Default 120 s. */
  readonly nodeReadyTimeout?: Duration.Input
}

/** A node as the cluster file describes it. */
export interface DevNodeInfo {
  readonly name: string
  /** The server it connects to. */
  readonly natsUrl: string
  /** The monitoring URL of that server. */
  readonly monitorUrl: string
  readonly logFile: string
  readonly spare: boolean
  /** Its dashboard, when it has one. */
  readonly httpUrl: string | undefined
}

/** A node process of the cluster. */
export interface DevNode extends DevNodeInfo {
  readonly process: ManagedProcess
}

/** A nats-server of the cluster, named after its node. */
export interface DevServer extends RunningNatsServer {
  readonly name: string
}

export interface DevCluster {
  readonly dir: string
  readonly configFile: string
  readonly stateFile: string
  readonly config: ClusterConfig
  readonly partitions: number
  readonly db: LocalVictoriaMetrics
  readonly servers: ReadonlyArray<DevServer>
  readonly natsUrls: ReadonlyArray<string>
  readonly mqttUrls: ReadonlyArray<string>
  /** Every node of the cluster file (started or not). */
  readonly nodeInfos: ReadonlyArray<DevNodeInfo>
  /** The process of a node that has been started. */
  readonly node: (name: string) => DevNode | undefined
  /** Starts a node (a spare, or one that was stopped or killed) and waits until it is ready. */
  readonly startNode: (name: string) => Effect.Effect<DevNode, ProcessError>
  /** Rewrites the state file (pids change when processes restart). */
  readonly writeState: Effect.Effect<void>
}

/** What the state file holds. */
export interface DevClusterState {
  /** The process that runs the cluster (`bramble dev up`); stopping it stops everything. */
  readonly pid: number
  readonly startedAt: number
  readonly configFile: string
  readonly natsUrls: ReadonlyArray<string>
  readonly mqttUrls: ReadonlyArray<string>
  readonly dbUrl: string
  readonly processes: ReadonlyArray<{ readonly name: string; readonly pid: number | undefined; readonly log?: string }>
  readonly nodes: ReadonlyArray<{ readonly name: string; readonly natsUrl: string; readonly httpUrl?: string; readonly log: string }>
}

const nodeName = (i: number) => `n${i + 1}`

/** Waits until the server sees a JetStream meta leader and is current (full `/healthz`). */
const clusterFormed = (monitorUrl: string) =>
  httpRequest(`${monitorUrl}/healthz`).pipe(
    Effect.flatMap((response) => expectStatus(`${monitorUrl}/healthz`, response, 200)),
    Effect.retry(Schedule.spaced("200 millis")),
    Effect.orDie,
    Effect.timeoutOrElse({
      duration: "90 seconds",
      orElse: () => Effect.die(new Error(`the nats-server at ${monitorUrl} never joined a healthy JetStream cluster`))
    })
  )

/** Default readiness: the node's admin endpoint is subscribed on its server (the last thing a node sets up). */
const adminSubscribed = (info: DevNodeInfo) =>
  Effect.gen(function*() {
    const url = `${info.monitorUrl}/connz?subs=1&limit=1024`
    const connz = (yield* parseJson(url, (yield* httpRequest(url)).body)) as {
      readonly connections?: ReadonlyArray<{ readonly name?: string; readonly subscriptions_list?: ReadonlyArray<string> }>
    }
    const subject = Admin.adminNodeSubject(info.name, Admin.AdminCalls.status.name)
    // The admin service runs on one of the node's connections (`bramble-node-<name>-readers`).
    const ofNode = (name: string | undefined) => name === `bramble-node-${info.name}` || name?.startsWith(`bramble-node-${info.name}-`) === true
    const found = (connz.connections ?? []).some((c) => ofNode(c.name) && (c.subscriptions_list ?? []).includes(subject))
    if (!found) return yield* Effect.fail(new Error(`node ${info.name} does not answer ${subject} yet`))
  })

/**
 * The nats-servers of the named nodes of `config`, all at once (each with the node's data
 * directory and the spec rendered from the file), once they formed one healthy JetStream
 * cluster. Closing the scope stops them.
 */
export const startNatsCluster = Effect.fn("DevCluster.startNatsCluster")(function*(config: ClusterConfig, nodes: ReadonlyArray<string>): Effect.fn.Return<ReadonlyArray<DevServer>, ProcessError, Scope.Scope> {
  const servers = yield* Effect.forEach(
    nodes,
    (name) =>
      Effect.map(
        startNatsServer({ dir: nodeDataDir(config, name), spec: natsSpecForNode(config, name)!, readyTimeout: "60 seconds" }),
        (server): DevServer => ({ ...server, name })
      ),
    { concurrency: "unbounded" }
  )
  yield* Effect.forEach(servers, (server) => clusterFormed(server.monitorUrl), { discard: true })
  return servers
})

/** Starts the cluster; closing the scope stops it. */
export const startDevCluster = Effect.fn("DevCluster.startDevCluster")(function*(options: DevClusterOptions): Effect.fn.Return<DevCluster, ProcessError, Scope.Scope> {
  const scope = yield* Effect.scope
  const dir = resolve(options.dir)
  mkdirSync(dir, { recursive: true })
  const partitions = options.partitions ?? 8
  const spares = options.spareNodes ?? 0
  const dashboards = options.dashboards ?? true
  const heapLimit = options.heapLimit === undefined ? {} : { heapLimit: options.heapLimit }

  // 1. The database.
  const db = yield* startVictoriaMetrics({ dir: join(dir, "victoria-metrics") })

  // 2. The cluster file: ports for every server, then every node.
  const total = options.nodes + spares
  const ports = yield* freePorts(options.nodes * 4 + total)
  const serverNodes = Array.from({ length: options.nodes }, (_, i) => ({
    name: nodeName(i),
    host: "127.0.0.1",
    nats: { port: ports[i * 4]!, mqttPort: ports[i * 4 + 1]!, httpPort: ports[i * 4 + 2]!, clusterPort: ports[i * 4 + 3]! },
    httpPort: dashboards ? ports[options.nodes * 4 + i]! : 0,
    ...heapLimit
  }))
  const firstUrl = `nats://127.0.0.1:${serverNodes[0]!.nats.port}`
  const spareNodes = Array.from({ length: spares }, (_, j) => ({
    name: nodeName(options.nodes + j),
    host: "127.0.0.1",
    nats: { url: firstUrl },
    httpPort: dashboards ? ports[options.nodes * 4 + options.nodes + j]! : 0,
    ...heapLimit
  }))
  const sensorsPerNode = options.sensorsPerNode ?? 2
  const document = {
    cluster: { name: "dev", partitions, dataDir: join(dir, "data") },
    nodes: [...serverNodes, ...spareNodes],
    sensors: [...serverNodes, ...spareNodes].flatMap((n) =>
      Array.from({ length: sensorsPerNode }, (_, k) => ({ device: `sim-${n.name}-${k + 1}`, node: n.name, kind: "simulated-dht22", interval: "2s" }))
    ),
    windows: options.windows ?? [{ name: "10s", size: "10s" }, { name: "1m", size: "1m" }],
    processing: options.processing ?? {},
    sink: { kind: "influx-v2", url: db.url }
  }
  const decoded = decodeClusterConfig(document, "dev cluster")
  if (Result.isFailure(decoded)) return yield* Effect.die(decoded.failure)
  const config = decoded.success
  const configFile = join(dir, "cluster.yaml")
  writeFileSync(configFile, `# Written by the dev cluster launcher (JSON is YAML).\n${JSON.stringify(document, null, 2)}\n`)

  // 3. The servers, all at once, then wait until they formed one JetStream cluster. A
  //    server's own readiness is only "JetStream is up": a server restarted by a fault
  //    test must count as up while it is still catching up with the others.
  const servers = yield* startNatsCluster(config, serverNodes.map((n) => n.name))

  // 4. The nodes.
  const monitorOf = (url: string) => servers.find((s) => s.url === url)?.monitorUrl ?? servers[0]!.monitorUrl
  const nodeInfos: ReadonlyArray<DevNodeInfo> = [
    ...serverNodes.map((n, i) => ({ name: n.name, natsUrl: servers[i]!.url, monitorUrl: servers[i]!.monitorUrl, spare: false, httpPort: n.httpPort })),
    ...spareNodes.map((n) => ({ name: n.name, natsUrl: firstUrl, monitorUrl: monitorOf(firstUrl), spare: true, httpPort: n.httpPort }))
  ].map(({ httpPort, ...n }) => ({ ...n, logFile: join(dir, "logs", `${n.name}.log`), httpUrl: httpPort === 0 ? undefined : `http://127.0.0.1:${httpPort}` }))
  const started = new Map<string, DevNode>()
  const [command, ...prefix] = options.bramble
  if (command === undefined) return yield* Effect.die(new Error("DevClusterOptions.bramble is empty"))

  const startNode = (name: string): Effect.Effect<DevNode, ProcessError> =>
    Effect.gen(function*() {
      const existing = started.get(name)
      if (existing !== undefined) {
        yield* existing.process.start
        return existing
      }
      const info = nodeInfos.find((n) => n.name === name)
      if (info === undefined) return yield* Effect.die(new Error(`no node ${name} in the dev cluster (nodes: ${nodeInfos.map((n) => n.name).join(", ")})`))
      const heapLimitBytes = config.nodes.find((n) => n.name === name)!.heapLimit
      const process = yield* makeManagedProcess({
        name: `bramble node ${name}`,
        command,
        args: [...prefix, "node", "--config", configFile, "--node", name, "--nats-url", info.natsUrl, "--simulate", ...(options.nodeArgs?.(name) ?? [])],
        cwd: dir,
        // The heap limit a deployed node gets from its systemd unit.
        env: { NODE_OPTIONS: nodeOptionsWithHeapLimit(heapLimitBytes, globalThis.process.env["NODE_OPTIONS"]) },
        logFile: info.logFile,
        tailLines: 80,
        readiness: { probe: (options.nodeReady ?? adminSubscribed)(info), timeout: options.nodeReadyTimeout ?? "120 seconds" },
        // A node hands its partitions over on SIGTERM; give it the time to.
        stopGracePeriod: "30 seconds"
      }).pipe(Scope.provide(scope))
      const node: DevNode = { ...info, process }
      started.set(name, node)
      return node
    })

  yield* Effect.forEach(nodeInfos.filter((n) => !n.spare), (n) => startNode(n.name), { concurrency: "unbounded", discard: true })

  const stateFile = join(dir, DEV_CLUSTER_STATE)
  const writeState = Effect.gen(function*() {
    const processes: Array<DevClusterState["processes"][number]> = [
      { name: "victoria-metrics", pid: yield* db.process.pid },
      ...(yield* Effect.forEach(servers, (s) => Effect.map(s.process.pid, (pid) => ({ name: `nats-server ${s.name}`, pid })))),
      ...(yield* Effect.forEach([...started.values()], (n) => Effect.map(n.process.pid, (pid) => ({ name: `node ${n.name}`, pid, log: n.logFile }))))
    ]
    const state: DevClusterState = {
      pid: process.pid,
      startedAt: Date.now(),
      configFile,
      natsUrls: servers.map((s) => s.url),
      mqttUrls: servers.map((s) => s.mqttUrl),
      dbUrl: db.url,
      processes,
      nodes: nodeInfos.map((n) => ({ name: n.name, natsUrl: n.natsUrl, log: n.logFile, ...(n.httpUrl === undefined ? {} : { httpUrl: n.httpUrl }) }))
    }
    writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`)
  })
  yield* writeState
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(stateFile, { force: true })))

  return {
    dir,
    configFile,
    stateFile,
    config,
    partitions,
    db,
    servers,
    natsUrls: servers.map((s) => s.url),
    mqttUrls: servers.map((s) => s.mqttUrl),
    nodeInfos,
    node: (name) => started.get(name),
    startNode,
    writeState
  }
})

/** Reads a dev cluster's state file; undefined when there is none. */
export const readDevClusterState = (dir: string): DevClusterState | undefined => {
  try {
    return JSON.parse(readFileSync(join(resolve(dir), DEV_CLUSTER_STATE), "utf8")) as DevClusterState
  } catch {
    return undefined
  }
}

/**
 * Stops the dev cluster recorded in `dir`: SIGTERM to the process that runs it (which stops
 * the nodes gracefully, then the servers and the database), SIGKILL to whatever is left
 * after `grace`. Returns what it did, for the CLI to print.
 */
export const stopDevCluster = Effect.fn("DevCluster.stopDevCluster")(function*(dir: string, grace: Duration.Input = "90 seconds"): Effect.fn.Return<ReadonlyArray<string>> {
  const state = readDevClusterState(dir)
  if (state === undefined) return [`no dev cluster state in ${resolve(dir)} (${DEV_CLUSTER_STATE}); nothing to stop`]
  const said: Array<string> = []
  const waitGone = (pids: ReadonlyArray<number>, within: Duration.Input) =>
    Effect.gen(function*() {
      const until = Date.now() + Duration.toMillis(Duration.fromInputUnsafe(within))
      while (pids.some(isProcessAlive) && Date.now() < until) yield* Effect.sleep("200 millis")
      return pids.filter(isProcessAlive)
    })
  if (isProcessAlive(state.pid)) {
    said.push(`stopping the dev cluster (pid ${state.pid}): nodes hand their partitions over, then servers and the database stop`)
    try {
      process.kill(state.pid, "SIGTERM")
    } catch {
      // Gone in the meantime.
    }
    yield* waitGone([state.pid], grace)
  }
  const left = state.processes.flatMap((p) => (p.pid !== undefined && isProcessAlive(p.pid) ? [p] : []))
  for (const p of left) {
    said.push(`SIGKILL ${p.name} (pid ${p.pid})`)
    try {
      process.kill(p.pid!, "SIGKILL")
    } catch {
      // Already gone.
    }
  }
  if (isProcessAlive(state.pid)) {
    said.push(`SIGKILL the dev cluster process (pid ${state.pid})`)
    try {
      process.kill(state.pid, "SIGKILL")
    } catch {
      // Already gone.
    }
  }
  yield* waitGone([...left.map((p) => p.pid!), state.pid], "10 seconds")
  rmSync(join(resolve(dir), DEV_CLUSTER_STATE), { force: true })
  said.push("stopped")
  return said
})
