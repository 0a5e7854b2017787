/**
 * The cluster file: one validated document describing every node, sensor, stream, window
 * and sink of a bramble (docs/design.md, decision 9). Decoding it is the only way to get a
 * `ClusterConfig`, so everything that starts has already been checked.
 */
import { Schema } from "effect"
import { Calibration, Name, Outbox, Port, withDefault } from "./Common.js"
import { ExprRule, Severity } from "./ExprRules.js"
import { FieldInput } from "./FieldInputs.js"
import { Ingest } from "./IngestRoute.js"
import { Bytes, Millis } from "./Units.js"

/** Per-value calibration; defined in Common.ts so that field inputs (I2C chips) share it. */
export { Calibration }

export { Name, Outbox }

/** How a node reaches NATS: the nats-server it starts and supervises, or an existing one. */
export const NodeNats = Schema.Struct({
  /** Use this server instead of starting one (e.g. "nats://10.0.0.5:4222"). */
  url: Schema.optionalKey(Schema.String),
  port: withDefault(Port, 4222),
  mqttPort: withDefault(Port, 1883),
  clusterPort: withDefault(Port, 6222),
  httpPort: withDefault(Port, 8222)
})

/** The port of Bramble's own HTTP server on a node; 0 turns it off. */
export const DEFAULT_HTTP_PORT = 9464

const MiB = 1024 * 1024

/**
 * The default V8 heap limit of a node, in bytes (768 MiB). Chosen on purpose rather than
 * left to V8, which sizes a heap from the machine's memory (half of it on a 64-bit Pi, up
 * to 2 GiB; 4 GiB on a machine with more than 16 GB). Left at V8's largest limit, the heap
 * grows up to 4x its live size between full collections; under a limit below that V8
 * grows it by 1.3x-2x and never past half-way to the limit, so a node holds little more
 * than what it uses. 768 MiB is 3x what 100,000 active devices keep live (measured: 240 MB,
 * ~2.2 KB each plus the node's ~30 MB), is below the 1 GiB at which 32-bit V8 goes back to
 * the 4x growth, and keeps RSS at 10,000 active devices near 210 MB instead of 300-470 MB
 * (docs/performance.md). Boards with 1 GB or less should set a smaller `heapLimit`
 * (deploy/README.md): on them the default is above what V8 would choose.
 */
export const DEFAULT_HEAP_LIMIT = 768 * MiB

/** Smallest heap a node starts and runs in: its own code and caches take ~60 MB. */
export const MIN_HEAP_LIMIT = 96 * MiB

/** A node's V8 heap limit: a size between 96 MiB and 16 GiB. */
export const HeapLimit = Bytes.check(
  Schema.makeFilter((bytes: number) =>
    (bytes >= MIN_HEAP_LIMIT && bytes <= 16 * 1024 * MiB) ||
    "Expected a heap limit between 96MiB and 16GiB (e.g. 192MiB on a 512 MB board, 384MiB on 1 GB, 768MiB from 2 GB up)"
  )
)

export const Node = Schema.Struct({
  name: Name,
  /** Address other nodes and devices use to reach this node. */
  host: withDefault(Schema.String, "127.0.0.1"),
  nats: withDefault(NodeNats, {}),
  /** Bramble's own HTTP server: the live dashboard and Prometheus `/metrics` (not to be
   * confused with `nats.httpPort`, nats-server's monitoring). 0 turns it off. */
  httpPort: withDefault(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 })), DEFAULT_HTTP_PORT),
  /** The node process's V8 heap limit (Node.js `--max-old-space-size`), e.g. "384MiB".
   * `bramble deploy` puts it in the node's systemd unit as `NODE_OPTIONS`, the local
   * launchers pass it to the nodes they start. Default 768MiB (~140,000 active devices);
   * use 192MiB on a 512 MB board and 384MiB on a 1 GB one; in general at least
   * 2 x (30 MB + 2.5 KB per active device). A node whose live heap outgrows it stops with
   * "heap out of memory" and is restarted, so raise it with the load. */
  heapLimit: withDefault(HeapLimit, "768MiB")
})
export type Node = typeof Node.Type

/**
 * What a sensor is. `dht11`/`dht22` read a DHT through node-dht-sensor, `gpio-input` watches a
 * digital input (door contact, PIR, button) through onoff; the `simulated-` kinds use the
 * simulated twins (as does every kind with `bramble node --simulate`). `synthetic` is a
 * software sensor for load tests and benchmarks: no hardware, `{ value }` every `interval`,
 * which may be as short as 10 ms.
 */
export const SensorKind = Schema.Literals([
  "dht11",
  "dht22",
  "simulated-dht11",
  "simulated-dht22",
  "gpio-input",
  "simulated-gpio-input",
  "synthetic"
])
export type SensorKind = typeof SensorKind.Type

/** A BCM GPIO number on the 40-pin header. */
const GpioPin = Schema.Int.check(
  Schema.isBetween({ minimum: 0, maximum: 27 }, { message: "Expected a BCM GPIO number 0..27 (not a physical header position)" })
)

/** The fields of a sensor wired to a GPIO pin (DHT, digital input) or of the synthetic one. */
const pinSensorFields = {
  /** The device id readings are published under. */
  device: Name,
  /** The sensor name on that device (the subject's last token). */
  sensor: withDefault(Name, "env"),
  /** The node whose process reads it. */
  node: Name,
  /** BCM GPIO number the sensor is wired to (not used by `synthetic`). */
  pin: withDefault(GpioPin, 4),
  /** How often to read (DHT, synthetic); never faster than the sensor allows (DHT22 2 s, DHT11 1 s). */
  interval: withDefault(Millis, "2s"),
  /** DHT: most read attempts per interval; only as many as the model's minimum interval lets fit. */
  attempts: withDefault(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10 })), 3),
  /** DHT: read intervals in a row without a reading that raise the `sensor-fault` alarm. */
  faultAfter: withDefault(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000 })), 5),
  /** Per value (`temperature`, `humidity`; `value` for synthetic), applied before publishing. */
  calibration: Schema.optionalKey(Schema.Record(Name, Calibration)),
  /** gpio-input: which transitions are readings. */
  edge: withDefault(Schema.Literals(["rising", "falling", "both"]), "both"),
  /** gpio-input: edges closer together than this are one (contact bounce). */
  debounce: withDefault(Millis, "50ms"),
  /** gpio-input: logical 1 (pressed, open, motion) is the low level. */
  activeLow: withDefault(Schema.Boolean, false),
  outbox: withDefault(Outbox, {})
}

/** A sensor wired to a GPIO pin, or the synthetic one: one member per kind, so that a
 * mistake is reported against the kind written (the union is told apart by `kind`). */
export const PinSensor = SensorKind.mapMembers((kinds) => kinds.map((kind) => Schema.Struct({ ...pinSensorFields, kind })))
export type PinSensor = typeof PinSensor.Type

/** An entry of `sensors`: a pin sensor or a field input (Modbus, see FieldInputs.ts). */
export const Sensor = Schema.Union([...PinSensor.members, ...FieldInput.members])
export type Sensor = typeof Sensor.Type

/** Which alarms switch an actuator on: a rule, for one device or for all. */
export const AlarmMatcher = Schema.Struct({
  rule: Name,
  device: Schema.optionalKey(Name)
})

/** `gpio-output` drives a pin through onoff; `simulated-gpio-output` the simulated twin. */
export const ActuatorKind = Schema.Literals(["gpio-output", "simulated-gpio-output"])

/** A digital output (relay, LED, buzzer), on while any alarm it watches is raised. */
export const Actuator = Schema.Struct({
  name: Name,
  /** The node whose process drives it. */
  node: Name,
  kind: withDefault(ActuatorKind, "gpio-output"),
  pin: GpioPin,
  /** The load is on when the pin is low (many relay boards). */
  activeLow: withDefault(Schema.Boolean, false),
  /** One matcher or a list: on while any matching alarm is raised. */
  on: Schema.Union([AlarmMatcher, Schema.Array(AlarmMatcher).check(Schema.isMinLength(1))])
})
export type Actuator = typeof Actuator.Type

export const Window = Schema.Struct({
  name: Name,
  size: Millis.check(Schema.isGreaterThan(0)),
  /** Hopping windows: a new window starts every `hop` (default: `size`, i.e. tumbling). */
  hop: Schema.optionalKey(Millis.check(Schema.isGreaterThan(0)))
})
export type Window = typeof Window.Type

export const StreamLimits = Schema.Struct({
  maxAge: withDefault(Millis, "7d"),
  maxBytes: withDefault(Bytes, "1GiB")
})

export const Streams = Schema.Struct({
  readings: withDefault(StreamLimits, {}),
  aggregates: withDefault(StreamLimits, { maxAge: "90d" }),
  alarms: withDefault(StreamLimits, { maxAge: "90d", maxBytes: "256MiB" }),
  deadLetter: withDefault(StreamLimits, { maxAge: "30d", maxBytes: "256MiB" })
})

/** The time-series database. `influx-v2` speaks the v2 write API (InfluxDB 2.x/3.x, 1.8+,
 * victoria-metrics); `influx-v1` speaks InfluxDB 1.x's `/write` (32-bit Pis). */
export const Sink = Schema.Union([
  Schema.Struct({
    kind: Schema.Literal("influx-v2"),
    url: Schema.String,
    org: withDefault(Schema.String, "bramble"),
    bucket: withDefault(Schema.String, "bramble"),
    /** Name of the environment variable holding the token (never put the token itself here). */
    tokenEnv: Schema.optionalKey(Schema.String),
    /** File holding the token. */
    tokenFile: Schema.optionalKey(Schema.String),
    batchSize: withDefault(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 50_000 })), 5000),
    /** Gzip request bodies (default: on, except for a database on this machine). */
    gzip: Schema.optionalKey(Schema.Boolean)
  }),
  Schema.Struct({
    kind: Schema.Literal("influx-v1"),
    url: Schema.String,
    database: withDefault(Schema.String, "bramble"),
    username: Schema.optionalKey(Schema.String),
    passwordEnv: Schema.optionalKey(Schema.String),
    passwordFile: Schema.optionalKey(Schema.String),
    batchSize: withDefault(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 50_000 })), 5000),
    gzip: Schema.optionalKey(Schema.Boolean)
  })
])
export type Sink = typeof Sink.Type

/** An alarm rule (see actors/aggregator/src/Rules.ts for the semantics; `expr` in ExprRules.ts). */
export const Rule = Schema.Union([
  Schema.Struct({
    kind: Schema.Literal("threshold"),
    name: Name,
    metric: Name,
    /** Raise when the value is below this (or use `above`). */
    below: Schema.optionalKey(Schema.Finite),
    above: Schema.optionalKey(Schema.Finite),
    /** Hysteresis: clear only above this (for `below`) / below this (for `above`). */
    clearAbove: Schema.optionalKey(Schema.Finite),
    clearBelow: Schema.optionalKey(Schema.Finite),
    /** The condition must hold this long (event time) before the alarm is raised. */
    for: Schema.optionalKey(Millis),
    severity: Schema.optionalKey(Severity),
    notifyEvery: Schema.optionalKey(Millis),
    devices: Schema.optionalKey(Schema.Array(Name))
  }),
  Schema.Struct({
    kind: Schema.Literal("rate"),
    name: Name,
    metric: Name,
    /** Raise when the value changes faster than this per minute (absolute). */
    maxPerMinute: Schema.Finite.check(Schema.isGreaterThan(0)),
    severity: Schema.optionalKey(Severity),
    notifyEvery: Schema.optionalKey(Millis),
    devices: Schema.optionalKey(Schema.Array(Name))
  }),
  Schema.Struct({
    kind: Schema.Literal("stale"),
    name: Name,
    /** Raise when a device has sent nothing for this long (event time). */
    after: Millis.check(Schema.isGreaterThan(0)),
    severity: Schema.optionalKey(Severity),
    notifyEvery: Schema.optionalKey(Millis),
    devices: Schema.optionalKey(Schema.Array(Name))
  }),
  ExprRule
])
export type Rule = typeof Rule.Type

export const Processing = Schema.Struct({
  /** How far the watermark trails the newest event time: readings this much out of order
   * still land in their window before it is first emitted. */
  watermarkDelay: withDefault(Millis, "2s"),
  /** How long after its first emission a window still accepts late readings; each late
   * reading re-emits the corrected result (same key, so the database overwrites). Later
   * readings are dead-lettered as TooLate. */
  allowedLateness: withDefault(Millis, "5s"),
  /** With no new readings for this long (processing time), a partition's watermark moves
   * on by the time that passed, so the windows of quiet devices still close. */
  idleAdvance: withDefault(Millis, "5s"),
  /** How often window state and the stream position are checkpointed (and acked). */
  checkpointInterval: withDefault(Millis, "1s"),
  /** Readings fetched from the log per pull. */
  batchSize: withDefault(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000 })), 1000),
  /** Idle device actors are passivated after this long. */
  passivateAfter: withDefault(Millis, "5m"),
  /** Largest accepted reading payload. */
  maxPayload: withDefault(Bytes, "16KiB"),
  /** A reading stamped further ahead of the time the log stored it is refused as
   * `ClockAhead` (its device's clock runs ahead). Within it, a reading counts in its own
   * windows but moves the partition's watermark no further than the stored time, so no
   * device's clock can make its neighbours' readings late. */
  maxClockAhead: withDefault(Millis, "1m")
})

const ABSOLUTE = /^\/[^\0]*$/
/** A path on the Pi. Absolute, because the node runs under systemd, whose working directory is `/`. */
const AbsolutePath = Schema.String.check(
  Schema.isPattern(ABSOLUTE, { message: "Expected an absolute path (starting with /)" })
)

/** A device that connects from outside the cluster (MQTT or NATS) with a credential of its own. */
export const SecureDevice = Schema.Struct({
  /** The device id it publishes under (`ingest/<id>/<sensor>`); also its user name, `device:<id>`. */
  id: Name,
  /** The one transport its credential works on. MQTT devices need `$MQTT.sub.>` for QoS 1
   * subscriptions, which a NATS connection must never get (it would see every device's
   * deliveries), so a credential is for one or the other. */
  transport: withDefault(Schema.Literals(["mqtt", "nats"]), "mqtt")
})
export type SecureDevice = typeof SecureDevice.Type

/** TLS for client, MQTT and route connections. Files default to `<credentials>/tls/…`. */
export const Tls = Schema.Struct({
  enabled: withDefault(Schema.Boolean, true),
  /** The CA that signed every server certificate (clients and routes verify against it). */
  caFile: Schema.optionalKey(AbsolutePath),
  /** This node's certificate and key. The cluster file is the same on every Pi, so a path here
   * names the same place on each, where each Pi keeps its own (default `tls/<node>.crt`). */
  certFile: Schema.optionalKey(AbsolutePath),
  keyFile: Schema.optionalKey(AbsolutePath)
})
export type Tls = typeof Tls.Type

/**
 * Authentication, permissions and TLS. Without this section nothing is authenticated (the
 * demo, tests on loopback). Credentials never appear in the cluster file: it names the
 * directory `bramble deploy creds` wrote, and each Pi holds the files it needs there.
 */
export const Security = Schema.Struct({
  /** Directory of generated credentials: password hashes, node passwords, TLS files. */
  credentials: AbsolutePath,
  /** Devices outside the cluster that get their own credential (sensors wired to a node
   * publish with the node's credential and need none). */
  devices: withDefault(Schema.Array(SecureDevice), []),
  tls: Schema.optionalKey(Tls)
})
export type Security = typeof Security.Type

/** Security checks that span sections: every problem at its own path. */
const securityProblems = (config: {
  readonly nodes: ReadonlyArray<Node>
  readonly security?: Security
}): Array<{ path: ReadonlyArray<PropertyKey>; issue: string }> => {
  const security = config.security
  if (security === undefined) return []
  const problems: Array<{ path: ReadonlyArray<PropertyKey>; issue: string }> = []
  const seen = new Map<string, number>()
  security.devices.forEach((device, i) => {
    const first = seen.get(device.id)
    if (first === undefined) seen.set(device.id, i)
    else problems.push({ path: ["security", "devices", i, "id"], issue: `device "${device.id}" is already listed at index ${first}` })
  })
  const servers = config.nodes.filter((n) => n.nats.url === undefined).length
  if (servers > 1 && security.tls?.enabled !== true) {
    problems.push({
      path: ["security", "tls"],
      issue: "a cluster of more than one nats-server needs `tls: { enabled: true }`: servers authenticate their routes to each other by certificate, and without TLS anyone on the network could join as a route"
    })
  }
  const tls = security.tls
  if (tls !== undefined && (tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    problems.push({ path: ["security", "tls"], issue: "certFile and keyFile go together" })
  }
  return problems
}

/** An http(s) URL without credentials in it (those come from env or files, like every secret). */
const HttpUrl = Schema.String.check(Schema.makeFilter((text: string) => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return "Expected an absolute URL such as http://thingsboard.local:8080"
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `Expected an http:// or https:// URL, not ${url.protocol}`
  if (url.username !== "" || url.password !== "") return "credentials do not belong in the URL: name an environment variable or a file instead"
  return true
}))

/** The name of an environment variable. */
const EnvName = Schema.String.check(
  Schema.isPattern(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: "Expected an environment variable name (letters, digits, _)" })
)

/** An HTTP header name (an RFC 9110 token). */
const HeaderName = Schema.String.check(
  Schema.isPattern(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/, { message: "Expected an HTTP header name" })
)

/** What a forward target receives: raw readings (READINGS), window results (AGGREGATES) or alarms (ALARMS). */
export const ForwardSource = Schema.Literals(["raw", "windows", "alarms"])
export type ForwardSource = typeof ForwardSource.Type

/** Fields every forward target has. */
const forwardCommon = {
  /** Names the target in logs and metrics, and its durable consumer `bramble-fwd-<name>`. */
  name: Name,
  source: withDefault(ForwardSource, "raw"),
  url: HttpUrl,
  /** Items per batch (ThingsBoard: split into one request per device). */
  batchSize: withDefault(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000 })), 100),
  /** Time allowed for one HTTP request. */
  timeout: withDefault(Millis.check(Schema.isGreaterThan(0)), "10s"),
  /** Longest wait between two retries while the receiver is down (the backoff's ceiling). */
  retryCap: withDefault(Millis.check(Schema.isGreaterThan(0)), "30s"),
  /** Where a new target starts: `new` (what arrives from now on) or `all` (everything the
   * stream still holds). Only read when the target's consumer is first created. */
  startFrom: withDefault(Schema.Literals(["new", "all"]), "new")
}

/** A ThingsBoard device's access token: from an environment variable or a file, never the cluster file. */
export const ThingsBoardDevice = Schema.Struct({
  device: Name,
  tokenEnv: Schema.optionalKey(EnvName),
  tokenFile: Schema.optionalKey(AbsolutePath)
})
export type ThingsBoardDevice = typeof ThingsBoardDevice.Type

/**
 * Where a node forwards data, besides the database: ThingsBoard's HTTP device API or any
 * webhook. Each target is fed from the log by a durable JetStream consumer of its own;
 * delivery is at-least-once (see docs/forwarding.md).
 */
export const ForwardTarget = Schema.Union([
  Schema.Struct({
    kind: Schema.Literal("thingsboard"),
    ...forwardCommon,
    /** Devices and their access tokens; readings of devices without one are skipped (counted). */
    devices: withDefault(Schema.Array(ThingsBoardDevice), []),
    /** A JSON file `{ "<device>": "<access token>", … }`, for many devices at once. */
    tokensFile: Schema.optionalKey(AbsolutePath)
  }),
  Schema.Struct({
    kind: Schema.Literal("webhook"),
    ...forwardCommon,
    /** Extra request headers (not secrets: use `headersEnv` for those). */
    headers: withDefault(Schema.Record(HeaderName, Schema.String), {}),
    /** Headers whose values come from environment variables (e.g. `Authorization: BEARER_TOKEN`). */
    headersEnv: Schema.optionalKey(Schema.Record(HeaderName, EnvName)),
    /** HMAC-SHA256 signing secret, from an environment variable or a file: adds
     * `X-Bramble-Signature: sha256=<hex>` over the body. */
    secretEnv: Schema.optionalKey(EnvName),
    secretFile: Schema.optionalKey(AbsolutePath)
  })
]).annotate({ expected: "a forward target with `kind: thingsboard` or `kind: webhook`" })
export type ForwardTarget = typeof ForwardTarget.Type

export const ClusterConfig = Schema.Struct({
  cluster: Schema.Struct({
    name: Name,
    /** Fixed when the cluster is created: it is baked into every stored subject. */
    partitions: withDefault(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1024 })), 8),
    /** Where nodes keep JetStream data and logs (relative paths are relative to the file). */
    dataDir: withDefault(Schema.String, ".bramble")
  }),
  nodes: Schema.Array(Node).check(Schema.isMinLength(1)),
  sensors: withDefault(Schema.Array(Sensor), []),
  actuators: withDefault(Schema.Array(Actuator), []),
  windows: withDefault(Schema.Array(Window), [{ name: "1m", size: "1m" }, { name: "30m", size: "30m" }]),
  streams: withDefault(Streams, {}),
  rules: withDefault(Schema.Array(Rule), []),
  processing: withDefault(Processing, {}),
  sink: Sink,
  /** Forward targets (ThingsBoard, webhooks); none by default. */
  forward: Schema.optionalKey(Schema.Array(ForwardTarget)),
  security: Schema.optionalKey(Security),
  /** Ingest routes for the topics and payloads devices already send (docs/ingest-routes.md). */
  ingest: Schema.optionalKey(Ingest)
}).check(Schema.makeFilter(securityProblems))
export type ClusterConfig = typeof ClusterConfig.Type
