/**
 * nats-servers joined by leaf node connections: a hub that accepts them, and remote sites
 * that dial it. It is how a deployment grows past one cluster (docs/scaling.md): each site
 * keeps its own JetStream (its own *domain*), so devices there are acknowledged by the site
 * even while the link to the hub is down, and the hub's READINGS *sources* every site's
 * stream over the link, catching up when it returns.
 *
 * A leaf server is a node's server (the same rendered spec: mappings, MQTT, users, TLS)
 * plus a JetStream domain and a `leafnodes {}` block, so the text is rendered by
 * `renderNatsServerConf` and extended here rather than written a second time. The launcher
 * mirrors `startNatsServer` (free ports, `/healthz`, server-name check, port-clash retry).
 */
import { randomUUID } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { ingestPartitionMapping, type NatsServerConfSpec, quoteNatsString, renderNatsServerConf } from "../nats/NatsServerConf.js"
import { makeManagedProcess } from "../process/ManagedProcess.js"
import type { ProcessError } from "../process/ProcessError.js"
import { freePort } from "./freePort.js"
import { retryOnPortClash } from "../process/internal/portRetry.js"
import { connectHost, expectStatus, httpRequest, parseJson, tcpConnect } from "../process/internal/probe.js"
import { setupFiles } from "../process/internal/setupFiles.js"
import type { RunningNatsServer, StartNatsServerOptions } from "../nats/NatsServerProcess.js"

/** One outgoing leaf connection (a site dialling its hub). */
export interface LeafRemoteSpec {
  /**
   * The hub's leaf node listener, e.g. `nats-leaf://hub.example:7422` (TLS: `tls://…`); for
   * a hub cluster, every member's, tried in turn (one link, not one per URL).
   */
  readonly url: string | ReadonlyArray<string>
  /**
   * Subjects this server never sends over the link. A site that keeps its own copy of the
   * readings must list what its stream captures (`ingest.>`, `readings.>`): otherwise the
   * hub's READINGS, whose interest crosses the link, stores every reading once as it is
   * published and once more when it sources the site's stream (checked on 2.9.10).
   */
  readonly denyExports?: ReadonlyArray<string>
  /**
   * Subjects this server never takes from the link. A site must list the same subjects
   * here: otherwise its stream's interest crosses the link the other way, every reading
   * published at the hub is stored at every site too, and when the hub sources it back the
   * msgID is a duplicate, which on 2.9 stalls that source for the whole duplicate window
   * (nats-server issue #4459; checked on 2.9.10).
   */
  readonly denyImports?: ReadonlyArray<string>
  /** Client credentials file for the link (`.creds`), when the hub requires one. */
  readonly credentials?: string
}

/** What turns a node's server into a hub or a site. */
export interface LeafNodesSpec {
  /**
   * This server's JetStream domain (a subject token: letters, digits, `_`, `-`). Its
   * JetStream API is reachable across leaf links as `$JS.<domain>.API`, which is what a
   * hub stream's `sources[].external.api` names.
   */
  readonly domain: string
  /** Accept leaf connections here (the hub). */
  readonly listen?: {
    readonly host?: string
    readonly port: number
    /**
     * `host:port` the hub tells leaves to reach it at. A leaf adds the URL the hub
     * advertises to the ones it was configured with and reconnects to either, so behind a
     * NAT, a proxy or a load balancer this must be the outside address (2.9 always
     * advertises the hub's own listener; `no_advertise` only leaves out cluster peers).
     */
    readonly advertise?: string
  }
  /** Dial these hubs (a site). */
  readonly remotes?: ReadonlyArray<LeafRemoteSpec>
  /** Seconds between reconnect attempts of `remotes` (server default 1). */
  readonly reconnectSeconds?: number
}

const DOMAIN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/

const list = (values: ReadonlyArray<string>): string => `[${values.map(quoteNatsString).join(", ")}]`

/**
 * `nats-server.conf` for a server with a JetStream domain and leaf connections: the text
 * `renderNatsServerConf(spec)` gives, with `domain` in its `jetstream {}` block and a
 * `leafnodes {}` block. Same specs, same text.
 */
export const renderLeafNatsServerConf = (spec: NatsServerConfSpec, leaf: LeafNodesSpec): string => {
  if (!DOMAIN_PATTERN.test(leaf.domain)) {
    throw new RangeError(`a JetStream domain is a subject token (A-Z a-z 0-9 _ -), got "${leaf.domain}"`)
  }
  if (leaf.listen === undefined && (leaf.remotes ?? []).length === 0) {
    throw new RangeError("a leaf node server needs a listener (hub) or at least one remote (site)")
  }
  const base = renderNatsServerConf(spec)
  const marker = "\njetstream {\n"
  if (!base.includes(marker)) throw new Error("renderNatsServerConf no longer writes a jetstream block")
  const lines: Array<string> = ["", "leafnodes {"]
  if (leaf.listen !== undefined) {
    lines.push(`  host: ${quoteNatsString(leaf.listen.host ?? spec.host)}`)
    lines.push(`  port: ${leaf.listen.port}`)
    if (leaf.listen.advertise !== undefined) lines.push(`  advertise: ${quoteNatsString(leaf.listen.advertise)}`)
  }
  if (leaf.reconnectSeconds !== undefined) lines.push(`  reconnect: ${leaf.reconnectSeconds}`)
  const remotes = leaf.remotes ?? []
  if (remotes.length > 0) {
    lines.push("  remotes: [")
    for (const remote of remotes) {
      lines.push("    {")
      if (typeof remote.url === "string") lines.push(`      url: ${quoteNatsString(remote.url)}`)
      else if (remote.url.length > 0) lines.push(`      urls: ${list(remote.url)}`)
      else throw new RangeError("a leaf remote needs at least one URL")
      if (remote.credentials !== undefined) lines.push(`      credentials: ${quoteNatsString(remote.credentials)}`)
      if (remote.denyExports !== undefined && remote.denyExports.length > 0) lines.push(`      deny_exports: ${list(remote.denyExports)}`)
      if (remote.denyImports !== undefined && remote.denyImports.length > 0) lines.push(`      deny_imports: ${list(remote.denyImports)}`)
      lines.push("    }")
    }
    lines.push("  ]")
  }
  lines.push("}")
  return base.replace(marker, `${marker}  domain: ${quoteNatsString(leaf.domain)}\n`) + `${lines.join("\n")}\n`
}

/** Options of `startLeafNatsServer`: those of `startNatsServer` plus the leaf settings. */
export interface StartLeafNatsServerOptions extends Omit<StartNatsServerOptions, "health"> {
  readonly leaf: Omit<LeafNodesSpec, "listen"> & {
    /** Accept leaf connections (hub). `port` unset: a free loopback port. */
    readonly listen?: { readonly host?: string; readonly port?: number; readonly advertise?: string }
  }
  /** Start the MQTT listener too. Default true. */
  readonly mqtt?: boolean
}

/** A running hub or site server. */
export interface LocalLeafNatsServer extends Omit<RunningNatsServer, "mqttUrl" | "spec"> {
  /** The spec the config was rendered from (ports, server name, store dir). */
  readonly spec: NatsServerConfSpec & { readonly httpPort: number }
  readonly domain: string
  /** The leaf settings it was rendered with (the listener's port filled in). */
  readonly leaf: LeafNodesSpec
  /** MQTT URL, when the listener is on. */
  readonly mqttUrl: string | undefined
  /** The leaf node listener, `nats-leaf://127.0.0.1:PORT`, on a hub. */
  readonly leafUrl: string | undefined
}

/**
 * Starts a nats-server with a JetStream domain and leaf connections on free loopback ports
 * and waits for `/healthz?js-enabled-only=true` (a site is ready without its hub: that is
 * the point of it). Closing the scope stops it; `dir` is left in place.
 */
export const startLeafNatsServer = Effect.fn("LeafSite.startLeafNatsServer")(
  function*(options: StartLeafNatsServerOptions): Effect.fn.Return<LocalLeafNatsServer, ProcessError, Scope.Scope> {
    const overrides = options.spec ?? {}
    const mqttPort = options.mqtt === false ? undefined : overrides.mqttPort ?? (yield* freePort)
    const spec: NatsServerConfSpec & { readonly httpPort: number } = {
      ...overrides,
      serverName: overrides.serverName ?? `bramble-${options.leaf.domain}-${randomUUID().slice(0, 8)}`,
      host: overrides.host ?? "127.0.0.1",
      port: overrides.port ?? (yield* freePort),
      httpPort: overrides.httpPort ?? (yield* freePort),
      ...(mqttPort === undefined ? {} : { mqttPort }),
      jetstream: overrides.jetstream ?? { storeDir: join(options.dir, "jetstream") },
      mappings: overrides.mappings ?? ingestPartitionMapping(options.partitions ?? 8)
    }
    const listen = options.leaf.listen === undefined
      ? undefined
      : {
        ...options.leaf.listen,
        host: options.leaf.listen.host ?? spec.host,
        port: options.leaf.listen.port ?? (yield* freePort)
      }
    const { listen: _requested, ...rest } = options.leaf
    const leaf: LeafNodesSpec = { ...rest, ...(listen === undefined ? {} : { listen }) }
    const host = connectHost(spec.host)
    const monitorUrl = `http://${host}:${spec.httpPort}`
    const confPath = join(options.dir, "nats-server.conf")

    yield* setupFiles("nats-server", () => {
      mkdirSync(options.dir, { recursive: true })
      writeFileSync(confPath, renderLeafNatsServerConf(spec, leaf))
    })

    const healthUrl = `${monitorUrl}/healthz?js-enabled-only=true`
    const probe = Effect.gen(function*() {
      yield* expectStatus(healthUrl, yield* httpRequest(healthUrl), 200)
      // Another process may own the monitor port; the server name is unique, so check it.
      const varzUrl = `${monitorUrl}/varz`
      const varz = (yield* parseJson(varzUrl, (yield* httpRequest(varzUrl)).body)) as { server_name?: unknown }
      if (varz?.server_name !== spec.serverName) {
        return yield* Effect.fail(new Error(`${monitorUrl} is server "${varz?.server_name}", not "${spec.serverName}"`))
      }
      yield* tcpConnect(host, spec.port)
      if (listen !== undefined) yield* tcpConnect(connectHost(listen.host), listen.port)
    })

    const managed = yield* makeManagedProcess({
      name: `nats-server (${leaf.domain})`,
      command: options.binary ?? "nats-server",
      args: ["-c", confPath],
      logFile: join(options.dir, "nats-server.log"),
      readiness: { probe, timeout: options.readyTimeout ?? "30 seconds" },
      restart: options.restartOnExit ?? false
    })

    return {
      url: `nats://${host}:${spec.port}`,
      mqttUrl: mqttPort === undefined ? undefined : `mqtt://${host}:${mqttPort}`,
      monitorUrl,
      confPath,
      spec,
      process: managed,
      domain: leaf.domain,
      leaf,
      leafUrl: listen === undefined ? undefined : `nats-leaf://${connectHost(listen.host)}:${listen.port}`
    }
  },
  // A server that lost a port race is started again from the top, with fresh ports.
  retryOnPortClash
)
