/**
 * @bramble/actor-aggregator — per-device window state (event time, [start, end) windows,
 * watermark and lateness) and the device aggregator actor that holds it.
 */
export * from "./DeviceAggregator.js"
export * from "./DeviceWindows.js"
export * as Stats from "./Stats.js"
export * as Watermark from "./Watermark.js"
export * from "./WindowSpec.js"
export * from "./Forecast.js"
export * from "./Rules.js"
