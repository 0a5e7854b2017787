/**
 * A Bramble node: what `bramble node` runs on every Pi.
 *
 * It starts (and keeps alive) its own nats-server rendered from the cluster file — or uses
 * an existing one — ensures the JetStream topology, starts the storage actor on the
 * configured database, runs a worker for every partition it owns, runs the sensor actors
 * wired to it, and answers admin requests. Everything is scoped: closing the scope (Ctrl-C,
 * SIGTERM) stops it all in reverse order, nats-server last.
 */
import type { ActuatorStats } from "@bramble/actor-actuator"
import { type ForwarderStats, forwarderConnection, startForwarders } from "@bramble/actor-forwarder"
import type { SensorStats } from "@bramble/actor-sensor"
import { influxBatchSink, makeStorage, type StorageStats } from "@bramble/actor-storage"
import { type ClusterConfig, compileRules } from "@bramble/config"
import { bcryptMatches, loadNodeCredentials, loadServerSecurity, natsSpecForNode, nodeDataDir, readPasswordHashes, startNatsServer } from "@bramble/deploy"
import { InfluxSink } from "@bramble/influx"
import {
  ALARM_ACKS_BUCKET,
  CHECKPOINT_BUCKET,
  CONFIG_BUCKET,
  ensureConfigBucket,
  kvConfigStore,
  ensureClusterBuckets,
  INGEST_STREAM,
  ensureTopology,
  kvLeaseStore,
  kvMemberStore,
  LEASES_BUCKET,
  MEMBERS_BUCKET,
  NatsClient,
  natsError,
  raiseReplicas
} from "@bramble/nats"
import { Codec, encodeDeadLetter, Subjects } from "@bramble/protocol"
import { Backoff } from "@bramble/runtime"
import { Effect, Exit, Redacted, Scope } from "effect"
import { type ActorRegistry, makeActorRegistry } from "../admin/ActorRegistry.js"
import { type AdminService, serveAdmin } from "../admin/AdminService.js"
import type { ClusterView } from "../admin/ClusterView.js"
import { serveNodeHttp } from "../http/NodeHttp.js"
import { nodeLoggerLayer } from "../metrics/NodeLogger.js"
import { instrumentedStorageStats } from "../metrics/SinkLatency.js"
import { membershipTiming, newIncarnation, startMembership } from "../membership/Membership.js"
import type { Fence } from "../ownership/Fence.js"
import { leasedClusterView } from "../ownership/LeasedClusterView.js"
import { leaseTiming } from "../ownership/LeaseTiming.js"
import { fencedCheckpoints, fencedNats, fencedStorage } from "../ownership/OwnedPorts.js"
import { startOwnership } from "../ownership/Ownership.js"
import type { OwnershipLog } from "../ownership/OwnershipLog.js"
import { type IngestStats, makeIngestStats, runIngestRouter } from "../ingest/IngestRouter.js"
import { makeRouteTable } from "../ingest/RouteTable.js"
import { runUnroutedMqtt } from "../ingest/UnroutedMqtt.js"
import { makeWriteAccess, openAccess, type WriteAccess } from "../ingest/WriteAccess.js"
import { makeWriteEndpoint } from "../ingest/WriteEndpoint.js"
import { makePartitionStats, type PartitionStats } from "../partition/PartitionStats.js"
import { runPartition } from "../partition/PartitionWorker.js"
import { ownConsumerConnection } from "../partition/Quarantine.js"
import { type ClusterVersion, startClusterVersion } from "../config/ClusterVersion.js"
import { watchClockSync } from "./ClockSync.js"
import { type EdgeHardware, startEdge } from "./Edge.js"
import { awaitJetStream, makeFormation } from "./Formation.js"
import { serveFormingResponders } from "./FormingResponders.js"
import { makeSink } from "./Sink.js"

export interface NodeOptions {
  readonly config: ClusterConfig
  /** The cluster file's path and text: published as the cluster's version 1 when this node is the first. */
  readonly configFile?: { readonly path: string; readonly text: string }
  readonly node: string
  /** Connect to this NATS server instead of starting the one the file describes (tests). */
  readonly natsUrl?: string
  /** Use simulated drivers for every sensor, whatever their kind. */
  readonly simulate?: boolean
  /** Record every lease claim, renewal and release here (fault tests, audits). */
  readonly ownershipLog?: OwnershipLog
  /** Drivers for the node's sensors and actuators instead of those their kinds choose (tests). */
  readonly hardware?: EdgeHardware
}

/** Every stream and KV bucket (the stream `KV_<bucket>`) a cluster keeps, for raiseReplicas. */
const CLUSTER_STREAMS = [
  ...Object.values(Subjects.Streams),
  INGEST_STREAM,
  ...[CHECKPOINT_BUCKET, MEMBERS_BUCKET, LEASES_BUCKET, ALARM_ACKS_BUCKET, CONFIG_BUCKET].map((bucket) => `KV_${bucket}`)
]

/** How long a silent member's heartbeat stays in the members bucket. */
const MEMBER_TTL_MS = 10_000

/** What a running node exposes (admin actor, demo, tests). */
export interface RunningNode {
  readonly name: string
  readonly natsUrl: string
  readonly mqttUrl: string | undefined
  readonly startedAt: number
  readonly partitions: ReadonlyArray<PartitionStats>
  readonly sensors: ReadonlyArray<SensorStats>
  readonly actuators: ReadonlyArray<ActuatorStats>
  readonly storage: StorageStats
  /** The ingest router's counts (cluster/src/ingest); they move on the node owning partition 0. */
  readonly ingest: IngestStats
  /** One per `forward:` target of the cluster file (actors/forwarder). */
  readonly forwarders: ReadonlyArray<ForwarderStats>
  /** The node's HTTP server (dashboard, /metrics); undefined when off or not listening. */
  readonly httpUrl: string | undefined
  readonly config: ClusterConfig
  /** Every worker and actor on the node (admin `actors`, `restart`). */
  readonly registry: ActorRegistry
  /** The cluster as this node's admin actor sees it (members, partition owners). */
  readonly clusterView: ClusterView
  /** The admin actor (status, device queries). */
  readonly admin: AdminService
  /** The version of the cluster file this node runs (docs/live-config.md). */
  readonly clusterVersion: ClusterVersion
}

export const startNode = Effect.fn("Node.startNode")(function*(options: NodeOptions): Effect.fn.Return<RunningNode, unknown, Scope.Scope> {
  const { config, node } = options
  const self = config.nodes.find((n) => n.name === node)
  if (self === undefined) {
    return yield* Effect.fail(new Error(`no node named "${node}" in the cluster file (nodes: ${config.nodes.map((n) => n.name).join(", ")})`))
  }
  const startedAt = Date.now()

  // 1. NATS: the node's own supervised nats-server, or an existing one.
  const existing = options.natsUrl ?? self.nats.url
  // A security section adds every user's password hash and the TLS files (deploy/src/security).
  const security = existing === undefined ? yield* loadServerSecurity(config, node) : undefined
  const server = existing === undefined
    ? yield* startNatsServer({ dir: nodeDataDir(config, node), spec: natsSpecForNode(config, node, security === undefined ? {} : { security })!, restartOnExit: true })
    : undefined
  const natsUrl = existing ?? server!.url
  const credentials = yield* loadNodeCredentials(config, node)
  const mqttUrl = server === undefined ? undefined : `${credentials?.tls === undefined ? "mqtt" : "mqtts"}://${self.host}:${server.spec.mqttPort}`
  const client = yield* NatsClient.make({ servers: natsUrl, name: `bramble-node-${node}`, ...credentials })
  // Connections made later (each run of a partition worker or a forwarder) try the server
  // the main connection uses now as well as this node's own: while the node's own
  // nats-server is down, a new connection to it alone would wait for it forever (the main
  // connection has failed over to another server of the cluster, and keeps the leases).
  const serversNow = (): Array<string> => [...new Set([client.nc.getServer(), natsUrl])]
  const withNats = Effect.provideService(NatsClient, client)
  // Until its cluster has formed (a JetStream leader, the streams and buckets in place) a
  // node waits — however long — and says what for; it never exits, which would take its
  // nats-server down with it and keep a booting cluster from forming (./Formation.ts).
  const formation = makeFormation(startedAt)
  let lastFormingLog: { readonly text: string; readonly at: number } | undefined
  const whileClusterForms = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.tapError((error) =>
        Effect.suspend(() => {
          const text = `${what}: ${error instanceof Error ? error.message : String(error)}`
          formation.set(text)
          // Said when it changes and once a minute: a Pi may wait for its peers for hours.
          if (lastFormingLog?.text === text && Date.now() - lastFormingLog.at < 60_000) return Effect.void
          lastFormingLog = { text, at: Date.now() }
          return Effect.logWarning(`${what} failed; retrying while the cluster forms`, error)
        })
      ),
      Effect.retry(Backoff.schedule({ initial: "500 millis", max: "5 seconds", factor: 2, jitter: 0.3 }))
    )
  const replicas = Math.min(3, config.nodes.length)
  const routeTable = makeRouteTable(config)
  const ingestStats = makeIngestStats()
  const timing = leaseTiming()
  const buckets = yield* Effect.scoped(Effect.gen(function*() {
    yield* withNats(serveFormingResponders({ node, formation, http: { host: self.host, port: self.httpPort } }))
    yield* awaitJetStream({
      jsm: client.jsm,
      monitorUrl: server?.monitorUrl,
      servers: Math.max(1, config.nodes.filter((n) => n.nats.url === undefined).length),
      formation
    })
    yield* whileClusterForms("creating the streams", withNats(ensureTopology({
      replicas,
      readings: { maxAgeMs: config.streams.readings.maxAge, maxBytes: config.streams.readings.maxBytes },
      aggregates: { maxAgeMs: config.streams.aggregates.maxAge, maxBytes: config.streams.aggregates.maxBytes },
      alarms: { maxAgeMs: config.streams.alarms.maxAge, maxBytes: config.streams.alarms.maxBytes },
      deadLetter: { maxAgeMs: config.streams.deadLetter.maxAge, maxBytes: config.streams.deadLetter.maxBytes },
      ingest: { subjects: routeTable.streamSubjects, limits: { maxAgeMs: config.streams.readings.maxAge, maxBytes: config.streams.readings.maxBytes } }
    })))
    const opened = yield* whileClusterForms(
      "creating the membership and lease buckets",
      withNats(ensureClusterBuckets({ replicas, memberTtlMs: MEMBER_TTL_MS, leaseTtlMs: timing.ttlMs }))
    )
    const configKv = yield* whileClusterForms("creating the cluster file's version bucket", ensureConfigBucket(client.kvm, replicas))
    formation.set(undefined)
    return { ...opened, config: configKv }
  }))
  // Streams created while fewer servers were up have fewer copies (withPlacementFallback):
  // raise them as the others join, and say so until they are all at full strength.
  yield* Effect.forkScoped(Effect.gen(function*() {
    let reported = ""
    while (true) {
      const below = yield* withNats(raiseReplicas(replicas, CLUSTER_STREAMS))
      const text = below.map((b) => `${b.stream} R${b.replicas}`).join(", ")
      if (text !== reported) {
        if (text === "") yield* Effect.logInfo(`every stream and bucket has ${replicas} copies`)
        else yield* Effect.logWarning(`fewer servers were up than the cluster has: ${text} (of ${replicas}); raised when the others join`)
        reported = text
      }
      if (below.length === 0 && reported === "") return
      yield* Effect.sleep("10 seconds")
    }
  }))

  // 2. Storage: one writer per node to the database. It lives in a scope of its own,
  //    closed only after the partitions were handed over on the way out (they need it for
  //    their last checkpoint): the storage actor forks every database write into its scope,
  //    and a fork registered late in the node's scope would be stopped before the handover.
  const storageScope = yield* Scope.fork(yield* Effect.scope, "sequential")
  const sink = yield* makeSink(config.sink).pipe(Scope.provide(storageScope))
  const { stats: storageStats, writeLatency } = instrumentedStorageStats()
  const storage = yield* makeStorage({
    batchSize: config.sink.batchSize,
    flushIntervalMs: 200,
    stats: storageStats,
    rejected: (point, reason) =>
      Effect.tryPromise({
        try: () =>
          client.js.publish(
            Subjects.deadLetterSubject("SinkRejected"),
            encodeDeadLetter({ reason: "SinkRejected", message: reason, subject: point.measurement, at: Date.now(), payload: Codec.encode(point) })
          ),
        catch: natsError("Publish", "cannot dead-letter a point the database refused")
      }).pipe(Effect.orDie, Effect.asVoid)
  }).pipe(Effect.provideService(InfluxSink, sink), Scope.provide(storageScope))
  const registry = makeActorRegistry()
  yield* registry.registerActor("storage", storage.ref.stats)

  let httpUrl: string | undefined

  // 3. Partitions, owned through leases (cluster/src/ownership): this node joins the
  //    membership, and runs the worker of every partition the assignment gives it for the
  //    live members, each while it holds the partition's lease. A node alone in its cluster
  //    file owns them all. A worker writes only through its partition's fence, and
  //    restarts from its checkpoint after a failure.
  const incarnation = newIncarnation(startedAt)
  const membership = yield* startMembership({
    store: kvMemberStore(buckets.members),
    self: { node, incarnation, startedAt, natsUrl, ...(mqttUrl === undefined ? {} : { mqttUrl }) },
    extra: () => (httpUrl === undefined ? {} : { httpUrl }),
    // Alone in its cluster file, a node has no peers to wait for: it claims its
    // partitions as soon as its own heartbeat is back (the settle time is for seeing
    // the others before computing an assignment).
    ...(config.nodes.length === 1 ? { timing: { ...membershipTiming, settleMs: 0 } } : {})
  })
  const leases = kvLeaseStore(buckets.leases)
  const kv = yield* Effect.tryPromise({
    try: () => client.kvm.open(CHECKPOINT_BUCKET),
    catch: natsError("KeyValue", `cannot open ${CHECKPOINT_BUCKET}`)
  })
  // The cluster's version of the file (../config/ClusterVersion.ts): its rules, forward
  // targets and sink batching change live.
  const clusterVersion = yield* whileClusterForms("reading the cluster file's current version", startClusterVersion({
    node,
    store: kvConfigStore(buckets.config, client.jsm),
    config,
    ...(options.configFile === undefined ? {} : { file: options.configFile })
  }))
  // Forwarders (actors/forwarder): every `forward:` target of the file in force (the
  // cluster's version's targets) is fed from the log through a durable consumer of its own,
  // shared by all nodes, each batch acknowledged once the receiver has it. Their secrets are
  // read now, so a missing one stops the node here. Nothing else on the node waits for them:
  // a receiver that is down only holds its own consumer back. Each pulls over a connection
  // of its own (see Forwarders.ts for why). A new version of the file stops and starts the
  // forwarders of the targets it changes.
  const forwarders = yield* withNats(startForwarders({
    config: clusterVersion.config(),
    registry,
    connect: (target) => Effect.suspend(() => forwarderConnection({ servers: serversNow(), name: `bramble-node-${node}-fwd-${target}`, ...credentials }))
  }))
  yield* clusterVersion.follow({
    section: "forward",
    prepare: (next) => Effect.map(forwarders.prepare(next), (prepared) => prepared.apply)
  })
  // The sink's batching (sink.batchSize, sink.gzip; never the database itself:
  // packages/config LiveConfig.ts) follows the versions too: a sink to the same database
  // with the new settings is made (its secret read again), and the storage actor writes
  // through it from its next batch, once the write in flight has finished through the old
  // one, which is then closed. Nothing buffered or in flight is dropped.
  let sinkInForce = config.sink
  yield* clusterVersion.follow({
    section: "sink",
    prepare: (next) =>
      Effect.gen(function*() {
        if (next.sink.batchSize === sinkInForce.batchSize && next.sink.gzip === sinkInForce.gzip) return Effect.void
        const scope = yield* Scope.fork(storageScope, "sequential")
        const made = yield* makeSink(next.sink).pipe(
          Scope.provide(scope),
          Effect.tapError(() => Scope.close(scope, Exit.void)),
          Effect.mapError((error) => ({ message: error instanceof Error ? error.message : String(error) }))
        )
        return Effect.andThen(
          storage.reconfigure({ sink: influxBatchSink(made), batchSize: next.sink.batchSize, release: Scope.close(scope, Exit.void) }),
          Effect.sync(() => {
            sinkInForce = next.sink
          })
        )
      })
  })
  const partitions: Array<PartitionStats> = Array.from({ length: config.cluster.partitions }, (_, partition) => makePartitionStats(partition))
  const p = config.processing
  // Expressions are compiled once here, for every partition this node will run.
  const exprRules = compileRules(config)
  const runWorker = (partition: number, fence: Fence, lease: number) => {
    const stats = partitions[partition]!
    // Delivery comes through a connection of its own, a fresh one every run: a message no
    // client can parse stalls only that one (../partition/Quarantine.ts).
    const consumerConnection = Effect.suspend(() => ownConsumerConnection({ servers: serversNow(), name: `bramble-node-${node}-p${partition}`, ...credentials }))
    return registry.restartable(`partition-${partition}`, "partition", Effect.scoped(Effect.flatMap(consumerConnection, (js) => runPartition({
      partition,
      settings: {
        batchSize: p.batchSize,
        checkpointIntervalMs: p.checkpointInterval,
        allowedLatenessMs: p.allowedLateness,
        watermarkDelayMs: p.watermarkDelay,
        idleAdvanceMs: p.idleAdvance,
        passivateAfterMs: p.passivateAfter,
        decodeLimits: { maxPayloadBytes: p.maxPayload, maxFutureSkewMs: 24 * 3600_000, maxClockAheadMs: p.maxClockAhead }
      },
      windows: config.windows,
      rules: exprRules,
      ruleVersions: clusterVersion.rules,
      checkpoints: fencedCheckpoints(kv, fence, { node, incarnation, lease }),
      storage: fencedStorage(storage, fence),
      stats,
      onDevices: (devices) => registry.registerDevices(partition, devices)
    }).pipe(
      Effect.provideService(NatsClient, fencedNats({ ...client, js }, fence, (gap) => {
        options.ownershipLog?.write({ event: "gap", partition, node, incarnation, lease, at: Date.now(), detail: `delivery ${gap.got}, expected ${gap.expected}` })
      }))
    ))), { processed: () => stats.received })
  }
  // The ingest router and the unrouted-MQTT watch (../ingest) run beside partition 0's
  // worker, under its lease: one reader of INGEST at a time, so each device's order holds.
  const runIngest = registry.restartable(
    "ingest-router",
    "ingest",
    withNats(Effect.all([
      ...(routeTable.streamSubjects.length === 0 ? [] : [runIngestRouter({ table: routeTable, partitions: config.cluster.partitions, stats: ingestStats, maxRecordBytes: p.maxPayload })]),
      runUnroutedMqtt({ table: routeTable, stats: ingestStats })
    ], { concurrency: "unbounded", discard: true })),
    { processed: () => ingestStats.messages }
  )
  const runOwned = (partition: number, fence: Fence, lease: number) =>
    partition === 0 ? Effect.all([runWorker(partition, fence, lease), runIngest], { concurrency: "unbounded", discard: true }) : runWorker(partition, fence, lease)
  const ownership = yield* startOwnership({
    node,
    incarnation,
    partitions: config.cluster.partitions,
    leases,
    members: membership.liveNames,
    timing,
    runWorker: runOwned,
    ...(options.ownershipLog === undefined ? {} : { log: options.ownershipLog })
  })
  // On the way out (SIGTERM): leave first, so the others start claiming, then hand over.
  yield* Effect.addFinalizer(() => Effect.andThen(membership.leave, ownership.shutdown))
  const clusterView = leasedClusterView({ self: node, partitions: config.cluster.partitions, leaseTtlMs: timing.ttlMs, leases, membership, ownership })

  // 4. The edge (./Edge.ts): the sensor actors (each with its on-disk outbox) and the
  //    actuator actors wired to this node, each supervised on its own.
  const edge = yield* startEdge({
    config,
    node,
    simulate: options.simulate === true,
    client,
    registry,
    ...(options.hardware === undefined ? {} : { hardware: options.hardware })
  })
  const sensors = edge.sensors

  // 5. The admin actor, then the HTTP server (dashboard, /metrics) that reads from it.
  // Its own clock stamps what its nats-server stores: say when it is not synchronized (./ClockSync.ts).
  const clock = yield* watchClockSync
  const adminNode = {
    name: node,
    natsUrl,
    mqttUrl,
    startedAt,
    partitions,
    sensors,
    storage: storageStats,
    ingest: ingestStats,
    get forwarders() {
      return forwarders.stats()
    },
    clock,
    configVersion: () => {
      const s = clusterVersion.state()
      return {
        ...(s.version === undefined ? {} : { version: s.version }),
        ...(s.latest === undefined ? {} : { latest: s.latest }),
        ...(s.error === undefined ? {} : { error: s.error })
      }
    },
    get httpUrl() {
      return httpUrl
    }
  }
  // Operators' reads (admin service, dashboard, HTTP API) use a connection of their own:
  // they read READINGS by device, and a message no client can parse
  // (../partition/Quarantine.ts) may then stall those reads until a ping notices (~30 s),
  // never this node's leases, heartbeats and publishes.
  const readers = yield* NatsClient.make({ servers: natsUrl, name: `bramble-node-${node}-readers`, ...credentials })
  const admin = yield* serveAdmin({ node: adminNode, config, registry, view: clusterView }).pipe(Effect.provideService(NatsClient, readers))
  if (self.httpPort !== 0) {
    const writeAccess = yield* writeAccessFor(config)
    // The dashboard is not worth stopping the data path for: a taken port is logged.
    const http = yield* Effect.result(serveNodeHttp({
      host: self.host,
      port: self.httpPort,
      cluster: config.cluster.name,
      admin,
      nc: readers.nc,
      js: readers.js,
      jsm: readers.jsm,
      writeLatency,
      write: makeWriteEndpoint({
        partitions: config.cluster.partitions,
        maxRecordBytes: config.processing.maxPayload,
        publisher: client.publisher,
        stats: ingestStats,
        access: writeAccess
      })
    }))
    if (http._tag === "Success") httpUrl = http.success.url
    else yield* Effect.logWarning(`dashboard and /metrics are off: ${http.failure.message}`)
  }
  const running: RunningNode = {
    ...adminNode,
    // Getters, not the values at start: they follow the cluster's versions.
    get forwarders() {
      return forwarders.stats()
    },
    actuators: edge.actuators,
    httpUrl,
    config,
    registry,
    clusterView,
    admin,
    clusterVersion
  }
  yield* Effect.logInfo(
    `node ${node} ready: nats ${natsUrl}${mqttUrl ? `, mqtt ${mqttUrl}` : ""}${httpUrl ? `, dashboard ${httpUrl}` : ""}, ` +
      `${config.cluster.partitions} partitions, sink ${sink.describe}`
  )
  return running
})

/** Run a node until interrupted, logging as JSON lines or text (see NodeLogger). */
export const runNode = (options: NodeOptions) =>
  Effect.scoped(Effect.andThen(startNode(options), Effect.never)).pipe(Effect.provide(nodeLoggerLayer()))

/** Who may write to the InfluxDB-compatible endpoint: anyone without a security section, else
 * the cluster's users by their passwords (../ingest/WriteAccess.ts). Hashes that cannot be
 * read leave the endpoint refusing every write with why (503), not open. */
const writeAccessFor = (config: ClusterConfig) =>
  Effect.gen(function*() {
    if (config.security === undefined) return openAccess
    const hashes = yield* Effect.result(readPasswordHashes(config.security.credentials))
    if (hashes._tag === "Failure") {
      const message = `the write endpoint is off: ${hashes.failure.message}`
      yield* Effect.logWarning(message)
      return async (): Promise<WriteAccess> => ({ _tag: "Refused", status: 503, message })
    }
    return makeWriteAccess(hashes.success, (password, hash) => Effect.runPromise(bcryptMatches(Redacted.make(password), hash)))
  })

