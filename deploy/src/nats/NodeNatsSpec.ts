/**
 * From the cluster file to one node's nats-server configuration: its name, ports, JetStream
 * store under the cluster's data directory, the partition mapping, and routes to every
 * other node. Every node renders its own server from the same file, so they agree.
 */
import type { ClusterConfig } from "@bramble/config"
import { Subjects } from "@bramble/protocol"
import { join } from "node:path"
import type { NatsServerConfSpec } from "./NatsServerConf.js"

/** Largest message the server accepts. Readings are small; checkpoints are per device. */
export const NATS_MAX_PAYLOAD = 1024 * 1024

/** The directory a node keeps its server's data and logs in. */
export const nodeDataDir = (config: ClusterConfig, node: string): string => join(config.cluster.dataDir, node)

/** The nats-server spec for `node`, or undefined when the node uses an existing server. */
export const natsSpecForNode = (config: ClusterConfig, node: string, options?: { readonly listenHost?: string }): NatsServerConfSpec | undefined => {
  const self = config.nodes.find((n) => n.name === node)
  if (self === undefined) throw new RangeError(`no node named "${node}" in the cluster file`)
  if (self.nats.url !== undefined) return undefined
  const host = options?.listenHost ?? self.host
  const peers = config.nodes.filter((n) => n.name !== node && n.nats.url === undefined)
  const dir = nodeDataDir(config, node)
  return {
    serverName: self.name,
    host,
    port: self.nats.port,
    httpPort: self.nats.httpPort,
    mqttPort: self.nats.mqttPort,
    jetstream: { storeDir: join(dir, "jetstream") },
    ...(peers.length === 0
      ? {}
      : {
        cluster: {
          name: config.cluster.name,
          host,
          port: self.nats.clusterPort,
          routes: peers.map((p) => `nats-route://${p.host}:${p.nats.clusterPort}`)
        }
      }),
    mappings: Subjects.partitionMapping(config.cluster.partitions),
    maxPayload: NATS_MAX_PAYLOAD
  }
}

/** The client URL other processes use to reach `node`'s server. */
export const natsUrlForNode = (config: ClusterConfig, node: string): string => {
  const self = config.nodes.find((n) => n.name === node)
  if (self === undefined) throw new RangeError(`no node named "${node}" in the cluster file`)
  return self.nats.url ?? `nats://${self.host}:${self.nats.port}`
}
