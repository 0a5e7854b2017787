/**
 * How readings and window results become database points. Raw points are keyed by
 * (device, sensor, event time) and window results by (device, sensor, metric, window,
 * start): writing either again overwrites, which makes replays idempotent (docs/design.md, decision 4).
 */
import type { SinkPoint } from "@bramble/influx"
import type { Alarm, Forecast, Reading, WindowResult } from "@bramble/protocol"

/** Measurement names, fixed so dashboards and queries can rely on them. */
export const Measurements = {
  /** Raw readings: tags device, sensor and the reading's own tags (an ingest route's
   * `tags`, line protocol's tags); one float field per metric. */
  readings: "reading",
  /** Window results: tags device, sensor, metric, window; fields count, mean, min, max, first, last, stddev. */
  windows: "window",
  /** Alarm events: tags device, rule; fields state (1 raised, 0 cleared), value. */
  alarms: "alarm",
  /** Forecasts: tags device, sensor, metric, window; field mean, at the predicted window's start. */
  forecasts: "forecast"
} as const

export const readingPoint = (reading: Reading): SinkPoint => ({
  measurement: Measurements.readings,
  tags: reading.tags === undefined ? { device: reading.device, sensor: reading.sensor } : { ...reading.tags, device: reading.device, sensor: reading.sensor },
  fields: reading.values,
  timestampMs: reading.ts
})

export const windowPoint = (result: WindowResult): SinkPoint => ({
  measurement: Measurements.windows,
  tags: { device: result.device, sensor: result.sensor, metric: result.metric, window: result.window },
  fields: {
    count: result.count,
    mean: result.mean,
    min: result.min,
    max: result.max,
    first: result.first,
    last: result.last,
    stddev: result.stddev
  },
  timestampMs: result.start
})

export const alarmPoint = (alarm: Alarm): SinkPoint => ({
  measurement: Measurements.alarms,
  tags: { device: alarm.device, rule: alarm.rule },
  fields: alarm.value === undefined ? { state: alarm.state === "raised" ? 1 : 0 } : { state: alarm.state === "raised" ? 1 : 0, value: alarm.value },
  timestampMs: alarm.at
})

export const forecastPoint = (forecast: Forecast): SinkPoint => ({
  measurement: Measurements.forecasts,
  tags: { device: forecast.device, sensor: forecast.sensor, metric: forecast.metric, window: forecast.window },
  fields: { mean: forecast.mean, basedOn: forecast.basedOn },
  timestampMs: forecast.start
})
