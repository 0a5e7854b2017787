/**
 * @bramble/actor-storage — the storage actor: batches raw readings and window results into
 * the time-series database, durably, with backpressure instead of loss.
 */
export * from "./DurableWrite.js"
export * from "./LagHistogram.js"
export * from "./Points.js"
export * from "./StorageActor.js"
