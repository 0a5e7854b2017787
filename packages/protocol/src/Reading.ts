/**
 * A reading: one device's sensor, one event time, one or more named numeric values.
 *
 * The wire payload (JSON from MQTT, msgpack from NATS) is decoded and validated here, at
 * the boundary, once; everything downstream trusts the `Reading` type. The device and the
 * sensor come from the subject (which nats-server permissions can bind to a device's
 * credentials), never from the payload alone: a payload naming another device is refused.
 */
import { Result, Schema } from "effect"
import * as Codec from "./Codec.js"
import { ReadingRejected } from "./Errors.js"
import { TOKEN_PATTERN } from "./Subjects.js"

/** A subject-safe id: `[A-Za-z0-9_-]{1,64}`. */
export const Token = Schema.String.check(
  Schema.isPattern(TOKEN_PATTERN, { message: "Expected 1-64 characters from A-Z a-z 0-9 _ -" })
)

/** Metric names become subject tokens and InfluxDB field names. They start with a letter,
 * which also keeps out `__proto__` (msgpackr renames that key to block prototype pollution,
 * so it could not round-trip). */
export const METRIC_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/
export const MetricName = Schema.String.check(
  Schema.isPattern(METRIC_PATTERN, { message: "Expected a letter then up to 63 characters from A-Z a-z 0-9 _ -" })
)

/** At most this many named values in one reading. */
export const MAX_VALUES = 32

/** The earliest event time accepted: 2000-01-01T00:00:00Z, in ms. Earlier numbers are
 * almost always seconds sent where milliseconds were expected. */
export const MIN_TIMESTAMP_MS = 946_684_800_000

/** Tag names: like metric names, but not `device` or `sensor` (the point's own tags). */
export const TAG_PATTERN = /^(?!(?:device|sensor)$)[A-Za-z][A-Za-z0-9_-]{0,63}$/
/** At most this many tags on one reading, each value at most this many characters. */
export const MAX_TAGS = 16
export const MAX_TAG_CHARS = 256
export const TagName = Schema.String.check(
  Schema.isPattern(TAG_PATTERN, { message: "Expected a letter then up to 63 characters from A-Z a-z 0-9 _ - (and not device or sensor: the point's own tags)" })
)
/** A reading's tags: what an ingest route keeps of a payload's labels (`region`, a
 * line-protocol tag). Stored as database tags beside device and sensor; windows do not
 * group by them (docs/ingest-routes.md). */
export const Tags = Schema.Record(TagName, Schema.String.check(Schema.isMaxLength(MAX_TAG_CHARS))).check(
  Schema.isMaxProperties(MAX_TAGS)
)

/** What a device sends. `ts` is milliseconds since the Unix epoch or an ISO-8601 string;
 * when absent, the time JetStream stored the message is the event time (deterministic
 * on replay, because it is part of the log). */
export const ReadingPayload = Schema.Struct({
  device: Schema.optional(Token),
  ts: Schema.optional(Schema.Union([Schema.Finite, Schema.String])),
  seq: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  values: Schema.Record(MetricName, Schema.Finite).check(
    Schema.isBetweenProperties(1, MAX_VALUES)
  ),
  tags: Schema.optional(Tags)
})
export type ReadingPayload = typeof ReadingPayload.Type

/** A validated reading, as every actor sees it. */
export const Reading = Schema.Struct({
  device: Token,
  sensor: Token,
  ts: Schema.Int,
  seq: Schema.optional(Schema.Int),
  values: Schema.Record(MetricName, Schema.Finite),
  tags: Schema.optional(Schema.Record(Schema.String, Schema.String))
})
export type Reading = typeof Reading.Type

/** Limits applied while decoding. */
export interface DecodeLimits {
  /** Largest accepted payload in bytes (nats-server 2.9 does not enforce max_payload on MQTT). */
  readonly maxPayloadBytes: number
  /** Beyond this far ahead of the time the log stored it, an event time is absurd
   * (`TimestampOutOfRange`: a unit or format mistake rather than a clock). */
  readonly maxFutureSkewMs: number
  /** Beyond this far ahead (and within `maxFutureSkewMs`), the device's clock runs ahead:
   * `ClockAhead`. Unset: no such check. */
  readonly maxClockAheadMs?: number
}

export const defaultDecodeLimits: DecodeLimits = { maxPayloadBytes: 16 * 1024, maxFutureSkewMs: 24 * 3600_000 }

/** How a device's clock compares with the log's, from one reading: the time JetStream stored
 * it minus its event time (ms). Negative: the device's clock runs ahead. Positive: transit
 * time, a buffer, or a clock that runs behind. */
export const clockSkewOf = (storedAtMs: number, ts: number): number => storedAtMs - ts

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`

const decodeWithSchema = Schema.decodeUnknownResult(ReadingPayload)

// Metric names repeat on every reading: remember the ones that passed (bounded, so hostile
// input cannot grow it).
const knownMetrics = new Set<string>()
const KNOWN_METRICS_LIMIT = 10_000

const isMetricName = (name: string): boolean => {
  if (knownMetrics.has(name)) return true
  if (!METRIC_PATTERN.test(name)) return false
  if (knownMetrics.size >= KNOWN_METRICS_LIMIT) knownMetrics.clear()
  knownMetrics.add(name)
  return true
}

/**
 * The payload every well-behaved device sends, recognised without the Schema interpreter:
 * a plain object with nothing but `device` (a token), `ts` (a finite number or a string),
 * `seq` (a non-negative safe integer) and `values` (1 to 32 metric names with finite
 * numbers). Anything else — an extra key, a missing field, a doubtful value — returns
 * undefined and goes to `ReadingPayload`, which decides and explains. So the Schema stays
 * the definition; this only skips its interpretation on the hot path (it was a tenth of
 * the node's CPU), and a property test checks that whatever this accepts the Schema accepts
 * with the same value (packages/protocol/test/Reading.test.ts).
 */
const fastPayload = (raw: unknown): ReadingPayload | undefined => {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || Object.getPrototypeOf(raw) !== Object.prototype) return undefined
  const o = raw as Record<string, unknown>
  for (const key in o) {
    if (key !== "values" && key !== "ts" && key !== "seq" && key !== "device") return undefined
  }
  const { device, ts, seq, values } = o
  if (device !== undefined && (typeof device !== "string" || !TOKEN_PATTERN.test(device))) return undefined
  if ("device" in o && device === undefined) return undefined
  if (ts !== undefined && !(typeof ts === "string" || (typeof ts === "number" && Number.isFinite(ts)))) return undefined
  if ("ts" in o && ts === undefined) return undefined
  if (seq !== undefined && !(typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0)) return undefined
  if ("seq" in o && seq === undefined) return undefined
  if (typeof values !== "object" || values === null || Array.isArray(values) || Object.getPrototypeOf(values) !== Object.prototype) return undefined
  let count = 0
  for (const name in values) {
    const value = (values as Record<string, unknown>)[name]
    if (typeof value !== "number" || !Number.isFinite(value) || !isMetricName(name)) return undefined
    count += 1
  }
  if (count < 1 || count > MAX_VALUES) return undefined
  return o as ReadingPayload
}

/** Decode a payload object: the fast path when it is sure, else the Schema. Exported for
 * the equivalence test only. */
export const decodePayload = (raw: unknown): Result.Result<ReadingPayload, Schema.SchemaError> => {
  const fast = fastPayload(raw)
  return fast === undefined ? decodeWithSchema(raw) : Result.succeed(fast)
}

/** The Schema alone (the reference the fast path is tested against). */
export const decodePayloadWithSchema = (raw: unknown): Result.Result<ReadingPayload, Schema.SchemaError> => decodeWithSchema(raw)

const reject = (reason: ReadingRejected["reason"], message: string) =>
  Result.fail(new ReadingRejected({ reason, message }))

const ROUTE_HINT = "a device on ingest/<device>/<sensor> sends {\"values\": {\"<metric>\": <number>}} as JSON or msgpack; " +
  "for plain numbers, flat JSON or line protocol give its topic an ingest route (docs/ingest-routes.md)"

/** At most this many readings in one batch record. */
export const MAX_BATCH = 10_000

/** The bytes as a payload object, or why they are not one. */
const parsePayload = (bytes: Uint8Array, limits: DecodeLimits): Result.Result<{ raw: unknown; json: boolean }, ReadingRejected> => {
  if (bytes.length > limits.maxPayloadBytes) {
    return reject("Oversized", `payload is ${bytes.length} bytes; the limit is ${limits.maxPayloadBytes}`)
  }
  const json = Codec.isJson(bytes)
  try {
    return Result.succeed({ raw: json ? Codec.decodeJson(bytes) : Codec.decode(bytes), json })
  } catch (error) {
    if (json) return reject("MalformedJson", `payload is not valid JSON: ${(error as Error).message}`)
    const text = Codec.asText(bytes)
    return text === undefined
      ? reject("MalformedMsgpack", `payload is neither JSON (starting with '{') nor valid msgpack: ${(error as Error).message}`)
      : reject("NotAReading", `payload is text (${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)}), not a reading: ${ROUTE_HINT}`)
  }
}

/** One payload object checked as a reading of `device`/`sensor`. */
const readingOf = (
  raw: unknown,
  json: boolean,
  bytes: Uint8Array | undefined,
  device: string,
  sensor: string,
  storedAtMs: number,
  limits: DecodeLimits
): Result.Result<Reading, ReadingRejected> => {
  const decoded = decodePayload(raw)
  if (Result.isFailure(decoded)) {
    // Short text ("5", "on") is valid msgpack (a number, a string): still text, not a reading.
    const text = bytes !== undefined && !json && (typeof raw !== "object" || raw === null) ? Codec.asText(bytes) : undefined
    if (text !== undefined) return reject("NotAReading", `payload is text (${JSON.stringify(text.slice(0, 60))}), not a reading: ${ROUTE_HINT}`)
    const flat = typeof raw === "object" && raw !== null && !("values" in raw)
    return reject("SchemaMismatch", decoded.failure.message.replace(/\s*\n\s*/g, " ") + (flat ? ` (${ROUTE_HINT})` : ""))
  }
  const payload = decoded.success
  if (payload.tags !== undefined) {
    // A Record drops keys its key Schema refuses: name the first one instead of losing it.
    const bad = Object.keys((raw as { tags: object }).tags).find((name) => !TAG_PATTERN.test(name))
    if (bad !== undefined) return reject("SchemaMismatch", `tag ${JSON.stringify(bad.slice(0, 64))} cannot be a tag name (a letter, then up to 63 of A-Z a-z 0-9 _ -; not device or sensor)`)
  }
  if (payload.device !== undefined && payload.device !== device) {
    return reject("DeviceMismatch", `payload names device "${payload.device}" but was published on the subject of "${device}"`)
  }
  const ts = payload.ts === undefined
    ? storedAtMs
    : typeof payload.ts === "number"
    ? payload.ts
    : Date.parse(payload.ts)
  if (!Number.isInteger(ts) || ts < MIN_TIMESTAMP_MS || ts > storedAtMs + limits.maxFutureSkewMs) {
    const hint = typeof payload.ts === "number" && payload.ts > 0 && payload.ts < MIN_TIMESTAMP_MS
      ? " (it looks like seconds: send milliseconds since the epoch)"
      : ""
    return reject(
      "TimestampOutOfRange",
      `ts ${JSON.stringify(payload.ts)} is not an integer millisecond time between 2000-01-01 and ${limits.maxFutureSkewMs} ms after arrival${hint}`
    )
  }
  if (limits.maxClockAheadMs !== undefined && ts > storedAtMs + limits.maxClockAheadMs) {
    return Result.fail(
      new ReadingRejected({
        reason: "ClockAhead",
        message: `event time ${new Date(ts).toISOString()} is ${seconds(ts - storedAtMs)} ahead of the time the log stored the reading ` +
          `(${new Date(storedAtMs).toISOString()}); the limit is ${seconds(limits.maxClockAheadMs)}: the device's clock runs ahead ` +
          "(synchronise it with NTP, or leave ts out and the stored time is used)",
        eventTime: ts
      })
    )
  }
  const reading: { -readonly [K in keyof Reading]: Reading[K] } = { device, sensor, ts, values: payload.values }
  if (payload.seq !== undefined) reading.seq = payload.seq
  if (payload.tags !== undefined && Object.keys(payload.tags).length > 0) reading.tags = payload.tags
  return Result.succeed(reading)
}

/** A batch record: `{"readings": [<payload>, …]}`, several readings of one device and sensor in
 * one message (what the ingest router and the write endpoint publish: one message per device
 * per batch costs the node far less per reading than one message each). */
const batchOf = (raw: unknown): ReadonlyArray<unknown> | undefined => {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined
  const o = raw as Record<string, unknown>
  if (!Array.isArray(o.readings)) return undefined
  for (const key in o) if (key !== "readings") return undefined
  return o.readings
}

/**
 * Decode and validate one payload published by `device`/`sensor` (taken from the subject)
 * and stored by JetStream at `storedAtMs`. Synchronous: this is the ingest hot path. A batch
 * record is refused here (`SchemaMismatch`): where one may be stored, use `decodeReadings`.
 */
export const decodeReading = (
  bytes: Uint8Array,
  device: string,
  sensor: string,
  storedAtMs: number,
  limits: DecodeLimits = defaultDecodeLimits
): Result.Result<Reading, ReadingRejected> => {
  const parsed = parsePayload(bytes, limits)
  if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
  if (batchOf(parsed.success.raw) !== undefined) return reject("SchemaMismatch", "payload is a batch record ({\"readings\": [...]}), not one reading")
  return readingOf(parsed.success.raw, parsed.success.json, bytes, device, sensor, storedAtMs, limits)
}

/** What one stored message holds: its readings, and each part refused (with its index in a
 * batch record: `item 3: …` in the message). */
export interface DecodedReadings {
  readonly readings: Array<Reading>
  readonly refusals: Array<ReadingRejected>
}

/**
 * Decode a message of READINGS: one reading, or a batch record of several (each checked
 * alone: a bad item is refused, the good ones kept). Every reader of READINGS uses this.
 */
export const decodeReadings = (
  bytes: Uint8Array,
  device: string,
  sensor: string,
  storedAtMs: number,
  limits: DecodeLimits = defaultDecodeLimits
): DecodedReadings => {
  const parsed = parsePayload(bytes, limits)
  if (Result.isFailure(parsed)) return { readings: [], refusals: [parsed.failure] }
  const { raw, json } = parsed.success
  const batch = batchOf(raw)
  if (batch === undefined) {
    const one = readingOf(raw, json, bytes, device, sensor, storedAtMs, limits)
    return Result.isSuccess(one) ? { readings: [one.success], refusals: [] } : { readings: [], refusals: [one.failure] }
  }
  if (batch.length === 0 || batch.length > MAX_BATCH) {
    return { readings: [], refusals: [new ReadingRejected({ reason: "SchemaMismatch", message: `a batch record holds 1 to ${MAX_BATCH} readings, not ${batch.length}` })] }
  }
  const out: { readings: Array<Reading>; refusals: Array<ReadingRejected> } = { readings: [], refusals: [] }
  for (let i = 0; i < batch.length; i++) {
    const one = readingOf(batch[i], json, undefined, device, sensor, storedAtMs, limits)
    if (Result.isSuccess(one)) out.readings.push(one.success)
    else {
      const { reason, message, eventTime } = one.failure
      out.refusals.push(new ReadingRejected(eventTime === undefined ? { reason, message: `item ${i}: ${message}` } : { reason, message: `item ${i}: ${message}`, eventTime }))
    }
  }
  return out
}

/** A batch record's bytes (msgpack). */
export const encodeBatchRecord = (payloads: ReadonlyArray<ReadingPayload>): Uint8Array => Codec.encode({ readings: payloads })

/** Encode a reading payload for NATS publishers (sensor actors, tests, benchmarks). */
export const encodeReadingPayload = (payload: ReadingPayload): Uint8Array => Codec.encode(payload)
