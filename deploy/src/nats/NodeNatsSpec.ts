/**
 * From the cluster file to one node's nats-server configuration: its name, ports, JetStream
 * store under the cluster's data directory, the partition mapping, routes to every other
 * node and, on a secured cluster, its users and TLS. Every node renders its own server from
 * the same file, so they agree.
 */
import type { ClusterConfig } from "@bramble/config"
import { Subjects } from "@bramble/protocol"
import { join } from "node:path"
import type { ServerSecurity } from "../security/Credentials.js"
import type { NatsServerConfSpec, NatsTlsSpec } from "./NatsServerConf.js"

/** Largest message the server accepts. Readings are small; checkpoints are per device. */
export const NATS_MAX_PAYLOAD = 1024 * 1024

/** Seconds a client has to log in: bcrypt is slow on a Pi Zero (the server's default is 2). */
export const NATS_AUTH_TIMEOUT_SECONDS = 5

/** Seconds for a TLS handshake: a Pi's is much slower than a server's (the default is 0.5). */
export const NATS_TLS_TIMEOUT_SECONDS = 5

/**
 * Where a node's nats-server listens for monitoring (`/healthz`, `/varz`, `/connz`): loopback
 * only. nats-server 2.9's monitoring has no authentication and lists every connection,
 * subscription and user name, so it is for the Pi itself (or an SSH tunnel), never the LAN.
 */
export const NATS_MONITORING_HOST = "127.0.0.1"

/** The directory a node keeps its server's data and logs in. */
export const nodeDataDir = (config: ClusterConfig, node: string): string => join(config.cluster.dataDir, node)

export interface NatsSpecOptions {
  /** Bind the listeners here instead of the node's `host` (e.g. `0.0.0.0`). */
  readonly listenHost?: string
  /** Users and TLS files, required when the cluster file has a security section (see `loadServerSecurity`). */
  readonly security?: ServerSecurity
}

/**
 * The nats-server spec for `node`, or undefined when the node uses an existing server.
 * Throws a `RangeError` for an unknown node, and when the cluster file turns security on but
 * `options.security` is missing: a secured cluster's server never starts open.
 */
export const natsSpecForNode = (config: ClusterConfig, node: string, options?: NatsSpecOptions): NatsServerConfSpec | undefined => {
  const self = config.nodes.find((n) => n.name === node)
  if (self === undefined) throw new RangeError(`no node named "${node}" in the cluster file`)
  if (self.nats.url !== undefined) return undefined
  const security = options?.security
  if (config.security !== undefined && security === undefined) {
    throw new RangeError(`the cluster file turns security on, so ${node}'s nats-server needs its users and TLS files (loadServerSecurity)`)
  }
  const host = options?.listenHost ?? self.host
  const peers = config.nodes.filter((n) => n.name !== node && n.nats.url === undefined)
  const dir = nodeDataDir(config, node)
  const tls: NatsTlsSpec | undefined = security?.tls === undefined
    ? undefined
    : { certFile: security.tls.certFile, keyFile: security.tls.keyFile, timeoutSeconds: NATS_TLS_TIMEOUT_SECONDS }
  return {
    serverName: self.name,
    host,
    port: self.nats.port,
    httpPort: self.nats.httpPort,
    httpHost: NATS_MONITORING_HOST,
    mqttPort: self.nats.mqttPort,
    // Like Bramble's own streams: every server holds a copy, up to three.
    ...(peers.length === 0 ? {} : { mqttReplicas: Math.min(3, peers.length + 1) }),
    jetstream: { storeDir: join(dir, "jetstream") },
    ...(peers.length === 0
      ? {}
      : {
        cluster: {
          name: config.cluster.name,
          host,
          port: self.nats.clusterPort,
          routes: peers.map((p) => `nats-route://${p.host}:${p.nats.clusterPort}`),
          // Routes prove who they are with certificates from the cluster's CA.
          ...(security?.tls === undefined || tls === undefined ? {} : { tls: { ...tls, caFile: security.tls.caFile, verify: true } })
        }
      }),
    mappings: Subjects.partitionMapping(config.cluster.partitions),
    maxPayload: NATS_MAX_PAYLOAD,
    ...(tls === undefined ? {} : { tls, mqttTls: tls }),
    ...(security === undefined ? {} : { authorization: { users: security.users, timeoutSeconds: NATS_AUTH_TIMEOUT_SECONDS } })
  }
}

/** The client URL other processes use to reach `node`'s server. */
export const natsUrlForNode = (config: ClusterConfig, node: string): string => {
  const self = config.nodes.find((n) => n.name === node)
  if (self === undefined) throw new RangeError(`no node named "${node}" in the cluster file`)
  return self.nats.url ?? `nats://${self.host}:${self.nats.port}`
}
