/**
 * Every NATS subject Bramble uses is built here, and nowhere else.
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

/** Subjects captured by the READINGS stream. */
export const READINGS_SUBJECTS = ["readings.*.*.*"]

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
export const AGGREGATES_SUBJECTS = ["aggregates.>"]

/** Forecasts of a metric's next window: `aggregates.<device>.<sensor>.<metric>.<window>.forecast`. */
export const forecastSubject = (device: string, sensor: string, metric: string, window: string): string =>
  `${aggregatesSubject(device, sensor, metric, window)}.forecast`

/** Alarm events: `alarms.<device>.<rule>`. */
export const alarmsSubject = (device: string, rule: string): string => `alarms.${device}.${rule}`
export const ALARMS_SUBJECTS = ["alarms.>"]

/** Dead letters: `deadletter.<reason>`, so operators can subscribe to one kind of rejection. */
export const deadLetterSubject = (reason: string): string => `deadletter.${reason}`
export const DEADLETTER_SUBJECTS = ["deadletter.>"]

/** JetStream de-duplication id of a published reading: device + sequence. */
export const readingMsgId = (device: string, sensor: string, seq: number): string => `${device}.${sensor}.${seq}`
