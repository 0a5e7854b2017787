/**
 * Reading a routed message in its route's dialect: bytes in, readings (device, sensor, time,
 * values) out, and a refusal with its reason for each part that is not one. A message may
 * hold several readings (a JSON array, several lines of line protocol): a bad part is
 * refused alone, the good ones around it are kept.
 *
 * What comes out is checked as far as the subject needs it (device and sensor are ids,
 * metric names are names); the partition worker then checks the rest (time range, clock,
 * limits) exactly as for Bramble's own dialect.
 */
import { compilePattern, deviceTemplateOf, fillTemplate, type IngestRoute, type RoutePattern, type TimeUnit } from "@bramble/config"
import { Codec, decodeReading, MAX_TAG_CHARS, MAX_TAGS, MAX_VALUES, METRIC_PATTERN, type RejectionReason, Subjects, TAG_PATTERN } from "@bramble/protocol"
import { Result } from "effect"
import { parseLines, type Precision, timestampMs } from "./LineProtocol.js"

/** A route ready to use. */
export interface CompiledRoute {
  readonly route: IngestRoute
  readonly pattern: RoutePattern
  readonly device: string | undefined
  readonly sensor: string | undefined
  readonly metric: string
}

export const compileRoute = (route: IngestRoute): CompiledRoute => {
  const pattern = compilePattern(route.topic)
  return {
    route,
    pattern,
    device: deviceTemplateOf(route, pattern.wildcards),
    sensor: route.sensor ?? (pattern.wildcards.includes("sensor") ? "{sensor}" : undefined),
    metric: route.metric ?? (pattern.wildcards.includes("metric") ? "{metric}" : "value")
  }
}

/** One reading found in a message. `ts` undefined: the time the message was stored. */
export interface Ingested {
  readonly device: string
  readonly sensor: string
  readonly ts: number | undefined
  readonly seq?: number
  readonly values: Record<string, number>
  /** Stored as database tags beside device and sensor (the route's `tags`). */
  readonly tags?: Record<string, string>
}

export interface Refusal {
  readonly reason: RejectionReason
  readonly message: string
}

export interface Decoded {
  readonly readings: Array<Ingested>
  readonly refusals: Array<Refusal>
}

const refused = (reason: RejectionReason, message: string): Decoded => ({ readings: [], refusals: [{ reason, message }] })

const utf8 = new TextDecoder("utf-8", { fatal: true })

const NUMBER = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/

const quote = (text: string) => JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)

/** A device id from a field or a tag: a string, or an integer (`"sensor_id": 1`). */
const idOf = (value: unknown): string | undefined =>
  typeof value === "string" ? value : typeof value === "number" && Number.isSafeInteger(value) ? String(value) : undefined

const checkIds = (device: string, sensor: string, where: string): Refusal | undefined => {
  if (!Subjects.isToken(device)) return { reason: "BadDeviceId", message: `${where}device id ${quote(device)} is not an id (1-64 characters from A-Z a-z 0-9 _ -)` }
  if (!Subjects.isToken(sensor)) return { reason: "BadSubject", message: `${where}sensor ${quote(sensor)} is not an id (1-64 characters from A-Z a-z 0-9 _ -)` }
  return undefined
}

const checkValues = (values: Record<string, number>, where: string): Refusal | undefined => {
  const names = Object.keys(values)
  if (names.length === 0) return { reason: "NoValues", message: `${where}no numeric value to store` }
  if (names.length > MAX_VALUES) return { reason: "SchemaMismatch", message: `${where}${names.length} values; a reading holds at most ${MAX_VALUES} (list the route's \`values\`)` }
  const bad = names.find((n) => !METRIC_PATTERN.test(n))
  if (bad !== undefined) {
    return { reason: "SchemaMismatch", message: `${where}${quote(bad)} cannot be a metric name (a letter, then up to 63 of A-Z a-z 0-9 _ -): add it to the route's \`ignore\` or list its \`values\`` }
  }
  return undefined
}

/** Tag values: a string, or a number or boolean as text; at most MAX_TAG_CHARS. */
const tagValueOf = (value: unknown): string | undefined => {
  const text = typeof value === "string" ? value : typeof value === "number" && Number.isFinite(value) ? String(value) : typeof value === "boolean" ? String(value) : undefined
  return text !== undefined && text.length <= MAX_TAG_CHARS ? text : undefined
}

const UNIT_MS: Record<TimeUnit, number> = { s: 1_000, ms: 1, us: 1e-3, "µs": 1e-3, ns: 1e-6 }

/** A JSON time: an ISO-8601 string, or a number in `unit`; whole milliseconds. */
const timeOf = (value: unknown, unit: TimeUnit): number | string => {
  if (typeof value === "string") {
    const ms = Date.parse(value)
    return Number.isNaN(ms) ? `time ${quote(value)} is not an ISO-8601 time` : ms
  }
  if (typeof value === "number" && Number.isFinite(value)) return Math.floor(value * UNIT_MS[unit])
  return `time ${quote(JSON.stringify(value) ?? String(value))} is neither a number (${unit}) nor an ISO-8601 string`
}

const readJsonObject = (compiled: CompiledRoute, topicValues: Record<string, string>, object: unknown, where: string): Ingested | Refusal => {
  const { route } = compiled
  if (typeof object !== "object" || object === null || Array.isArray(object)) {
    return { reason: "SchemaMismatch", message: `${where}expected a JSON object (or an array of objects), got ${Array.isArray(object) ? "an array" : typeof object}` }
  }
  const o = object as Record<string, unknown>
  let device: string
  if (route.deviceField !== undefined) {
    const id = idOf(o[route.deviceField])
    if (id === undefined) return { reason: "BadDeviceId", message: `${where}field ${route.deviceField} (the device id) is ${o[route.deviceField] === undefined ? "missing" : "not a string or an integer"}` }
    device = id
  } else {
    device = fillTemplate(compiled.device!, topicValues)
  }
  const sensor = compiled.sensor === undefined ? route.name : fillTemplate(compiled.sensor, topicValues)
  const wrongId = checkIds(device, sensor, where)
  if (wrongId !== undefined) return wrongId
  let ts: number | undefined
  if (route.timeField !== undefined) {
    if (o[route.timeField] === undefined) return { reason: "SchemaMismatch", message: `${where}field ${route.timeField} (the time) is missing` }
    const time = timeOf(o[route.timeField], route.timeUnit ?? "ms")
    if (typeof time === "string") return { reason: "TimestampOutOfRange", message: `${where}${time}` }
    ts = time
  }
  let tags: Record<string, string> | undefined
  for (const field of route.tags ?? []) {
    const value = o[field]
    if (value === undefined || value === null) continue
    const text = tagValueOf(value)
    if (text === undefined) return { reason: "SchemaMismatch", message: `${where}field ${field} (a tag) is ${quote(JSON.stringify(value) ?? "?")}: a tag is a string, number or boolean of at most ${MAX_TAG_CHARS} characters` }
    ;(tags ??= {})[field] = text
  }
  const values: Record<string, number> = {}
  if (route.values !== undefined) {
    for (const field of route.values) {
      const value = o[field]
      if (value === undefined) continue
      if (typeof value !== "number" || !Number.isFinite(value)) return { reason: "NotANumber", message: `${where}field ${field} is ${quote(JSON.stringify(value) ?? "?")}, not a finite number` }
      values[field] = value
    }
  } else {
    for (const field in o) {
      const value = o[field]
      if (typeof value !== "number" || !Number.isFinite(value)) continue
      if (field === route.deviceField || field === route.timeField || route.ignore.includes(field) || route.tags?.includes(field)) continue
      values[field] = value
    }
  }
  const wrongValues = checkValues(values, where)
  return wrongValues ?? (tags === undefined ? { device, sensor, ts, values } : { device, sensor, ts, values, tags })
}

const readJson = (compiled: CompiledRoute, topicValues: Record<string, string>, bytes: Uint8Array): Decoded => {
  let parsed: unknown
  try {
    parsed = JSON.parse(utf8.decode(bytes))
  } catch (error) {
    const text = Codec.asText(bytes)
    return refused("MalformedJson", `payload is not valid JSON (${(error as Error).message})${text === undefined ? "" : `: ${quote(text)}`}`)
  }
  const objects = Array.isArray(parsed) ? parsed : [parsed]
  if (objects.length === 0) return refused("NoValues", "payload is an empty JSON array")
  const out: Decoded = { readings: [], refusals: [] }
  objects.forEach((object, i) => {
    const read = readJsonObject(compiled, topicValues, object, Array.isArray(parsed) ? `item ${i}: ` : "")
    if ("reason" in read) out.refusals.push(read)
    else out.readings.push(read)
  })
  return out
}

const readValue = (compiled: CompiledRoute, topicValues: Record<string, string>, bytes: Uint8Array): Decoded => {
  const text = Codec.asText(bytes)
  if (text === undefined || !NUMBER.test(text)) {
    return refused("NotANumber", `a ${compiled.route.name} payload is one number (like 21.5); got ${text === undefined ? `${bytes.length} bytes that are not text` : quote(text)}`)
  }
  const value = Number(text)
  if (!Number.isFinite(value)) return refused("NotANumber", `${quote(text)} is not a finite number`)
  const device = fillTemplate(compiled.device!, topicValues)
  const sensor = compiled.sensor === undefined ? compiled.route.name : fillTemplate(compiled.sensor, topicValues)
  const wrongId = checkIds(device, sensor, "")
  if (wrongId !== undefined) return { readings: [], refusals: [wrongId] }
  const values = { [fillTemplate(compiled.metric, topicValues)]: value }
  const wrongValues = checkValues(values, "")
  return wrongValues === undefined ? { readings: [{ device, sensor, ts: undefined, values }], refusals: [] } : { readings: [], refusals: [wrongValues] }
}

/**
 * A point's tags kept as the reading's: those the route lists, else every tag but the device's.
 * A tag named `device` or `sensor` (Telegraf's disk plugin has one) is kept as `tag_device` /
 * `tag_sensor`, since those two name the point itself; a tag name that cannot be stored refuses
 * the point, pointing at `tags:`.
 */
const lineTags = (route: IngestRoute, pointTags: Readonly<Record<string, string>>, where: string): { tags?: Record<string, string>; refusal?: Refusal } => {
  let tags: Record<string, string> | undefined
  const names = route.tags ?? Object.keys(pointTags).filter((name) => name !== route.deviceTag)
  for (const name of names) {
    const value = pointTags[name]
    if (value === undefined) continue
    const stored = name === "device" || name === "sensor" ? `tag_${name}` : name
    if (!TAG_PATTERN.test(stored)) return { refusal: { reason: "SchemaMismatch", message: `${where}tag ${quote(name)} cannot be a tag name (a letter, then up to 63 of A-Z a-z 0-9 _ -): list the tags to keep in the route's \`tags\`` } }
    if (value.length > MAX_TAG_CHARS) return { refusal: { reason: "SchemaMismatch", message: `${where}tag ${name} is ${value.length} characters; at most ${MAX_TAG_CHARS}` } }
    ;(tags ??= {})[stored] = value
    if (Object.keys(tags).length > MAX_TAGS) return { refusal: { reason: "SchemaMismatch", message: `${where}more than ${MAX_TAGS} tags: list the ones to keep in the route's \`tags\`` } }
  }
  return tags === undefined ? {} : { tags }
}

/** Read line protocol; `precision` is the unit of its timestamps. Shared with the write endpoint. */
export const readLineProtocol = (compiled: CompiledRoute, topicValues: Record<string, string>, text: string, precision: Precision): Decoded => {
  const { route } = compiled
  const { points, errors } = parseLines(text)
  const out: Decoded = { readings: [], refusals: errors.map((e) => ({ reason: "MalformedLineProtocol", message: `line ${e.line}: ${e.message}` })) }
  if (points.length === 0 && errors.length === 0) return refused("NoValues", "payload holds no line of line protocol")
  points.forEach((point, i) => {
    const where = `point ${i + 1} (${quote(point.measurement)}): `
    let device: string | undefined
    if (route.deviceTag !== undefined) device = point.tags[route.deviceTag]
    else if (compiled.device !== undefined) device = fillTemplate(compiled.device, topicValues)
    if (device === undefined) {
      out.refusals.push({ reason: "BadDeviceId", message: `${where}tag ${route.deviceTag} (the device id) is missing` })
      return
    }
    const sensor = compiled.sensor === undefined ? point.measurement : fillTemplate(compiled.sensor, topicValues)
    const wrongId = checkIds(device, sensor, where)
    if (wrongId !== undefined) return void out.refusals.push(wrongId)
    // Numbers are values, booleans 1/0; strings have no place in a numeric reading.
    const values: Record<string, number> = {}
    for (const [name, value] of Object.entries(point.fields)) {
      if (typeof value === "number") values[name] = value
      else if (typeof value === "boolean") values[name] = value ? 1 : 0
    }
    const wrongValues = checkValues(values, where)
    if (wrongValues !== undefined) return void out.refusals.push(wrongValues)
    const { tags, refusal } = lineTags(route, point.tags, where)
    if (refusal !== undefined) return void out.refusals.push(refusal)
    const ts = point.timestamp === undefined ? undefined : timestampMs(point.timestamp, precision)
    out.readings.push(tags === undefined ? { device, sensor, ts, values } : { device, sensor, ts, values, tags })
  })
  return out
}

const readBramble = (compiled: CompiledRoute, topicValues: Record<string, string>, bytes: Uint8Array, storedAt: number): Decoded => {
  const device = fillTemplate(compiled.device!, topicValues)
  const sensor = compiled.sensor === undefined ? compiled.route.name : fillTemplate(compiled.sensor, topicValues)
  const wrongId = checkIds(device, sensor, "")
  if (wrongId !== undefined) return { readings: [], refusals: [wrongId] }
  // Bramble's own checks, with no limit on time: the partition applies the cluster's.
  const decoded = decodeReading(bytes, device, sensor, storedAt, { maxPayloadBytes: Number.MAX_SAFE_INTEGER, maxFutureSkewMs: Number.MAX_SAFE_INTEGER })
  if (Result.isFailure(decoded)) return refused(decoded.failure.reason, decoded.failure.message)
  const { ts, seq, values, tags } = decoded.success
  return { readings: [{ device, sensor, ts, values, ...(seq === undefined ? {} : { seq }), ...(tags === undefined ? {} : { tags }) }], refusals: [] }
}

/** Read `bytes`, published on a topic `compiled` matched (its wildcards' values in `topicValues`). */
export const readPayload = (compiled: CompiledRoute, topicValues: Record<string, string>, bytes: Uint8Array, storedAt: number): Decoded => {
  switch (compiled.route.dialect) {
    case "json":
      return readJson(compiled, topicValues, bytes)
    case "value":
      return readValue(compiled, topicValues, bytes)
    case "line-protocol": {
      const text = Codec.asText(bytes)
      if (text === undefined) return refused("MalformedLineProtocol", `payload is ${bytes.length} bytes that are not UTF-8 text`)
      const unit = compiled.route.timeUnit ?? "ns"
      return readLineProtocol(compiled, topicValues, text, unit)
    }
    case "bramble":
      return readBramble(compiled, topicValues, bytes, storedAt)
  }
}
