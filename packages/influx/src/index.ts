/**
 * @bramble/influx: the line-protocol sinks of Bramble's storage actor (docs/design.md, decision 7).
 */
export { InfluxSink, type InfluxV1Options, type InfluxV2Options } from "./InfluxSink.js"
export { pointProblems, type SinkPoint, toLineProtocol } from "./SinkPoint.js"
export { type RejectedPoint, SinkConfigError, SinkWriteError, type SinkWriteReason } from "./SinkWriteError.js"
