/** Cluster files shared by the strictness and JSON Schema tests. */

/** The typo file of issue 16: `rule:` for `rules:`, `intervall:` and `tokn:`. */
export const TYPO_FILE = `cluster:
  name: home
nodes:
  - name: pi1
sensors:
  - device: greenhouse-1
    node: pi1
    kind: dht22
    intervall: 10s
rule:
  - { kind: threshold, name: overheat, metric: temperature, above: 35 }
sink:
  kind: influx-v2
  url: http://127.0.0.1:8086
  tokn: abc
`

/** A file with every section and every kind, each object in it at least once. */
export const EVERYTHING = `cluster: { name: home, partitions: 4, dataDir: /var/lib/bramble }
nodes:
  - name: pi1
    host: 10.0.0.11
    httpPort: 9464
    heapLimit: 384MiB
    nats: { port: 4222, mqttPort: 1883, clusterPort: 6222, httpPort: 8222 }
  - name: pi2
    host: 10.0.0.12
    nats: { url: "nats://10.0.0.11:4222" }
sensors:
  - device: greenhouse-1
    node: pi1
    kind: dht22
    interval: 1d12h
    calibration: { temperature: { offset: -0.5, scale: 1 } }
    outbox: { maxReadings: 1000 }
  - { device: door, node: pi2, kind: gpio-input, pin: 17, edge: rising, debounce: 50ms, activeLow: true }
  - device: boiler-1
    node: pi2
    kind: modbus-tcp
    host: 10.0.0.50
    unit: 3
    interval: 5s
    registers:
      - { metric: temperature, address: 30001, type: int16, scale: 0.1, deadband: 0.5 }
      - { metric: pressure, address: 40010, type: float32, wordOrder: little, deadband: "2%", maxSilence: 5m }
      - { metric: running, coil: 5 }
  - { device: meter-1, node: pi2, kind: modbus-rtu, port: /dev/ttyUSB0, baudRate: 19200, parity: even, unit: 7, registers: [{ metric: energy, holding: 0, type: uint32 }] }
  - { device: tank, node: pi1, kind: ds18b20, probes: { water: 28-0316a2796dff }, deadband: 0.25 }
actuators:
  - { name: fan, node: pi1, pin: 5, on: { rule: overheat } }
  - { name: siren, node: pi2, kind: simulated-gpio-output, pin: 6, on: [{ rule: overheat, device: greenhouse-1 }] }
windows:
  - { name: 1m, size: 1m }
  - { name: 5m-by-1m, size: 5m, hop: 1m }
streams:
  readings: { maxAge: 7d, maxBytes: 1GiB }
  aggregates: { maxAge: 90d }
  alarms: { maxBytes: 256MiB }
  deadLetter: { maxAge: 30d }
rules:
  - { kind: threshold, name: overheat, metric: temperature, above: 35, clearBelow: 33, for: 1m, devices: [greenhouse-1] }
  - { kind: rate, name: fast-rise, metric: temperature, maxPerMinute: 2 }
  - { kind: stale, name: silent, after: 5m }
processing: { watermarkDelay: 2s, allowedLateness: 5s, idleAdvance: 5s, checkpointInterval: 1s, batchSize: 1000, passivateAfter: 5m, maxPayload: 16KiB }
sink:
  kind: influx-v2
  url: http://127.0.0.1:8086
  tokenEnv: INFLUX_TOKEN
forward:
  - kind: thingsboard
    name: tb
    url: http://thingsboard.local:8080
    devices: [{ device: greenhouse-1, tokenEnv: TB_GREENHOUSE_1 }]
  - kind: webhook
    name: hook
    source: alarms
    url: https://example.com/hook
    headers: { X-Site: home }
    secretEnv: HOOK_SECRET
ingest:
  routes:
    - { name: collector, topic: "sensors/#", dialect: json, deviceField: sensor_id, timeField: timestamp, timeUnit: s, values: [temperature], ignore: [lat] }
    - { name: home, topic: home/+room/+metric, dialect: value, device: "{room}", sensor: env, metric: "{metric}" }
    - { name: telegraf, topic: "telegraf/#", dialect: line-protocol, deviceTag: host }
security:
  credentials: /etc/bramble/credentials
  devices: [{ id: outdoor-1, transport: mqtt }]
  tls: { enabled: true }
`
