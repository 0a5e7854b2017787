/**
 * `bramble demo`: a one-node bramble on this machine, with four simulated DHT22 sensors, a simulated Modbus PLC, a 1-wire probe
 * and I2C chips (a BME280, an ADS1115 reading a 4-20 mA transmitter),
 * a real nats-server and a real time-series database (VictoriaMetrics, speaking InfluxDB's
 * v2 write API), all on free loopback ports. It prints what flows: readings in, window
 * results out, points in the database. Ctrl-C stops everything it started.
 *
 * `--for 30s` is the same demo without a person watching (CI runs the README's first
 * command that way): it stops after that long, reads back what reached the database, and
 * exits 0 only when readings and window results did.
 */
import { formatMillis, parseClusterConfig, parseMillis } from "@bramble/config"
import { freePorts, startVictoriaMetrics } from "@bramble/deploy"
import { Console, Effect, Option, Result } from "effect"
import { Command, Flag } from "effect/cli"
import { mkdirSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { startNode } from "../node/Node.js"
import { storedSince, watchDemo } from "./DemoView.js"
import { ExitCode } from "./ExitCode.js"

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
  # A boiler's PLC over Modbus TCP (its simulated twin): pressure and the burner's coil are
  # stored by exception, when they change (or once a minute); docs/field-inputs.md.
  - device: boiler-1
    node: demo
    kind: simulated-modbus-tcp
    host: plc.local
    unit: 3
    interval: 2s
    registers:
      - { metric: temperature, address: 30001, type: int16, scale: 0.1 }
      - { metric: pressure, address: 40010, type: float32, wordOrder: little, deadband: "1%", maxSilence: 1m }
      - { metric: running, coil: 5, maxSilence: 1m }
  # A DS18B20 probe on the 1-wire bus (simulated).
  - { device: tank, node: demo, kind: simulated-ds18b20, interval: 2s, probes: { temperature: 28-0316a2796dff } }
  # On the Pi's I2C bus (simulated): a BME280 in the loft, and an ADS1115 reading the boiler's
  # 4-20 mA pressure transmitter across a 150 ohm shunt as 0-10 bar.
  - { device: loft, node: demo, kind: simulated-bme280, address: 0x76, interval: 2s }
  - device: boiler-1
    node: demo
    kind: simulated-ads1115
    address: 0x48
    interval: 2s
    channels:
      - { metric: water_pressure, input: A0, gain: 4.096, shunt: 150, from: [4, 20], to: [0, 10] }
windows:
  - { name: 10s, size: 10s }
  - { name: 1m, size: 1m }
processing:
  allowedLateness: 2s
  idleAdvance: 3s
# Devices that speak their own dialect (docs/ingest-routes.md), e.g.
#   mosquitto_pub -p <mqtt port> -t sensors/lab -m '{"sensor_id": 1, "temperature": 25.5, "humidity": 60, "timestamp": "2026-05-20T10:00:00Z"}'
ingest:
  routes:
    - { name: collector, topic: "sensors/#", dialect: json, deviceField: sensor_id, timeField: timestamp }
    - { name: home, topic: home/+room/+metric, dialect: value, device: "{room}" }
sink:
  kind: influx-v2
  url: ${options.sinkUrl}
`

/** The demo's shortest window: the first results are stored about this long plus the watermark delay after the run starts. */
const FIRST_WINDOW_MS = 10_000

const forFlag = Flag.String("for").pipe(
  Flag.filterMap(
    (text) => Option.filter(Option.fromUndefinedOr(parseMillis(text)), (ms) => ms > 0),
    (text) => `--for takes a duration such as 30s, 2m or 1h30m, not "${text}"`
  ),
  Flag.withDescription(
    "Run this long (30s, 2m, 1h30m), then print what reached the database and exit: 0 when readings and window results were stored, 1 when not. Default: run until Ctrl-C"
  ),
  Flag.optional
)

export const demoCommand = Command.make(
  "demo",
  {
    dir: Flag.String("dir").pipe(Flag.withDescription("Where the demo keeps its data (default ./.bramble/demo)"), Flag.optional),
    forMs: forFlag
  },
  ({ dir, forMs }) =>
    Effect.scoped(Effect.gen(function*() {
      const home = resolve(Option.getOrElse(dir, () => ".bramble/demo"))
      mkdirSync(home, { recursive: true })
      yield* Console.log(`Bramble demo — data in ${home}\nStarting VictoriaMetrics (InfluxDB v2 write API) ...`)
      const db = yield* startVictoriaMetrics({ dir: join(home, "victoria-metrics") })
      const ports = yield* freePorts(5)
      const file = join(home, "cluster.yaml")
      const text = demoFile({ dataDir: join(home, "nodes"), ports, sinkUrl: db.url })
      writeFileSync(file, text)
      const config = parseClusterConfig(text, file)
      if (Result.isFailure(config)) return yield* Effect.die(config.failure)
      const startedAt = Date.now()
      // The node lives in a scope of its own: it is stopped (its last writes finished) before
      // the database is read for the summary.
      const sensors = yield* Effect.scoped(Effect.gen(function*() {
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
            Option.isSome(forMs)
              ? `Running for ${formatMillis(forMs.value)}, then checking what reached the database.`
              : "Ctrl-C stops everything the demo started.",
            ""
          ].join("\n")
        )
        const view = watchDemo(node, db.url, config.success.windows.map((w) => w.name))
        // Without --for the view runs until Ctrl-C interrupts it.
        yield* Option.isNone(forMs) ? view : Effect.timeoutOption(view, forMs.value)
        yield* Console.log("Stopping the node ...")
        return node.sensors
      }))
      if (Option.isNone(forMs)) return
      // Counted once the node has stopped: the last readings are acknowledged while it stops.
      const published = sensors.reduce((total, s) => total + s.published, 0)
      yield* db.forceFlush
      const stored = yield* storedSince(db.url, startedAt, config.success.windows)
      const ran = formatMillis(Math.round((Date.now() - startedAt) / 1000) * 1000)
      yield* Console.log(
        `\nSummary (${ran}): the sensors published ${published} readings; the database holds ${stored.readings} raw readings ` +
          `and ${stored.windows} window results from this run.`
      )
      const missing = [
        ...(stored.readings === 0 ? ["no raw reading"] : []),
        ...(stored.windows === 0 ? ["no window result"] : [])
      ]
      if (missing.length === 0) return yield* Console.log("OK: readings and window results reached the database.")
      yield* Console.error(
        `FAILED: ${missing.join(" and ")} reached the database in ${ran}. ` +
          `The first ${formatMillis(FIRST_WINDOW_MS)} window is stored about ${formatMillis(FIRST_WINDOW_MS + 5_000)} after the node starts; ` +
          `the node's log above and ${join(home, "victoria-metrics", "victoria-metrics.log")} say more.`
      )
      return yield* ExitCode.fail(1)
    }))
).pipe(
  Command.withDescription("Run a one-node bramble with simulated sensors and a real database, and show the data flowing"),
  Command.withExamples([
    { command: "bramble demo", description: "Run until Ctrl-C" },
    { command: "bramble demo --for 30s", description: "Run 30 seconds, print what was stored, exit 0 only if readings and windows reached the database" }
  ])
)
