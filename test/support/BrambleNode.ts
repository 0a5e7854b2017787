/**
 * A Bramble node under test, run the way an operator runs it: the built CLI
 * (`node cluster/dist/bin/bramble.js node --config FILE --node NAME`) as a real child
 * process, with a cluster file written for the test's own servers and free loopback ports.
 * A separate process is the point: a fault test must be able to SIGKILL the node (and,
 * through pdeathsig, its nats-server) without killing the test, and restart it on the same
 * data directory.
 *
 * Readiness is the admin actor answering `bramble.admin.<node>.status`, polled over a fresh
 * NATS connection, never a sleep.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { DEFAULT_HEAP_LIMIT } from "@bramble/config"
import { type ManagedProcess, makeManagedProcess, nodeOptionsWithHeapLimit, type ProcessError, freePorts } from "@bramble/deploy"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, type Scope } from "effect"
import { waitFor } from "./Db.js"
import type { WindowSpec } from "./Oracle.js"

/** The built CLI the node runs from (`npm test` builds it first); BRAMBLE_CLI points elsewhere,
 * e.g. at a build of another checkout, to bisect a failure. */
export const BRAMBLE_CLI = process.env["BRAMBLE_CLI"] ?? resolve(import.meta.dirname, "../../cluster/dist/bin/bramble.js")

/** The database the node writes to, as the cluster file's `sink`. */
export type NodeSink =
  | { readonly kind: "influx-v2"; readonly url: string; readonly org?: string; readonly bucket?: string }
  | { readonly kind: "influx-v1"; readonly url: string; readonly database: string }

/** `processing:` of the cluster file; durations as the file writes them ("500ms"). */
export interface NodeProcessing {
  readonly watermarkDelay?: string
  readonly allowedLateness?: string
  readonly idleAdvance?: string
  readonly checkpointInterval?: string
  readonly batchSize?: number
  readonly passivateAfter?: string
  readonly maxPayload?: string
  readonly maxClockAhead?: string
}

export interface StartBrambleNodeOptions {
  /** Home of the node: `cluster.yaml`, `node.log` and the data directory (`data/<node>/`). */
  readonly dir: string
  readonly sink: NodeSink
  /** Window specs as the oracle takes them (tumbling or hopping); written to the file in ms. */
  readonly windows: ReadonlyArray<WindowSpec>
  readonly processing?: NodeProcessing
  /** Alarm rules, as the cluster file writes them (durations as strings). */
  readonly rules?: ReadonlyArray<Record<string, unknown>>
  /** Default 4. */
  readonly partitions?: number
  /** The cluster file's `ingest:` section (routes), as written. */
  readonly ingest?: Record<string, unknown>
  /** Default `n1`. */
  readonly node?: string
  /** How long the first start (and every `restart`) may take to answer status. Default 120 s. */
  readonly readyTimeoutMs?: number
  /** Serve the dashboard, `/metrics` and the HTTP API on a free port (`BrambleNode.httpUrl`).
   * Default off: parallel test nodes would all want the default port. */
  readonly http?: boolean
}

/** One partition's counters as the admin actor reports them. */
export interface PartitionStatus {
  readonly partition: number
  readonly received: number
  readonly accepted: number
  readonly rejected: number
  readonly tooLate: number
  readonly windowsEmitted: number
  readonly checkpointedSeq: number
  readonly lastCheckpointAt: number
}

/** The admin status reply (cluster/src/node/Admin.ts `statusOf`). */
export interface NodeStatus {
  readonly node: string
  readonly uptimeMs: number
  /** The version of the cluster file the node runs (docs/live-config.md). */
  readonly config?: { readonly version?: number; readonly latest?: number; readonly error?: string }
  readonly nats: string
  readonly mqtt?: string
  readonly partitions: ReadonlyArray<PartitionStatus>
  readonly storage: {
    readonly pointsWritten: number
    readonly readingsWritten: number
    readonly writes: number
    readonly writeFailures: number
    readonly pointsRejected: number
    readonly unavailableSince?: number
    readonly lastError?: string
  }
  readonly totals: {
    readonly received: number
    readonly accepted: number
    readonly rejected: number
    readonly tooLate: number
    readonly windowsEmitted: number
    readonly pointsWritten: number
  }
}

/** A running node process. */
export interface BrambleNode {
  readonly name: string
  readonly partitions: number
  readonly configFile: string
  readonly logFile: string
  /** The node's own nats-server. */
  readonly natsUrl: string
  readonly mqttUrl: string
  /** The dashboard, `/metrics` and the HTTP API, when started with `http: true`. */
  readonly httpUrl?: string
  readonly process: ManagedProcess
  /** One status request (rejects when the node does not answer within `timeoutMs`). */
  readonly status: (timeoutMs?: number) => Promise<NodeStatus>
  /** Starts the process again (after a SIGKILL) and waits until it answers status. */
  readonly restart: Effect.Effect<void, ProcessError>
  /** The last lines of the node's log, for failure messages. */
  readonly logTail: Effect.Effect<string>
}

/** One admin request (`bramble.admin.<node>.<call>`, empty body, JSON reply) over a connection of its own. */
export const requestAdmin = async (natsUrl: string, node: string, call: string, timeoutMs = 5_000): Promise<unknown> => {
  const nc = await connect({ servers: natsUrl, name: "bramble-test-admin", timeout: timeoutMs, reconnect: false })
  try {
    const reply = await nc.request(`bramble.admin.${node}.${call}`, undefined, { timeout: timeoutMs })
    return reply.json<unknown>()
  } finally {
    await nc.close()
  }
}

/** Asks `node` at `natsUrl` for its status. */
export const requestNodeStatus = async (natsUrl: string, node: string, timeoutMs = 5_000): Promise<NodeStatus> => {
  const reply = await requestAdmin(natsUrl, node, "status", timeoutMs)
  // An admin error reply (e.g. while starting) is not a status.
  if (typeof reply !== "object" || reply === null || !("totals" in reply) || !("partitions" in reply)) {
    throw new Error(`not a status reply: ${JSON.stringify(reply).slice(0, 300)}`)
  }
  return reply as NodeStatus
}

const withConnection = async <A>(natsUrl: string, use: (nc: NatsConnection) => Promise<A>): Promise<A> => {
  const nc = await connect({ servers: natsUrl, name: "bramble-test-inspector", timeout: 5_000, reconnect: false })
  try {
    return await use(nc)
  } finally {
    await nc.close()
  }
}

/** Where one partition's durable consumer (`bramble-p<N>` on READINGS) stands. */
export interface PartitionConsumerState {
  readonly partition: number
  /** Stream sequence of the last message the node acknowledged (everything before it too). */
  readonly ackFloor: number
  /** Stream sequence of the last message delivered to the node. */
  readonly delivered: number
  /** Messages of the partition not yet delivered. */
  readonly pending: number
  /** Delivered and not yet acknowledged. */
  readonly ackPending: number
}

/** The state of every partition consumer of the node, read from JetStream (not from the node). */
export const partitionConsumers = (node: Pick<BrambleNode, "natsUrl" | "partitions">): Promise<Array<PartitionConsumerState>> =>
  withConnection(node.natsUrl, async (nc) => {
    const jsm = await jetstreamManager(nc)
    const states: Array<PartitionConsumerState> = []
    for (let partition = 0; partition < node.partitions; partition++) {
      const info = await jsm.consumers.info("READINGS", `bramble-p${partition}`)
      states.push({
        partition,
        ackFloor: info.ack_floor.stream_seq,
        delivered: info.delivered.stream_seq,
        pending: info.num_pending,
        ackPending: info.num_ack_pending
      })
    }
    return states
  })

/**
 * Waits until every partition consumer has nothing pending and nothing unacknowledged: the
 * node has processed, made durable and checkpointed everything READINGS holds.
 */
export const waitUntilCheckpointed = (node: Pick<BrambleNode, "natsUrl" | "partitions">, timeoutMs = 120_000) =>
  waitFor(() => partitionConsumers(node), {
    until: (states) => states.every((s) => s.pending === 0 && s.ackPending === 0),
    timeoutMs,
    intervalMs: 500,
    label: "every partition consumer fully acknowledged (nothing pending)"
  })

const windowsYaml = (windows: ReadonlyArray<WindowSpec>) =>
  windows.map((w) => ({ name: w.name, size: `${w.size}ms`, ...(w.hop === undefined ? {} : { hop: `${w.hop}ms` }) }))

/** The cluster file (JSON, which is YAML) for a one-node bramble on the given ports. */
export const clusterFile = (options: StartBrambleNodeOptions & { readonly ports: ReadonlyArray<number>; readonly dataDir: string; readonly httpPort?: number }) =>
  JSON.stringify(
    {
      cluster: { name: "systest", partitions: options.partitions ?? 4, dataDir: options.dataDir },
      nodes: [{
        name: options.node ?? "n1",
        host: "127.0.0.1",
        // No dashboard/metrics server unless asked: parallel test nodes would all want the default port.
        httpPort: options.httpPort ?? 0,
        nats: { port: options.ports[0], mqttPort: options.ports[1], httpPort: options.ports[2], clusterPort: options.ports[3] }
      }],
      windows: windowsYaml(options.windows),
      processing: options.processing ?? {},
      rules: options.rules ?? [],
      sink: options.sink,
      ...(options.ingest === undefined ? {} : { ingest: options.ingest })
    },
    null,
    2
  )

/**
 * Writes the cluster file and starts `bramble node` as a child process; closing the scope
 * stops it (SIGTERM, SIGKILL after 20 s). Fails with a clear message when the CLI has not
 * been built.
 */
export const startBrambleNode = (options: StartBrambleNodeOptions): Effect.Effect<BrambleNode, ProcessError, Scope.Scope> =>
  Effect.gen(function*() {
    if (!existsSync(BRAMBLE_CLI)) {
      return yield* Effect.die(new Error(`${BRAMBLE_CLI} is missing: run \`npm run build\` first (\`npm test\` does)`))
    }
    const name = options.node ?? "n1"
    const ports = yield* freePorts(5)
    const configFile = join(options.dir, "cluster.yaml")
    const logFile = join(options.dir, "node.log")
    mkdirSync(options.dir, { recursive: true })
    writeFileSync(configFile, clusterFile({ ...options, ports, dataDir: join(options.dir, "data"), ...(options.http === true ? { httpPort: ports[4]! } : {}) }))
    const natsUrl = `nats://127.0.0.1:${ports[0]}`
    const mqttUrl = `mqtt://127.0.0.1:${ports[1]}`
    const readyTimeoutMs = options.readyTimeoutMs ?? 120_000

    const managed = yield* makeManagedProcess({
      name: `bramble node ${name}`,
      command: process.execPath,
      args: [BRAMBLE_CLI, "node", "--config", configFile, "--node", name],
      // The heap limit as the systemd unit gives it (the default `heapLimit`): without it the
      // node would start itself again with it, as one started by hand does.
      env: { NODE_OPTIONS: nodeOptionsWithHeapLimit(DEFAULT_HEAP_LIMIT, process.env["NODE_OPTIONS"]) },
      cwd: options.dir,
      logFile,
      tailLines: 80,
      readiness: {
        probe: Effect.tryPromise(() => requestNodeStatus(natsUrl, name, 2_000)),
        timeout: `${readyTimeoutMs} millis`
      },
      stopGracePeriod: "20 seconds"
    })

    return {
      name,
      partitions: options.partitions ?? 4,
      configFile,
      logFile,
      natsUrl,
      mqttUrl,
      ...(options.http === true ? { httpUrl: `http://127.0.0.1:${ports[4]}` } : {}),
      process: managed,
      status: (timeoutMs = 5_000) => requestNodeStatus(natsUrl, name, timeoutMs),
      restart: managed.start,
      logTail: Effect.map(managed.tail, (lines) => lines.join("\n"))
    }
  })
