/**
 * `bramble demo`: a one-node bramble on this machine, with four simulated DHT22 sensors,
 * a real nats-server and a real time-series database (VictoriaMetrics, speaking InfluxDB's
 * v2 write API), all on free loopback ports. It prints what flows: readings in, window
 * results out, points in the database. Ctrl-C stops everything it started.
 */
import { parseClusterConfig } from "@bramble/config"
import { freePorts, startVictoriaMetrics } from "@bramble/deploy"
import { Console, Effect, Option, Result } from "effect"
import { Command, Flag } from "effect/cli"
import { mkdirSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { startNode } from "../node/Node.js"
import { watchDemo } from "./DemoView.js"

const demoFile = (options: { dataDir: string; ports: ReadonlyArray<number>; sinkUrl: string }) => `# Written by \`bramble demo\`: a one-node bramble with simulated sensors.
cluster:
  name: demo
  partitions: 4
  dataDir: ${JSON.stringify(options.dataDir)}
nodes:
  - name: demo
    host: 127.0.0.1
    httpPort: ${options.ports[4]}
    nats: { port: ${options.ports[0]}, mqttPort: ${options.ports[1]}, httpPort: ${options.ports[2]}, clusterPort: ${options.ports[3]} }
sensors:
  - { device: greenhouse-1, node: demo, kind: simulated-dht22, pin: 4, interval: 2s }
  - { device: greenhouse-2, node: demo, kind: simulated-dht22, pin: 17, interval: 2s }
  - { device: barn, node: demo, kind: simulated-dht22, pin: 27, interval: 2s }
  - { device: cellar, node: demo, kind: simulated-dht22, pin: 22, interval: 2s }
windows:
  - { name: 10s, size: 10s }
  - { name: 1m, size: 1m }
processing:
  allowedLateness: 2s
  idleAdvance: 3s
sink:
  kind: influx-v2
  url: ${options.sinkUrl}
`

export const demoCommand = Command.make(
  "demo",
  {
    dir: Flag.String("dir").pipe(Flag.withDescription("Where the demo keeps its data (default ./.bramble/demo)"), Flag.optional),
    duration: Flag.Int("seconds").pipe(Flag.withDescription("Stop after this many seconds (default: run until Ctrl-C)"), Flag.optional)
  },
  ({ dir, duration }) =>
    Effect.scoped(Effect.gen(function*() {
      const home = resolve(Option.getOrElse(dir, () => ".bramble/demo"))
      mkdirSync(home, { recursive: true })
      yield* Console.log(`Bramble demo — data in ${home}\nStarting VictoriaMetrics (InfluxDB v2 write API) ...`)
      const db = yield* startVictoriaMetrics({ dir: join(home, "victoria-metrics") })
      const ports = yield* freePorts(5)
      const file = join(home, "cluster.yaml")
      writeFileSync(file, demoFile({ dataDir: join(home, "nodes"), ports, sinkUrl: db.url }))
      const config = parseClusterConfig(demoFile({ dataDir: join(home, "nodes"), ports, sinkUrl: db.url }), file)
      if (Result.isFailure(config)) return yield* Effect.die(config.failure)
      yield* Console.log("Starting the node (nats-server with JetStream and MQTT, partitions, actors, sensors) ...")
      const node = yield* startNode({ config: config.success, node: "demo" })
      yield* Console.log(
        [
          "",
          `  Dashboard    ${node.httpUrl ?? "(not serving)"}`,
          `  NATS         ${node.natsUrl}`,
          `  MQTT         ${node.mqttUrl}`,
          `  Database     ${db.url}  (browse: ${db.url}/vmui)`,
          `  Cluster file ${file}`,
          "",
          "  Publish your own reading (MQTT QoS 1, JSON):",
          `    mosquitto_pub -p ${ports[1]} -q 1 -t ingest/my-device/env -m '{"ts": '$(date +%s%3N)', "values": {"temperature": 22.5}}'`,
          "  Watch window results:",
          `    mosquitto_sub -p ${ports[1]} -t 'aggregates/#' -v`,
          "",
          "Ctrl-C stops everything the demo started.",
          ""
        ].join("\n")
      )
      const view = watchDemo(node, db.url, config.success.windows.map((w) => w.name))
      yield* Option.isSome(duration)
        ? Effect.timeoutOption(view, duration.value * 1000)
        : view
      yield* Console.log("Stopping ...")
    }))
).pipe(
  Command.withDescription("Run a one-node bramble with simulated sensors and a real database, and show the data flowing"),
  Command.withExamples([{ command: "bramble demo", description: "Run until Ctrl-C" }])
)

