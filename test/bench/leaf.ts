/**
 * Benchmark: many remote sites feeding one bramble through NATS leaf nodes, simulated on
 * this machine (docs/scaling.md explains the deployment; this measures it).
 *
 * - A hub nats-server (JetStream domain `hub`, a leaf node listener, the ingest partition
 *   mapping) holds READINGS, as a bramble's server does.
 * - N site nats-servers (JetStream domain `site-<k>`) dial the hub as leaf nodes, each
 *   through a TCP proxy in this process, so one site's link can be cut and restored. Every
 *   site renders the same partition mapping and keeps its own READINGS stream: devices are
 *   acknowledged by their site, which keeps working while the link is down. The hub's
 *   READINGS *sources* each site's stream over the link (`$JS.site-<k>.API`).
 * - Devices are publishers in this process (JetStream publish, msgpack, `Nats-Msg-Id`).
 *
 * Measured: aggregate readings/s arriving in the hub's READINGS when every site publishes
 * as fast as it can, against the same readings published straight to the hub; publish →
 * stored-in-hub latency per site at a steady load; and an offline test: one site's link is
 * cut for 30 s while it keeps publishing, then restored, and every reading any site
 * acknowledged must be in the hub exactly once (by msgID). With `--node`, a Bramble node
 * also runs on the hub and stores everything in VictoriaMetrics.
 *
 * Prints a table and writes JSON to test/bench/results/leaf-<time>.json.
 *
 *   npm run bench:leaf -- [--sites 8] [--devices 25] [--readings 10000] [--rate 250]
 *                         [--steady 20] [--offline 30] [--partitions 4] [--node] [--keep]
 */
import { freePorts, type LocalLeafNatsServer, makeManagedProcess, scopedTempDir, startLeafNatsServer, startVictoriaMetrics } from "@bramble/deploy"
import { consumerName, streamConfigs } from "@bramble/nats"
import { Codec, Subjects } from "@bramble/protocol"
import { type ConsumerMessages, DeliverPolicy, jetstream, type JetStreamManager, jetstreamManager, type StreamConfig } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, type Scope } from "effect"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { connect as tcpConnect, createServer, type Server, type Socket } from "node:net"
import { cpus, loadavg } from "node:os"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import { deviceNames, makeReadings, publishNats, type PublishReport, steadyLoad, type TestReading } from "../support/index.js"
import { BRAMBLE_BIN, type NodeStatus } from "./NodeUnderTest.js"

const { values: args } = parseArgs({
  options: {
    sites: { type: "string", default: "8" },
    devices: { type: "string", default: "25" },
    readings: { type: "string", default: "10000" },
    rate: { type: "string", default: "250" },
    steady: { type: "string", default: "20" },
    offline: { type: "string", default: "30" },
    partitions: { type: "string", default: "4" },
    node: { type: "boolean", default: false },
    keep: { type: "boolean", default: false }
  }
})
const SITES = Number(args.sites)
const DEVICES = Number(args.devices)
const READINGS_PER_SITE = Number(args.readings)
const RATE_PER_SITE = Number(args.rate)
const STEADY_MS = Number(args.steady) * 1000
const OFFLINE_MS = Number(args.offline) * 1000
const PARTITIONS = Number(args.partitions)
const BEFORE_CUT_MS = 5_000
const AFTER_RESTORE_MS = 10_000
const READINGS = Subjects.Streams.readings
/** What a site's stream captures: it stays on the site's side of the link. */
const SITE_LOCAL_SUBJECTS = ["ingest.>", "readings.>"]

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const percentile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
const msgIdOf = (r: TestReading) => Subjects.readingMsgId(r.device, r.sensor, r.seq)

// ---------------------------------------------------------------------------------------
// The link between a site and the hub, through a proxy that can cut it

/**
 * A TCP proxy in front of the hub's leaf listener. `cut` closes every connection through it
 * and refuses new ones (the site sees its uplink go away, as when a site's router loses
 * its WAN); `restore` lets the site's reconnect attempts through again.
 */
class LinkProxy {
  private readonly sockets = new Set<Socket>()
  private isCut = false
  /** When the last upstream connection was established (ms since the epoch). */
  connectedAt = 0

  private constructor(private readonly server: Server, readonly port: number) {}

  static open(target: { readonly host: string; readonly port: number }): Promise<LinkProxy> {
    return new Promise((resolveProxy, reject) => {
      let proxy: LinkProxy | undefined
      const server = createServer((client) => {
        if (proxy === undefined || proxy.isCut) {
          client.destroy()
          return
        }
        const upstream = tcpConnect(target)
        const sockets = proxy.sockets
        sockets.add(client)
        sockets.add(upstream)
        const close = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        upstream.once("connect", () => {
          if (proxy !== undefined) proxy.connectedAt = Date.now()
        })
        client.on("error", close).on("close", close)
        upstream.on("error", close).on("close", close)
        client.pipe(upstream)
        upstream.pipe(client)
      })
      server.once("error", reject)
      server.listen({ host: "127.0.0.1", port: 0 }, () => {
        const address = server.address()
        if (typeof address !== "object" || address === null) return reject(new Error("proxy has no port"))
        proxy = new LinkProxy(server, address.port)
        resolveProxy(proxy)
      })
    })
  }

  cut(): void {
    this.isCut = true
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
  }

  restore(): void {
    this.isCut = false
  }

  close(): Promise<void> {
    this.cut()
    return new Promise((r) => this.server.close(() => r()))
  }
}

// ---------------------------------------------------------------------------------------
// What arrives in the hub

interface SiteTally {
  count: number
  /** msgID → how many times the hub's READINGS holds it. */
  readonly ids: Map<string, number>
  /** Hub store time − the reading's `ts` (its publish time under `steadyLoad`), ms. */
  readonly latencies: Array<number>
  /** The `ts` of each reading in `latencies`, same order. */
  readonly published: Array<number>
  /** When the hub stored each reading (ms since the epoch), in arrival order. */
  readonly stored: Array<number>
}

const emptyTally = (): SiteTally => ({ count: 0, ids: new Map(), latencies: [], published: [], stored: [] })

/** The site a device belongs to: devices are named `s<k>-dev-<n>` (`h<k>-…` go straight to the hub). */
const siteOfDevice = (device: string): string => /^([sh]\d+)-/.exec(device)?.[1] ?? "?"

/**
 * Reads the hub's READINGS from `fromSeq` on with an ordered consumer while a phase runs,
 * tallying per site what arrived, how often each msgID is held, and how late.
 */
class HubTap {
  readonly sites = new Map<string, SiteTally>()
  total = 0
  private readonly done: Promise<void>

  private constructor(private readonly nc: NatsConnection, private readonly messages: ConsumerMessages) {
    this.done = this.tally()
    this.done.catch(() => {})
  }

  static async start(url: string, fromSeq: number): Promise<HubTap> {
    const nc = await connect({ servers: url, name: "bench-leaf-tap" })
    const consumer = await jetstream(nc).consumers.get(READINGS, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq })
    return new HubTap(nc, await consumer.consume({ max_messages: 4096 }))
  }

  private async tally(): Promise<void> {
    for await (const m of this.messages) {
      const site = siteOfDevice(m.subject.split(".")[2] ?? "?")
      let tally = this.sites.get(site)
      if (tally === undefined) this.sites.set(site, tally = emptyTally())
      tally.count++
      this.total++
      const id = m.headers?.get("Nats-Msg-Id") ?? `no-id:${m.seq}`
      tally.ids.set(id, (tally.ids.get(id) ?? 0) + 1)
      const storedMs = m.info.timestampNanos / 1e6
      tally.stored.push(storedMs)
      const ts = (Codec.decode(m.data) as { ts?: unknown }).ts
      if (typeof ts === "number") {
        tally.latencies.push(storedMs - ts)
        tally.published.push(ts)
      }
    }
  }

  async stop(): Promise<void> {
    await this.messages.close().catch(() => {})
    await this.done.catch(() => {})
    await this.nc.close()
  }

  site(site: string): SiteTally {
    return this.sites.get(site) ?? emptyTally()
  }

  /** Waits until every site holds at least `want[site]` readings; false on timeout. */
  async waitFor(want: ReadonlyMap<string, number>, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if ([...want].every(([site, n]) => this.site(site).count >= n)) return true
      await sleep(50)
    }
    return false
  }
}

/** Acknowledged readings against what the hub holds: each must be there exactly once. */
const exactlyOnce = (report: PublishReport, tally: SiteTally) => {
  const acked = new Set(report.acknowledged.map(msgIdOf))
  const attempted = new Set(report.attempted.map(msgIdOf))
  let once = 0
  let missing = 0
  let duplicated = 0
  for (const id of acked) {
    const n = tally.ids.get(id) ?? 0
    if (n === 1) once++
    else if (n === 0) missing++
    else duplicated++
  }
  let unacknowledgedStored = 0
  let unknown = 0
  for (const [id, n] of tally.ids) {
    if (acked.has(id)) continue
    if (attempted.has(id)) unacknowledgedStored++
    else unknown++
    if (n > 1) duplicated++
  }
  return { acknowledged: acked.size, once, missing, duplicated, unacknowledgedStored, unknown }
}

/** Latencies of the readings published in [from, to). */
const latencyBetween = (tally: SiteTally, from: number, to: number) =>
  latencySummary(tally.latencies.filter((_, i) => tally.published[i]! >= from && tally.published[i]! < to))

const latencySummary = (latencies: ReadonlyArray<number>) => {
  const sorted = [...latencies].sort((a, b) => a - b)
  const round = (x: number) => Math.round(x * 10) / 10
  return { count: sorted.length, p50: round(percentile(sorted, 0.5)), p90: round(percentile(sorted, 0.9)), p99: round(percentile(sorted, 0.99)), max: round(sorted.at(-1) ?? Number.NaN) }
}

// ---------------------------------------------------------------------------------------
// Servers

/** READINGS as a node creates it (default limits of the cluster file), one replica. */
const readingsConfig = (): Partial<StreamConfig> & { name: string } => {
  const config = streamConfigs({
    replicas: 1,
    readings: { maxAgeMs: 7 * 86_400_000, maxBytes: 2 ** 30 },
    aggregates: { maxAgeMs: 90 * 86_400_000, maxBytes: 2 ** 30 },
    alarms: { maxAgeMs: 90 * 86_400_000, maxBytes: 2 ** 28 },
    deadLetter: { maxAgeMs: 30 * 86_400_000, maxBytes: 2 ** 28 }
  }).find((c) => c.name === READINGS)
  if (config === undefined) throw new Error("no READINGS in streamConfigs")
  return config
}

interface Site {
  readonly index: number
  readonly name: string
  readonly server: LocalLeafNatsServer
  readonly proxy: LinkProxy
}

const withConnection = async <A>(url: string, use: (nc: NatsConnection, jsm: JetStreamManager) => Promise<A>): Promise<A> => {
  const nc = await connect({ servers: url, name: "bench-leaf-admin" })
  try {
    return await use(nc, await jetstreamManager(nc))
  } finally {
    await nc.close()
  }
}

/** The hub's READINGS sources `site`'s READINGS through the leaf link: a new site joining. */
const addSource = (hubUrl: string, domain: string) =>
  withConnection(hubUrl, async (_, jsm) => {
    const info = await jsm.streams.info(READINGS)
    const sources = [...(info.config.sources ?? []), { name: READINGS, external: { api: `$JS.${domain}.API`, deliver: "" } }]
    await jsm.streams.update(READINGS, { ...info.config, sources })
  })

const startSite = (dir: string, index: number, leafTarget: { host: string; port: number }): Effect.Effect<Site, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const proxy = yield* Effect.acquireRelease(Effect.promise(() => LinkProxy.open(leafTarget)), (p) => Effect.promise(() => p.close()))
    const name = `site-${index}`
    const server = yield* startLeafNatsServer({
      dir: join(dir, name),
      partitions: PARTITIONS,
      mqtt: false,
      leaf: {
        domain: name,
        // Readings cross the link only by sourcing, in neither direction as plain messages
        // (see LeafRemoteSpec.denyExports and denyImports).
        remotes: [{ url: `nats-leaf://127.0.0.1:${proxy.port}`, denyExports: SITE_LOCAL_SUBJECTS, denyImports: SITE_LOCAL_SUBJECTS }]
      }
    })
    yield* Effect.promise(() => withConnection(server.url, (_, jsm) => jsm.streams.add(readingsConfig())))
    return { index, name, server, proxy }
  })

interface LeafInfo {
  readonly leafs?: ReadonlyArray<{ readonly name?: string; readonly subscriptions?: number }>
  readonly leafnodes?: number
}
const leafCount = async (monitorUrl: string): Promise<number> => {
  const body = (await (await fetch(`${monitorUrl}/leafz`)).json()) as LeafInfo
  return body.leafnodes ?? body.leafs?.length ?? 0
}

/** Waits until the hub's READINGS holds `target` messages; the time it did, or undefined. */
const waitHubMessages = async (url: string, target: number, timeoutMs: number): Promise<number | undefined> =>
  withConnection(url, async (_, jsm) => {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if ((await jsm.streams.info(READINGS)).state.messages >= target) return Date.now()
      await sleep(20)
    }
    return undefined
  })

const hubState = (url: string) => withConnection(url, async (_, jsm) => (await jsm.streams.info(READINGS)).state)

// ---------------------------------------------------------------------------------------
// An optional Bramble node on the hub

interface HubNode {
  readonly status: () => Promise<NodeStatus>
}

const startHubNode = (dir: string, hubUrl: string): Effect.Effect<HubNode, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    if (!existsSync(BRAMBLE_BIN)) return yield* Effect.die(new Error(`${BRAMBLE_BIN} is missing: run \`npm run build\` first`))
    const db = yield* startVictoriaMetrics({ dir: join(dir, "vm") })
    const [clusterPort] = yield* freePorts(1)
    const file = join(dir, "cluster.yaml")
    writeFileSync(file, [
      `cluster: { name: hub, partitions: ${PARTITIONS}, dataDir: ${JSON.stringify(join(dir, "nodes"))} }`,
      `nodes: [{ name: n1, httpPort: 0, nats: { url: ${hubUrl}, clusterPort: ${clusterPort} } }]`,
      "windows: [{ name: 10s, size: 10s }, { name: 1m, size: 1m }]",
      `sink: { kind: influx-v2, url: ${db.url} }`
    ].join("\n"))
    const nc = yield* Effect.acquireRelease(Effect.promise(() => connect({ servers: hubUrl, maxReconnectAttempts: -1 })), (c) => Effect.promise(() => c.close()))
    const status = async (): Promise<NodeStatus> => {
      const reply = await nc.request("bramble.admin.n1.status", undefined, { timeout: 2000 })
      return JSON.parse(new TextDecoder().decode(reply.data)) as NodeStatus
    }
    yield* makeManagedProcess({
      name: "bramble-node",
      command: process.execPath,
      args: [BRAMBLE_BIN, "node", "--config", file, "--node", "n1"],
      logFile: join(dir, "node.log"),
      readiness: { probe: Effect.tryPromise(() => status()), timeout: "60 seconds" }
    })
    return { status }
  })

/**
 * Waits until every partition consumer has nothing pending and nothing unacknowledged: the
 * node acknowledges only after a checkpoint, which follows the database write, so then
 * everything in READINGS is stored. (Counting stored readings would not do: a partition that
 * restarts from its checkpoint writes some again.) The time it happened, or undefined.
 */
const waitNodeDrained = (hubUrl: string, timeoutMs: number): Promise<number | undefined> =>
  withConnection(hubUrl, async (_, jsm) => {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const infos = await Promise.all(
        Array.from({ length: PARTITIONS }, (_, p) => jsm.consumers.info(READINGS, consumerName(p)).catch(() => undefined))
      )
      if (infos.every((i) => i !== undefined && i.num_pending === 0 && i.num_ack_pending === 0)) return Date.now()
      await sleep(50)
    }
    return undefined
  })

// ---------------------------------------------------------------------------------------
// The run

const siteDevices = (prefix: string) => deviceNames(DEVICES).map((d) => `${prefix}-${d}`)

const program = Effect.scoped(Effect.gen(function*() {
  const dir = yield* scopedTempDir({ prefix: "bramble-bench-leaf-", keep: args.keep })
  const startedAt = Date.now()

  // A leaf reconnects to the URL the hub advertises as well as to its configured one, and
  // each site here reaches the hub through its own proxy: the hub advertises an address
  // where nothing listens, so every link goes through its proxy and can be cut there.
  const [nowhere] = yield* freePorts(1)
  const hub = yield* startLeafNatsServer({ dir: join(dir, "hub"), partitions: PARTITIONS, leaf: { domain: "hub", listen: { advertise: `127.0.0.1:${nowhere}` } } })
  const leafPort = hub.leaf.listen!.port
  yield* Effect.promise(() => withConnection(hub.url, (_, jsm) => jsm.streams.add(readingsConfig())))
  const node = args.node ? yield* startHubNode(join(dir, "node"), hub.url) : undefined

  const sites = yield* Effect.forEach(
    Array.from({ length: SITES }, (_, k) => k),
    (k) => startSite(dir, k, { host: "127.0.0.1", port: leafPort }),
    { concurrency: 4 }
  )
  for (const site of sites) yield* Effect.promise(() => addSource(hub.url, site.name))
  const linked = yield* Effect.promise(async () => {
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      if (await leafCount(hub.monitorUrl) >= SITES) return true
      await sleep(100)
    }
    return false
  })
  if (!linked) return yield* Effect.die(new Error(`only ${yield* Effect.promise(() => leafCount(hub.monitorUrl))} of ${SITES} sites linked to the hub`))
  const setupMs = Date.now() - startedAt
  console.log(`hub and ${SITES} leaf sites up in ${setupMs} ms${args.keep ? ` (${dir})` : ""}`)

  let stored = 0
  /** What the node did in each phase: counters after minus before. */
  const nodePhases: Record<string, Record<string, number>> = {}
  const nodeTotals = async (n: HubNode) => (await n.status()).totals as unknown as Record<string, number>
  let nodeTotalsBefore: Record<string, number> = node === undefined ? {} : yield* Effect.promise(() => nodeTotals(node))
  const nodeCatchUp = async (label: string) => {
    if (node === undefined) return undefined
    const at = await waitNodeDrained(hub.url, 300_000)
    if (at === undefined) console.log(`the node did not drain READINGS within 5 minutes (${label})`)
    stored = (await hubState(hub.url)).messages
    const totals = await nodeTotals(node)
    nodePhases[label] = Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, v - (nodeTotalsBefore[k] ?? 0)]))
    nodeTotalsBefore = totals
    return at
  }

  // 1. Throughput: every site publishes as fast as it can; the same load straight to the hub is the reference.
  const base = Date.now() - 3_600_000
  const perDevice = Math.ceil(READINGS_PER_SITE / DEVICES)
  // The second burst's event times follow the first's: a partition's watermark is shared by
  // its devices, so readings behind it would be too late for windows (with --node).
  const burst = (prefix: "h" | "s", k: number) =>
    makeReadings({
      devices: siteDevices(`${prefix}${k}`),
      perDevice,
      startMs: prefix === "h" ? base : base + perDevice * 100 + 60_000,
      stepMs: 100
    }).slice(0, READINGS_PER_SITE)

  const runBurst = async (label: string, prefix: "h" | "s") => {
    const before = (await hubState(hub.url)).messages
    const t0 = Date.now()
    const reports = await Promise.all(sites.map((site) => publishNats(prefix === "h" ? hub.url : site.server.url, burst(prefix, site.index), { window: 1024 })))
    const published = Date.now()
    const acked = reports.reduce((n, r) => n + r.acknowledged.length, 0)
    const arrived = await waitHubMessages(hub.url, before + acked, 120_000)
    const storedAt = await nodeCatchUp(label)
    const end = arrived ?? Date.now()
    return {
      label,
      readings: acked,
      failed: reports.reduce((n, r) => n + r.failed.length, 0),
      publishPerSec: acked / (published - t0) * 1000,
      hubArrivalMs: end - t0,
      hubArrivalPerSec: acked / (end - t0) * 1000,
      hubLagAfterLastAckMs: end - published,
      complete: arrived !== undefined,
      ...(storedAt === undefined ? {} : { storedMs: storedAt - t0, storedPerSec: acked / (storedAt - t0) * 1000 }),
      reports
    }
  }
  const direct = yield* Effect.promise(() => runBurst("direct to hub", "h"))
  const tapFrom = (yield* Effect.promise(() => hubState(hub.url))).last_seq + 1
  const viaLeaf = yield* Effect.promise(() => runBurst(`via ${SITES} leaf sites`, "s"))
  // Every reading of the burst in the hub exactly once.
  const burstTap = yield* Effect.promise(() => HubTap.start(hub.url, tapFrom))
  yield* Effect.promise(() => burstTap.waitFor(new Map(sites.map((s) => [`s${s.index}`, viaLeaf.reports[s.index]!.acknowledged.length])), 60_000))
  yield* Effect.promise(() => burstTap.stop())
  const burstCheck = sites.map((s) => exactlyOnce(viaLeaf.reports[s.index]!, burstTap.site(`s${s.index}`)))

  // 2. Steady load: publish → stored in the hub, per site.
  const steadyTap = yield* Effect.promise(async () => HubTap.start(hub.url, (await hubState(hub.url)).last_seq + 1))
  const steadyLoads = sites.map((site) =>
    steadyLoad({ url: site.server.url, ratePerSec: RATE_PER_SITE, devices: siteDevices(`s${site.index}`), seqStart: 1_000_000, durationMs: STEADY_MS })
  )
  const steadyReports = yield* Effect.promise(() => Promise.all(steadyLoads.map((l) => l.done)))
  yield* Effect.promise(() => steadyTap.waitFor(new Map(sites.map((s) => [`s${s.index}`, steadyReports[s.index]!.acknowledged.length])), 60_000))
  yield* Effect.promise(() => steadyTap.stop())
  yield* Effect.promise(() => nodeCatchUp("steady"))
  const steady = sites.map((s) => ({
    site: s.name,
    acknowledged: steadyReports[s.index]!.acknowledged.length,
    latencyMs: latencySummary(steadyTap.site(`s${s.index}`).latencies),
    exactlyOnce: exactlyOnce(steadyReports[s.index]!, steadyTap.site(`s${s.index}`))
  }))
  const steadyAll = latencySummary(sites.flatMap((s) => steadyTap.site(`s${s.index}`).latencies))

  // 3. Offline: cut site 0's link for OFFLINE_MS while every site keeps publishing.
  const cutSite = sites[0]!
  const cutKey = `s${cutSite.index}`
  const offlineTap = yield* Effect.promise(async () => HubTap.start(hub.url, (await hubState(hub.url)).last_seq + 1))
  const offlineLoads = sites.map((site) =>
    steadyLoad({ url: site.server.url, ratePerSec: RATE_PER_SITE, devices: siteDevices(`s${site.index}`), seqStart: 2_000_000 })
  )
  yield* Effect.promise(() => Promise.all(offlineLoads.map((l) => l.started)))
  yield* Effect.promise(() => sleep(BEFORE_CUT_MS))
  const atCut = { acked: offlineLoads[0]!.progress().acknowledged, inHub: offlineTap.site(cutKey).count, at: Date.now() }
  cutSite.proxy.cut()
  yield* Effect.promise(() => sleep(OFFLINE_MS))
  const beforeRestore = {
    acked: offlineLoads[0]!.progress().acknowledged,
    failed: offlineLoads[0]!.progress().failed,
    inHub: offlineTap.site(cutKey).count,
    leafsAtHub: yield* Effect.promise(() => leafCount(hub.monitorUrl))
  }
  const restoredAt = Date.now()
  cutSite.proxy.restore()
  // Caught up: the hub holds as many of the site's readings as it had acknowledged when the
  // link came back (sourcing is in stream order, so those are the first ones).
  const catchUp = yield* Effect.promise(async () => {
    const deadline = Date.now() + 180_000
    while (Date.now() < deadline) {
      if (offlineTap.site(cutKey).count >= beforeRestore.acked) return Date.now()
      await sleep(20)
    }
    return undefined
  })
  const remaining = AFTER_RESTORE_MS - (Date.now() - restoredAt)
  if (remaining > 0) yield* Effect.promise(() => sleep(remaining))
  const offlineReports = yield* Effect.promise(() => Promise.all(offlineLoads.map((l) => l.stop())))
  const allArrived = yield* Effect.promise(() =>
    offlineTap.waitFor(new Map(sites.map((s) => [`s${s.index}`, offlineReports[s.index]!.acknowledged.length])), 120_000)
  )
  yield* Effect.promise(() => sleep(1000)) // anything doubled arrives after the last expected reading
  yield* Effect.promise(() => offlineTap.stop())
  yield* Effect.promise(() => nodeCatchUp("offline"))
  const offlineCheck = sites.map((s) => {
    const tally = offlineTap.site(`s${s.index}`)
    return {
      site: s.name,
      ...exactlyOnce(offlineReports[s.index]!, tally),
      latencyMs: latencySummary(tally.latencies),
      // Published before the cut, during it, and after the restore: does one site's outage
      // and catch-up slow the others down?
      latencyByWindowMs: {
        beforeCut: latencyBetween(tally, 0, atCut.at),
        duringCut: latencyBetween(tally, atCut.at, restoredAt),
        afterRestore: latencyBetween(tally, restoredAt, Number.POSITIVE_INFINITY)
      }
    }
  })
  const others = offlineCheck.filter((c) => c.site !== cutSite.name)
  const othersMedian = (window: "beforeCut" | "duringCut" | "afterRestore", q: "p50" | "p99") => {
    const values = others.map((c) => c.latencyByWindowMs[window][q]).sort((a, b) => a - b)
    return percentile(values, 0.5)
  }
  const offline = {
    site: cutSite.name,
    cutMs: restoredAt - atCut.at,
    acknowledgedBySiteDuringCut: beforeRestore.acked - atCut.acked,
    failedPublishesDuringCut: beforeRestore.failed,
    // Readings of the cut site stored in the hub from 1 s after the cut (what was already on
    // the wire may land just after it) until the restore: 0 if the cut is real.
    storedInHubDuringCut: offlineTap.site(cutKey).stored.filter((t) => t >= atCut.at + 1000 && t < restoredAt).length,
    leafsAtHubDuringCut: beforeRestore.leafsAtHub,
    linkBackMs: cutSite.proxy.connectedAt >= restoredAt ? cutSite.proxy.connectedAt - restoredAt : undefined,
    backlog: beforeRestore.acked - beforeRestore.inHub,
    catchUpMs: catchUp === undefined ? undefined : catchUp - restoredAt,
    allArrived,
    otherSitesMedianLatencyMs: {
      beforeCut: { p50: othersMedian("beforeCut", "p50"), p99: othersMedian("beforeCut", "p99") },
      duringCut: { p50: othersMedian("duringCut", "p50"), p99: othersMedian("duringCut", "p99") },
      afterRestore: { p50: othersMedian("afterRestore", "p50"), p99: othersMedian("afterRestore", "p99") }
    },
    sites: offlineCheck
  }

  // What a reading costs on disk, at a site and in the hub (which adds the source header).
  const hubFinal = yield* Effect.promise(() => hubState(hub.url))
  const siteFinal = yield* Effect.promise(() => withConnection(cutSite.server.url, async (_, jsm) => (await jsm.streams.info(READINGS)).state))
  const storage = {
    hubBytesPerReading: Math.round(hubFinal.bytes / hubFinal.messages),
    siteBytesPerReading: Math.round(siteFinal.bytes / siteFinal.messages)
  }

  // Report
  const nodeStatus = node === undefined ? undefined : yield* Effect.promise(() => node.status())
  const strip = ({ reports: _, ...rest }: typeof direct) => rest
  const summary = {
    benchmark: "leaf",
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg(), natsServer: "2.9.10 (/usr/sbin/nats-server)" },
    setup: { sites: SITES, devicesPerSite: DEVICES, partitions: PARTITIONS, readingsPerSite: READINGS_PER_SITE, ratePerSite: RATE_PER_SITE, steadyMs: STEADY_MS, offlineMs: OFFLINE_MS, node: node !== undefined, setupMs },
    throughput: { direct: strip(direct), viaLeaf: strip(viaLeaf), ratio: viaLeaf.hubArrivalPerSec / direct.hubArrivalPerSec, exactlyOnce: burstCheck },
    steady: { offeredPerSec: RATE_PER_SITE * SITES, all: steadyAll, sites: steady },
    offline,
    storage,
    ...(nodeStatus === undefined ? {} : { node: { stored, totals: nodeStatus.totals, storage: nodeStatus.storage, phases: nodePhases } })
  }

  const pad = (v: unknown, n: number) => String(v).padStart(n)
  const fmt = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(0))
  console.log(`\nBramble leaf-node simulation: ${SITES} sites × ${DEVICES} devices → one hub, ${PARTITIONS} partitions, ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(1)).join(" ")}`)
  console.log(`\nthroughput (every site publishes ${READINGS_PER_SITE} readings as fast as it can)`)
  console.log(`${"path".padEnd(24)} ${pad("readings", 9)} ${pad("publish/s", 10)} ${pad("in hub/s", 10)} ${pad("ms", 7)} ${pad("hub lag ms", 11)}${node ? ` ${pad("stored/s", 9)}` : ""}`)
  for (const r of [direct, viaLeaf]) {
    console.log(`${r.label.padEnd(24)} ${pad(r.readings, 9)} ${pad(fmt(r.publishPerSec), 10)} ${pad(fmt(r.hubArrivalPerSec), 10)} ${pad(r.hubArrivalMs, 7)} ${pad(r.hubLagAfterLastAckMs, 11)}${node ? ` ${pad(fmt("storedPerSec" in r ? r.storedPerSec : undefined), 9)}` : ""}`)
  }
  const burstBad = burstCheck.reduce((n, c) => n + c.missing + c.duplicated, 0)
  console.log(`via leaf / direct: ${(summary.throughput.ratio).toFixed(2)}; exactly once in the hub: ${burstCheck.reduce((n, c) => n + c.once, 0)} of ${viaLeaf.readings} (missing or doubled: ${burstBad})`)
  console.log(`\nsteady load ${RATE_PER_SITE * SITES}/s (${RATE_PER_SITE}/s per site, ${STEADY_MS / 1000} s): publish → stored in the hub's READINGS, ms`)
  console.log(`${"site".padEnd(8)} ${pad("readings", 9)} ${pad("p50", 7)} ${pad("p90", 7)} ${pad("p99", 7)} ${pad("max", 7)} ${pad("once", 6)}`)
  for (const s of steady) {
    console.log(`${s.site.padEnd(8)} ${pad(s.acknowledged, 9)} ${pad(s.latencyMs.p50, 7)} ${pad(s.latencyMs.p90, 7)} ${pad(s.latencyMs.p99, 7)} ${pad(s.latencyMs.max, 7)} ${pad(s.exactlyOnce.missing + s.exactlyOnce.duplicated === 0 ? "yes" : "NO", 6)}`)
  }
  console.log(`${"all".padEnd(8)} ${pad(steadyAll.count, 9)} ${pad(steadyAll.p50, 7)} ${pad(steadyAll.p90, 7)} ${pad(steadyAll.p99, 7)} ${pad(steadyAll.max, 7)}`)
  console.log(`\noffline: ${offline.site}'s link cut for ${(offline.cutMs / 1000).toFixed(1)} s while every site publishes ${RATE_PER_SITE}/s`)
  console.log(`  acknowledged by the site during the cut: ${offline.acknowledgedBySiteDuringCut} (failed publishes: ${offline.failedPublishesDuringCut}); stored in the hub from 1 s after the cut to the restore: ${offline.storedInHubDuringCut}; leaf links at the hub: ${offline.leafsAtHubDuringCut} of ${SITES}`)
  console.log(`  link back ${fmt(offline.linkBackMs)} ms after restore; backlog of ${offline.backlog} in the hub ${fmt(offline.catchUpMs)} ms after restore`)
  console.log(`  other sites, median over sites of p50/p99 ms: before the cut ${othersMedian("beforeCut", "p50")}/${othersMedian("beforeCut", "p99")}, during ${othersMedian("duringCut", "p50")}/${othersMedian("duringCut", "p99")}, after the restore ${othersMedian("afterRestore", "p50")}/${othersMedian("afterRestore", "p99")}`)
  console.log(`${"site".padEnd(8)} ${pad("acked", 7)} ${pad("once", 7)} ${pad("missing", 8)} ${pad("doubled", 8)} ${pad("p50 ms", 7)} ${pad("max ms", 8)}`)
  for (const s of offlineCheck) {
    console.log(`${s.site.padEnd(8)} ${pad(s.acknowledged, 7)} ${pad(s.once, 7)} ${pad(s.missing, 8)} ${pad(s.duplicated, 8)} ${pad(s.latencyMs.p50, 7)} ${pad(s.latencyMs.max, 8)}`)
  }
  const offlineBad = offlineCheck.reduce((n, c) => n + c.missing + c.duplicated, 0)
  console.log(`every acknowledged reading in the hub exactly once: ${offlineBad === 0 && allArrived ? "yes" : "NO"}`)
  console.log(`\nstream bytes per reading (2 metrics, msgpack): site ${storage.siteBytesPerReading}, hub ${storage.hubBytesPerReading}`)
  if (nodeStatus !== undefined) {
    console.log(`\nBramble node on the hub: READINGS (${stored} readings) drained and stored; ${nodeStatus.totals.rejected} refused, ${nodeStatus.totals.windowsEmitted} window results`)
    console.log(`${"phase".padEnd(24)} ${pad("received", 9)} ${pad("accepted", 9)} ${pad("tooLate", 8)} ${pad("windows", 8)}`)
    for (const [phase, t] of Object.entries(nodePhases)) {
      console.log(`${phase.padEnd(24)} ${pad(t["received"], 9)} ${pad(t["accepted"], 9)} ${pad(t["tooLate"] ?? "-", 8)} ${pad(t["windowsEmitted"], 8)}`)
    }
    console.log("(received > readings: a partition restarted from its checkpoint and replayed; tooLate: readings later than\n processing.allowedLateness for their partition's watermark, stored raw, not in windows)")
  }

  const out = resolve(import.meta.dirname, "results")
  mkdirSync(out, { recursive: true })
  const file = join(out, `leaf-${summary.at.replace(/[:.]/g, "-")}.json`)
  writeFileSync(file, JSON.stringify(summary, null, 2))
  console.log(`\nresult: ${file}`)
  if (burstBad + offlineBad > 0 || !allArrived) process.exitCode = 1
}))

Effect.runPromise(program).then(() => process.exit(process.exitCode ?? 0), (error) => {
  console.error(error)
  process.exit(1)
})
