/**
 * @bramble/actor-forwarder — the forwarders: one per `forward:` target of the cluster file
 * (ThingsBoard, webhooks), each reading the log (READINGS, AGGREGATES, ALARMS) through a
 * durable consumer of its own and writing through a `BatchSink` of the storage actor's
 * contract, acknowledging a batch once the receiver has it (docs/forwarding.md).
 */
export * from "./ForwardItem.js"
export * from "./ForwarderStats.js"
export * from "./Forwarders.js"
export * from "./ForwardSecrets.js"
export * from "./ForwardSink.js"
