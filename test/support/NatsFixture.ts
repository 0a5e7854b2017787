/**
 * A nats-server of a test's own — JetStream, MQTT and the partition mapping, on free loopback
 * ports, in a temporary directory — with a `NatsClient` on it; both end with the scope. With
 * `topology`, the four streams exist too (one replica, the limits below). What the NATS tests
 * of cluster/test share instead of a copy each.
 */
import { join } from "node:path"
import { decodeClusterConfig } from "@bramble/config"
import { freePorts, type RunningNatsServer, scopedTempDir, startNatsCluster, startNatsServer } from "@bramble/deploy"
import { ensureTopology, NatsClient } from "@bramble/nats"
import { Effect, Result, type Scope } from "effect"

/** Stream limits for tests: an hour, 64 MiB. */
export const TEST_STREAM_LIMITS = { maxAgeMs: 3_600_000, maxBytes: 64 * 1024 * 1024 }

export interface NatsFixtureOptions {
  /** Names the temporary directory and the client connection. */
  readonly name: string
  /** Partitions of the ingest mapping (default 4). */
  readonly partitions?: number
  /** Create READINGS, AGGREGATES, ALARMS and DEADLETTER (default false). */
  readonly topology?: boolean
}

export interface NatsFixture {
  /** The temporary directory (the server's data is below it); removed with the scope. */
  readonly dir: string
  readonly server: RunningNatsServer
  readonly client: NatsClient["Service"]
}

/** The streams, with `TEST_STREAM_LIMITS` and one replica, through `client`. */
export const ensureTestTopology = (client: NatsClient["Service"]) =>
  Effect.provideService(
    ensureTopology({ replicas: 1, readings: TEST_STREAM_LIMITS, aggregates: TEST_STREAM_LIMITS, alarms: TEST_STREAM_LIMITS, deadLetter: TEST_STREAM_LIMITS }),
    NatsClient,
    client
  )

/** Starts the server and connects; closing the scope stops both. */
export const natsFixture = (options: NatsFixtureOptions) =>
  Effect.gen(function*() {
    const dir = yield* scopedTempDir({ prefix: `bramble-${options.name}-` })
    const server = yield* startNatsServer({ dir, partitions: options.partitions ?? 4 })
    const client = yield* NatsClient.make({ servers: server.url, name: `${options.name}-test` })
    if (options.topology === true) yield* ensureTestTopology(client)
    return { dir, server, client } satisfies NatsFixture
  })

/** Runs `use` with the fixture's client as `NatsClient`, in a scope of its own. */
export const withNats = <A, E, R>(
  options: NatsFixtureOptions,
  use: (fixture: NatsFixture) => Effect.Effect<A, E, R>
): Effect.Effect<A, unknown, Exclude<R, NatsClient | Scope.Scope>> =>
  Effect.scoped(Effect.flatMap(natsFixture(options), (fixture) => Effect.provideService(use(fixture), NatsClient, fixture.client))) as Effect.Effect<
    A,
    unknown,
    Exclude<R, NatsClient | Scope.Scope>
  >

/** Three nats-servers in one JetStream cluster on loopback (no bramble nodes, no database):
 * for tests of what the servers themselves do with replicated streams and buckets. */
export const natsClusterFixture = (options: { readonly name: string; readonly servers?: number }) =>
  Effect.gen(function*() {
    const dir = yield* scopedTempDir({ prefix: `bramble-${options.name}-` })
    const count = options.servers ?? 3
    const ports = yield* freePorts(count * 4)
    const document = {
      cluster: { name: options.name, partitions: 4, dataDir: join(dir, "data") },
      nodes: Array.from({ length: count }, (_, i) => ({
        name: `n${i + 1}`,
        host: "127.0.0.1",
        nats: { port: ports[i * 4]!, mqttPort: ports[i * 4 + 1]!, httpPort: ports[i * 4 + 2]!, clusterPort: ports[i * 4 + 3]! }
      })),
      // Never contacted: no node runs.
      sink: { kind: "influx-v2", url: "http://127.0.0.1:9" }
    }
    const decoded = decodeClusterConfig(document, options.name)
    if (Result.isFailure(decoded)) return yield* Effect.die(decoded.failure)
    const servers = yield* startNatsCluster(decoded.success, document.nodes.map((n) => n.name))
    return { dir, servers }
  })
