/**
 * @bramble/nats — the connection, the JetStream topology, and helpers shared by every
 * actor that talks to NATS: partition consumers, and the KV buckets that make nodes a
 * cluster (member heartbeats, partition leases).
 */
export * from "./ClusterBuckets.js"
export * from "./ConfigStore.js"
export * from "./DeliveryInfo.js"
export * from "./FetchBatch.js"
export * from "./ForwardConsumer.js"
export * from "./LeaseStore.js"
export * from "./MemberStore.js"
export * from "./AsyncPublisher.js"
export * from "./NatsClient.js"
export * from "./NatsError.js"
export * from "./PartitionConsumer.js"
export * from "./Topology.js"
export type { KV, KvEntry } from "@nats-io/kv"
export type { ConsumerInfo, JsMsg, ConsumerMessages } from "@nats-io/jetstream"
