/**
 * @bramble/actor-storage — the storage actor: batches raw readings and window results into
 * the time-series database, durably, with backpressure instead of loss; and the `BatchSink`
 * contract (with `writeDurably`) that every sink — the database, forward targets — implements.
 */
export * from "./BatchSink.js"
export * from "./DurableWrite.js"
export * from "./InfluxBatchSink.js"
export * from "./LagHistogram.js"
export * from "./Points.js"
export * from "./StorageActor.js"
