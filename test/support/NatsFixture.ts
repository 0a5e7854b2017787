/**
 * A nats-server of a test's own — JetStream, MQTT and the partition mapping, on free loopback
 * ports, in a temporary directory — with a `NatsClient` on it; both end with the scope. With
 * `topology`, the four streams exist too (one replica, the limits below). What the NATS tests
 * of cluster/test share instead of a copy each.
 */
import { type RunningNatsServer, scopedTempDir, startNatsServer } from "@bramble/deploy"
import { ensureTopology, NatsClient } from "@bramble/nats"
import { Effect, type Scope } from "effect"

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
