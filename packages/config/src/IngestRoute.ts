/**
 * Ingest routes: the topics and payloads devices already send, mapped onto readings
 * (docs/design.md, decision 11). A route matches MQTT topics — and their NATS subjects — with an
 * MQTT pattern whose wildcards have names (`sensors/+device`, `home/+room/+metric`,
 * `factory/+line/+device/#`), and names the payload's dialect. docs/ingest-routes.md is
 * the user's guide; ./IngestChecks.ts holds what a per-field Schema cannot say.
 */
import { Schema } from "effect"
import { Name as RouteName, withDefault } from "./Common.js"

/** How a route reads a payload. */
export const Dialect = Schema.Literals(["bramble", "json", "value", "line-protocol"])
export type Dialect = typeof Dialect.Type

/** The unit of a numeric time field (`us` and `µs` are the same). ISO-8601 strings are
 * always read as such, whatever the unit. */
export const TimeUnit = Schema.Literals(["s", "ms", "us", "µs", "ns"])
export type TimeUnit = typeof TimeUnit.Type

/** A field name of a JSON payload. */
const FieldName = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(128))

export const IngestRoute = Schema.Struct({
  /** Names the route in errors, dead letters and `bramble route test`. */
  name: RouteName,
  /** An MQTT topic pattern; `+name` takes one level, `#name` (or `#`) the rest. */
  topic: Schema.String,
  dialect: Dialect,
  /** The device id: a template over the topic's wildcards (`"{room}"`, `"line-{line}-{device}"`);
   * default `{device}` when the topic has `+device`. */
  device: Schema.optionalKey(Schema.String),
  /** json: the field holding the device id (`sensor_id`, `generatorID`), instead of the topic. */
  deviceField: Schema.optionalKey(FieldName),
  /** line-protocol: the tag holding the device id (`host`), instead of the topic. */
  deviceTag: Schema.optionalKey(FieldName),
  /** The sensor: a template over the topic's wildcards; default `{sensor}` when the topic has
   * `+sensor`, else the measurement (line-protocol), else the route's name. */
  sensor: Schema.optionalKey(Schema.String),
  /** value: the metric's name, a template; default `{metric}` when the topic has `+metric`, else `value`. */
  metric: Schema.optionalKey(Schema.String),
  /** json: the field holding the event time; without it the time JetStream stored the message. */
  timeField: Schema.optionalKey(FieldName),
  /** The unit of a numeric time (json `timeField`: default `ms`; line-protocol: default `ns`). */
  timeUnit: Schema.optionalKey(TimeUnit),
  /** json: the fields that are values; default every field holding a finite number. */
  values: Schema.optionalKey(Schema.Array(FieldName).check(Schema.isMinLength(1))),
  /** Fields (json) or tags (line-protocol) kept as the reading's tags, stored as database tags
   * beside device and sensor (`tags: [region]`). json: none unless listed; line-protocol:
   * every tag but the device's unless listed. */
  tags: Schema.optionalKey(Schema.Array(FieldName)),
  /** With `security:`, the devices (ids of `security.devices`) whose credentials may publish
   * on every topic of this route. Without it, a device may publish only the topics whose
   * device wildcard is its own id (`dht/+device`: `dht/<id>`); a route whose device is in the
   * payload is then the nodes' alone (docs/ingest-routes.md, "Security"). */
  publishers: Schema.optionalKey(Schema.Array(RouteName)),
  /** json: fields never taken as values (ids, counters, coordinates). */
  ignore: withDefault(Schema.Array(FieldName), [])
})
export type IngestRoute = typeof IngestRoute.Type

export const Ingest = Schema.Struct({
  /** Tried in order; the first whose topic matches takes the message. */
  routes: withDefault(Schema.Array(IngestRoute), [])
})
export type Ingest = typeof Ingest.Type
