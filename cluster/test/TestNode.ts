/**
 * A one-node bramble for the admin, metrics and CLI tests: a real nats-server (started by
 * the node from its cluster file, on free loopback ports), a real VictoriaMetrics, and
 * simulated DHT sensors, all in a temporary directory removed afterwards.
 */
import { parseClusterConfig } from "@bramble/config"
import { freePorts, scopedTempDir, startVictoriaMetrics } from "@bramble/deploy"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, Result, type Scope } from "effect"
import { join } from "node:path"
import { type RunningNode, startNode } from "../src/node/Node.js"
import { eventually } from "../../test/support/Eventually.js"

export interface TestNode {
  readonly node: RunningNode
  readonly dir: string
  readonly dbUrl: string
  readonly natsUrl: string
  /** A client connection of the test's own. */
  readonly nc: NatsConnection
  /** The cluster file's text. */
  readonly file: string
}

export const DEVICES = ["greenhouse-1", "greenhouse-2", "barn"] as const

/** Start the node; everything stops when the scope closes. */
export const startTestNode = (options: { readonly partitions?: number; readonly http?: boolean } = {}): Effect.Effect<TestNode, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* scopedTempDir({ prefix: "bramble-admin-" })
    const db = yield* startVictoriaMetrics({ dir: join(dir, "vm") })
    const ports = yield* freePorts(5)
    const file = [
      `cluster: { name: admintest, partitions: ${options.partitions ?? 4}, dataDir: ${JSON.stringify(join(dir, "nodes"))} }`,
      `nodes:`,
      `  - name: n1`,
      `    host: 127.0.0.1`,
      `    httpPort: ${options.http === false ? 0 : ports[4]}`,
      `    nats: { port: ${ports[0]}, mqttPort: ${ports[1]}, httpPort: ${ports[2]}, clusterPort: ${ports[3]} }`,
      `sensors:`,
      ...DEVICES.map((device, i) => `  - { device: ${device}, node: n1, kind: simulated-dht11, pin: ${4 + i}, interval: 1s }`),
      `windows: [{ name: 2s, size: 2s }, { name: 1m, size: 1m }]`,
      // Always raised for greenhouse-2 (simulated temperatures stay within 15-27 °C).
      `rules: [{ kind: threshold, name: too-warm, metric: temperature, above: 12, devices: [greenhouse-2] }]`,
      `processing: { allowedLateness: 1s, idleAdvance: 1s, checkpointInterval: 500ms }`,
      `sink: { kind: influx-v2, url: ${db.url} }`
    ].join("\n")
    const config = parseClusterConfig(file, join(dir, "cluster.yaml"))
    if (Result.isFailure(config)) return yield* Effect.die(config.failure)
    const node = yield* startNode({ config: config.success, node: "n1", simulate: true })
    // The node claims its partitions' leases right after it starts.
    const partitions = config.success.cluster.partitions
    yield* eventually("the node owning every partition", async () =>
      Array.from({ length: partitions }, (_, p) => p).every((p) => node.clusterView.owns(p)) ? true : undefined)
    const nc = yield* Effect.acquireRelease(
      Effect.promise(() => connect({ servers: node.natsUrl, name: "bramble-admin-test" })),
      (c) => Effect.promise(() => c.close())
    )
    return { node, dir, dbUrl: db.url, natsUrl: node.natsUrl, nc, file }
  })
