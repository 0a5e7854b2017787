/**
 * The result of one window over one device's metric. Keyed by (device, sensor, metric,
 * window, start): re-emitting it (a replay, a late reading) overwrites, never duplicates.
 * Boundaries are [start, end).
 */
import { Schema } from "effect"
import * as Codec from "./Codec.js"
import { Token } from "./Reading.js"

export const WindowResult = Schema.Struct({
  device: Token,
  sensor: Token,
  metric: Token,
  window: Token,
  start: Schema.Int,
  end: Schema.Int,
  count: Schema.Int,
  mean: Schema.Finite,
  min: Schema.Finite,
  max: Schema.Finite,
  first: Schema.Finite,
  last: Schema.Finite,
  stddev: Schema.Finite
})
export type WindowResult = typeof WindowResult.Type

/** JSON: MQTT subscribers of aggregates/# and alarms/# read it as it is (README, "Subscribing
 * from MQTT"; why JSON here and msgpack on READINGS, measured: `npm run bench:wire`). */
export const encodeWindowResult = (result: WindowResult): Uint8Array => Codec.encodeJson(result)
export const decodeWindowResult = Schema.decodeUnknownSync(WindowResult)
export const readWindowResult = (bytes: Uint8Array): WindowResult => decodeWindowResult(Codec.decodeAny(bytes))
