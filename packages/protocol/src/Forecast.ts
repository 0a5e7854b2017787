/**
 * A forecast: the predicted mean of a device metric's next window, from the windows closed
 * so far (Holt's linear trend). Published as `aggregates.<device>.<sensor>.<metric>.<window>.forecast`
 * and written to the database as measurement `forecast` at the predicted window's start.
 */
import { Schema } from "effect"
import * as Codec from "./Codec.js"
import { Token } from "./Reading.js"

export const Forecast = Schema.Struct({
  device: Token,
  sensor: Token,
  metric: Token,
  window: Token,
  /** Start of the predicted window. */
  start: Schema.Int,
  mean: Schema.Finite,
  /** How many closed windows the prediction is based on. */
  basedOn: Schema.Int
})
export type Forecast = typeof Forecast.Type

/** JSON: MQTT subscribers of aggregates/# and alarms/# read it as it is (README, "Subscribing
 * from MQTT"; why JSON here and msgpack on READINGS, measured: `npm run bench:wire`). */
export const encodeForecast = (forecast: Forecast): Uint8Array => Codec.encodeJson(forecast)
export const readForecast = (bytes: Uint8Array): Forecast => Schema.decodeUnknownSync(Forecast)(Codec.decodeAny(bytes))
