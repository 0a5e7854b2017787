/**
 * Every NATS subject Bramble uses is built here, and nowhere else (the admin protocol's in
 * ./Admin.ts).
 *
 * Ingest: devices publish to `ingest.<device>.<sensor>` (MQTT topic `ingest/<device>/<sensor>`).
 * nats-server's subject mapping rewrites that, for MQTT and NATS alike, to
 * `readings.<partition>.<device>.<sensor>` before the READINGS stream stores it, so the
 * partition is decided deterministically in the server (docs/design.md, decision 2).
 */

/** Ids that appear as subject tokens (devices, sensors, metrics, windows): no dots, no
 * wildcards, no spaces, no MQTT separators. A hostile id can therefore never reach another
 * device's subject or add tokens. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/

/** True when `token` is safe as a single subject token. */
export const isToken = (token: string): boolean => TOKEN_PATTERN.test(token)

/**
 * The white space NATS clients split a delivered message's control line on
 * (`MSG <subject> <sid> [reply] <size>`): space, tab, CR, LF. nats-server 2.9 turns an MQTT
 * topic level holding a tab or a line break into a subject holding it, stores it and
 * delivers it — and the client that receives it cannot parse the line (nats.js then stops
 * reading that connection, silently). Other control characters (`\u0000`, `\u000b`) cross
 * the protocol intact; `isToken` refuses them, so they are dead-lettered like any bad id.
 */
const PROTOCOL_WHITESPACE = /[ \t\r\n]/

/**
 * True when a NATS client can be sent a message stored under `subject`: it holds none of
 * the white space the client protocol splits on. A stored subject that fails this is set
 * aside before delivery (cluster/src/partition/Quarantine.ts), never delivered.
 */
export const isDeliverableSubject = (subject: string): boolean => !PROTOCOL_WHITESPACE.test(subject)

/** `subject` with control characters, quotes and backslashes escaped as in JSON (`\n`,
 * `\t`, `\u0000`), so it can be logged, printed or stored as text without breaking a line. */
export const escapeSubject = (subject: string): string => JSON.stringify(subject).slice(1, -1)

/** The stream names; fixed so operators can find them with the `nats` CLI. */
export const Streams = {
  readings: "READINGS",
  aggregates: "AGGREGATES",
  alarms: "ALARMS",
  deadLetter: "DEADLETTER"
} as const

/** Where a device publishes a reading (NATS form). */
export const ingestSubject = (device: string, sensor: string): string => `ingest.${device}.${sensor}`

/** The MQTT topic a device publishes to (MQTT uses `/` where NATS uses `.`). */
export const ingestTopic = (device: string, sensor: string): string => `ingest/${device}/${sensor}`

/** Source pattern of the server-side partition mapping. */
export const INGEST_PATTERN = "ingest.*.*"

/** Destination of the partition mapping: `readings.<p>.<device>.<sensor>`. */
export const partitionMapping = (partitions: number): Record<string, string> => ({
  [INGEST_PATTERN]: `readings.{{partition(${partitions},1)}}.{{wildcard(1)}}.{{wildcard(2)}}`
})

const FNV_OFFSET_BASIS = 0x811c9dc5
const FNV_PRIME = 0x01000193
const utf8 = new TextEncoder()

/** FNV-1a, 32 bit, over the UTF-8 bytes of `text`: the hash nats-server's `partition()` uses. */
export const fnv1a32 = (text: string): number => {
  let hash = FNV_OFFSET_BASIS
  for (const byte of utf8.encode(text)) {
    hash ^= byte
    hash = Math.imul(hash, FNV_PRIME)
  }
  return hash >>> 0
}

/** The partition the server's mapping puts `device` in (`{{partition(n,1)}}`). */
export const partitionOfDevice = (device: string, partitions: number): number => fnv1a32(device) % partitions

/**
 * Every subject of each stream's family, at any depth: what permissions grant and what a
 * client subscribes to when it wants all of it.
 */
export const StreamWildcards = {
  readings: "readings.>",
  aggregates: "aggregates.>",
  alarms: "alarms.>",
  deadLetter: "deadletter.>"
} as const

/** Subjects captured by the READINGS stream. */
export const READINGS_SUBJECTS = ["readings.*.*.*"]

/** Every reading of `device`, in whichever partition: `readings.*.<device>.*`. */
export const deviceReadingsFilter = (device: string): string => `readings.*.${device}.*`

/** One partition's slice of READINGS. */
export const partitionFilter = (partition: number): string => `readings.${partition}.*.*`

/** A reading's stored subject. */
export const readingsSubject = (partition: number, device: string, sensor: string): string =>
  `readings.${partition}.${device}.${sensor}`

/** Split a stored readings subject; undefined when it is not one. */
export const parseReadingsSubject = (
  subject: string
): { readonly partition: number; readonly device: string; readonly sensor: string } | undefined => {
  const parts = subject.split(".")
  if (parts.length !== 4 || parts[0] !== "readings") return undefined
  const partition = Number(parts[1])
  const device = parts[2]!
  const sensor = parts[3]!
  if (!Number.isInteger(partition) || partition < 0 || !isToken(device) || !isToken(sensor)) return undefined
  return { partition, device, sensor }
}

/** Window results: `aggregates.<device>.<sensor>.<metric>.<window>` (MQTT: `aggregates/…`). */
export const aggregatesSubject = (device: string, sensor: string, metric: string, window: string): string =>
  `aggregates.${device}.${sensor}.${metric}.${window}`
export const AGGREGATES_SUBJECTS = [StreamWildcards.aggregates]

/** Whether `subject` is a window result's or a forecast's. */
export const isAggregatesSubject = (subject: string): boolean => subject.startsWith("aggregates.")

/** Whether `subject` is a forecast's (`aggregates.….forecast`). */
export const isForecastSubject = (subject: string): boolean => isAggregatesSubject(subject) && subject.endsWith(".forecast")

/** Every window result and forecast of `device`: `aggregates.<device>.>`. */
export const deviceAggregatesFilter = (device: string): string => `aggregates.${device}.>`

/** Forecasts of a metric's next window: `aggregates.<device>.<sensor>.<metric>.<window>.forecast`. */
export const forecastSubject = (device: string, sensor: string, metric: string, window: string): string =>
  `${aggregatesSubject(device, sensor, metric, window)}.forecast`

/** Alarm events: `alarms.<device>.<rule>`. */
export const alarmsSubject = (device: string, rule: string): string => `alarms.${device}.${rule}`
export const ALARMS_SUBJECTS = [StreamWildcards.alarms]

/** Whether `subject` is an alarm event's. */
export const isAlarmsSubject = (subject: string): boolean => subject.startsWith("alarms.")

/** Every alarm event of `device`: `alarms.<device>.*`. */
export const deviceAlarmsFilter = (device: string): string => alarmsSubject(device, "*")

/** Dead letters: `deadletter.<reason>`, so operators can subscribe to one kind of rejection. */
export const deadLetterSubject = (reason: string): string => `deadletter.${reason}`
export const DEADLETTER_SUBJECTS = [StreamWildcards.deadLetter]

/** JetStream de-duplication id of a published reading: device + sequence. */
export const readingMsgId = (device: string, sensor: string, seq: number): string => `${device}.${sensor}.${seq}`

/** Commands to a device (actuators, configuration): `commands.<device>`, MQTT `commands/<device>/#`. */
export const commandsSubject = (device: string): string => `commands.${device}`

/**
 * Where a running forwarder of forward target `target`, reading `stream`, answers (request-reply,
 * the reply is who answers): how a node tells a forward consumer still in use by another node
 * from a stale one (actors/forwarder/src/StaleConsumers.ts).
 */
export const forwarderPresenceSubject = (stream: string, target: string): string => `bramble.forward.running.${stream}.${target}`

/**
 * nats-server's own MQTT subjects and streams, which Bramble reads (docs/design.md, decision 14).
 * A QoS 1 publish is stored in the stream `$MQTT_msgs` under `$MQTT.msgs.<subject>`; QoS 1
 * deliveries to an MQTT client go through `$MQTT.sub.<id>`, which its credential must allow.
 */
export const Mqtt = {
  messagesStream: "$MQTT_msgs",
  messagesPrefix: "$MQTT.msgs.",
  qos1Deliveries: "$MQTT.sub.>"
} as const

/** The subject under which `$MQTT_msgs` holds a QoS 1 publish to `subject`. */
export const mqttStoredSubject = (subject: string): string => `${Mqtt.messagesPrefix}${subject}`
