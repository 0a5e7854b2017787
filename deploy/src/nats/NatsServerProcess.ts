/**
 * A nats-server process, started from a rendered config and supervised: the server every
 * production node runs on its Pi (`startNode`, with the spec rendered from the cluster file
 * and `restartOnExit`), and the same launcher for tests, the demo, dev clusters and
 * benchmarks, which leave the ports unset to get free loopback ones. JetStream, the MQTT
 * listener, HTTP monitoring and the ingest partition mapping, with config, store and log
 * under one directory (0700; the config 0600). One launcher, so what the tests exercise is
 * what runs on the Pis (docs/design.md, decision 10).
 */
import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { type Duration, Effect, type Scope } from "effect"
import { ingestPartitionMapping, type NatsServerConfSpec, renderNatsServerConf } from "./NatsServerConf.js"
import { type ManagedProcess, makeManagedProcess, type RestartPolicy } from "../process/ManagedProcess.js"
import { privateDirSync, writePrivateFileSync } from "../security/internal/secretFile.js"
import type { ProcessError } from "../process/ProcessError.js"
import { freePort } from "../local/freePort.js"
import { retryOnPortClash } from "../process/internal/portRetry.js"
import { setupFiles } from "../process/internal/setupFiles.js"
import { connectHost, expectStatus, httpRequest, parseJson, tcpConnect } from "../process/internal/probe.js"

/** Which `/healthz` check makes the server count as ready. */
export type NatsHealthCheck =
  /** The server is up and JetStream has started. Does not wait for a cluster to form. */
  | "js-enabled-only"
  /** JetStream is healthy: in a cluster, a meta leader exists and assets are current. */
  | "full"

export interface StartNatsServerOptions {
  /** Home of the server: `nats-server.conf`, `nats-server.log` and `jetstream/` (created). */
  readonly dir: string
  /** Overrides of the rendered spec; unset ports are free loopback ports. */
  readonly spec?: Partial<NatsServerConfSpec>
  /** Partitions of the default ingest mapping (when `spec.mappings` is unset). Default 8. */
  readonly partitions?: number
  /** Restart the server when it dies (how a node keeps its server alive). Default off. */
  readonly restartOnExit?: boolean | RestartPolicy
  /** Default `js-enabled-only`. */
  readonly health?: NatsHealthCheck
  /** Default 30 s. */
  readonly readyTimeout?: Duration.Input
  /** Default `nats-server` on PATH. */
  readonly binary?: string
}

/** A running nats-server. */
export interface RunningNatsServer {
  /** Client URL, `nats://127.0.0.1:PORT`. */
  readonly url: string
  /** MQTT URL, `mqtt://127.0.0.1:PORT`. */
  readonly mqttUrl: string
  /** HTTP monitoring, `http://127.0.0.1:PORT`. */
  readonly monitorUrl: string
  readonly confPath: string
  /** The spec the config was rendered from (ports, server name, store dir). */
  readonly spec: NatsServerConfSpec & { readonly httpPort: number; readonly mqttPort: number }
  readonly process: ManagedProcess
}

/**
 * Starts nats-server with JetStream, MQTT and monitoring (on free loopback ports where the
 * spec sets none) and waits until `/healthz` passes. Closing the scope stops it; `dir` is
 * left in place.
 */
export const startNatsServer = Effect.fn("NatsServerProcess.startNatsServer")(
  function*(options: StartNatsServerOptions): Effect.fn.Return<RunningNatsServer, ProcessError, Scope.Scope> {
    const overrides = options.spec ?? {}
    const spec = {
      ...overrides,
      serverName: overrides.serverName ?? `bramble-local-${randomUUID().slice(0, 8)}`,
      host: overrides.host ?? "127.0.0.1",
      port: overrides.port ?? (yield* freePort),
      httpPort: overrides.httpPort ?? (yield* freePort),
      mqttPort: overrides.mqttPort ?? (yield* freePort),
      jetstream: overrides.jetstream ?? { storeDir: join(options.dir, "jetstream") },
      mappings: overrides.mappings ?? ingestPartitionMapping(options.partitions ?? 8)
    } satisfies NatsServerConfSpec
    const host = connectHost(spec.host)
    const monitorUrl = `http://${connectHost(spec.httpHost ?? spec.host)}:${spec.httpPort}`
    const confPath = join(options.dir, "nats-server.conf")
    const logFile = join(options.dir, "nats-server.log")

    // The configuration holds password hashes and key paths on a secured node: 0600 in a
    // 0700 directory (which also keeps the JetStream store and the log to the owner).
    yield* setupFiles("nats-server", () => {
      privateDirSync(options.dir)
      writePrivateFileSync(confPath, renderNatsServerConf(spec))
    })

    const healthUrl = `${monitorUrl}/healthz${(options.health ?? "js-enabled-only") === "full" ? "" : "?js-enabled-only=true"}`
    const probe = Effect.gen(function*() {
      yield* expectStatus(healthUrl, yield* httpRequest(healthUrl), 200)
      // The monitor port answering is not proof that it is *our* server: another process
      // may have bound the port first. The server name is unique, so check it.
      const varzUrl = `${monitorUrl}/varz`
      const varz = (yield* parseJson(varzUrl, (yield* httpRequest(varzUrl)).body)) as { server_name?: unknown }
      const name = varz?.server_name
      if (name !== spec.serverName) {
        return yield* Effect.fail(new Error(`${monitorUrl} is server "${name}", not "${spec.serverName}"`))
      }
      yield* tcpConnect(host, spec.port)
      yield* tcpConnect(host, spec.mqttPort)
    })

    const managed = yield* makeManagedProcess({
      name: "nats-server",
      command: options.binary ?? "nats-server",
      args: ["-c", confPath],
      logFile,
      readiness: { probe, timeout: options.readyTimeout ?? "30 seconds" },
      restart: options.restartOnExit ?? false
    })

    return {
      url: `nats://${host}:${spec.port}`,
      mqttUrl: `mqtt://${host}:${spec.mqttPort}`,
      monitorUrl,
      confPath,
      spec,
      process: managed
    }
  },
  // A server that lost a port race is started again from the top, with fresh ports.
  retryOnPortClash
)
