/**
 * A starting cluster file (`bramble config init`): every section a new bramble needs, with
 * a comment on each choice and the defaults written out where people change them. The
 * loader's tests decode what it writes, so it is valid as written.
 */

export interface TemplateOptions {
  /** Nodes `pi1` … `piN`. */
  readonly nodes: number
  readonly sink: "influx-v2" | "influx-v1"
  /** Simulated sensors: runs on any machine, no hardware needed. */
  readonly simulate: boolean
}

const sinkSection = (sink: TemplateOptions["sink"]): string =>
  sink === "influx-v2"
    ? `# The time-series database. influx-v2: InfluxDB 2.x/3.x, 1.8+, VictoriaMetrics (v2 write API).
sink:
  kind: influx-v2
  url: http://127.0.0.1:8086
  org: bramble
  bucket: bramble
  # The token is never written here: name the environment variable (or a file) holding it.
  tokenEnv: INFLUX_TOKEN
`
    : `# The time-series database. influx-v1: InfluxDB 1.x's /write (32-bit Pis, where InfluxDB 2 does not run).
sink:
  kind: influx-v1
  url: http://127.0.0.1:8086
  database: bramble
  # username: bramble
  # The password is never written here: name the environment variable (or a file) holding it.
  # passwordEnv: INFLUX_PASSWORD
`

/** The text of a commented, valid cluster file. */
export const clusterFileTemplate = (options: TemplateOptions): string => {
  const nodes = Array.from({ length: Math.max(1, options.nodes) }, (_, i) => `pi${i + 1}`)
  const sensorKind = options.simulate ? "simulated-dht22" : "dht22"
  const nodeLines = nodes.map((name, i) =>
    `  - name: ${name}\n    host: ${nodes.length === 1 ? "127.0.0.1" : `10.0.0.${11 + i}`}   # the address other nodes and devices reach it at`
  ).join("\n")
  const sensorLines = nodes.map((name, i) =>
    `  - { device: ${name}-env, node: ${name}, kind: ${sensorKind}, pin: 4, interval: 2s }` + (i === 0 ? "   # BCM GPIO number, not the header position" : "")
  ).join("\n")
  return `# yaml-language-server: $schema=./bramble.schema.json
# A Bramble cluster file. Check it with \`bramble config validate <file>\`; write the schema
# above for your editor with \`bramble config schema > bramble.schema.json\`.
# Durations: 500ms, 2s, 30m, 1h30m, 7d. Sizes: 512MB, 1GiB. Unknown keys are errors.

cluster:
  name: home
  # Fixed when the cluster is created: it is part of every stored subject.
  partitions: 8
  # Where nodes keep JetStream data and logs (relative to this file, or absolute).
  dataDir: .bramble

# One entry per Pi. Each runs \`bramble node --config <file> --node <name>\`.
nodes:
${nodeLines}
${nodes.length > 1 ? "\n# More than one node: run `bramble deploy creds` and add a `security:` section with TLS\n# before the Pis leave a trusted network (see deploy/README.md).\n" : ""}
# What each node reads. ${options.simulate ? "simulated-dht22 needs no hardware; use dht22 on a Pi with one wired." : "DHT22 at most every 2 s, DHT11 every 1 s."}
sensors:
${sensorLines}

# Event-time windows, for every metric: tumbling { size }, or hopping { size, hop }.
windows:
  - { name: 1m, size: 1m }
  - { name: 30m, size: 30m }

# Alarms, raised and cleared per device.
rules:
  - { kind: threshold, name: overheat, metric: temperature, above: 35, clearBelow: 33, for: 1m }
  - { kind: stale, name: silent, after: 5m }

processing:
  # Readings this much out of order still land in their window before it is first emitted.
  watermarkDelay: 2s
  # How long after its first emission a window still takes late readings (and is re-emitted).
  allowedLateness: 5s

# The topics and payloads devices already send (docs/ingest-routes.md). Try one with
# \`bramble route test -c <file> <topic> '<payload>'\`. Anything published on a topic no route
# takes is dead-lettered as NoRoute (with MQTT QoS 1), never silently dropped.
ingest:
  routes:
    # {"sensor_id": 1, "temperature": 25.5, "humidity": 60, "timestamp": "2023-05-20T10:00:00Z"}
    - { name: collector, topic: "sensors/#", dialect: json, deviceField: sensor_id, timeField: timestamp }
    # {"time": 1700000000.123, "temperature": 21.0, "humidity": 40.0} on dht/<device> (time in seconds)
    - { name: dht, topic: dht/+device, dialect: json, timeField: time, timeUnit: s }
    # {"generatorID": "g1", "fuel": 480, "lat": 40.1, "lon": -74.2, "power": 3.2, "load": 0.7, "temperature": 71}
    - { name: generator, topic: generators/+site/data, dialect: json, deviceField: generatorID, ignore: [lat, lon] }
    # Tasmota / Home Assistant / ESPHome: a plain number (21.5) on home/<room>/<metric>.
    - { name: home, topic: home/+room/+metric, dialect: value, device: "{room}" }
    # Telegraf's MQTT output and gateways: InfluxDB line protocol, the host tag names the device.
    - { name: telegraf, topic: "telegraf/#", dialect: line-protocol, deviceTag: host }

${sinkSection(options.sink)}`
}
