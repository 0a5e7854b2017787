/**
 * A Bramble node: what `bramble node` runs on every Pi.
 *
 * It starts (and keeps alive) its own nats-server rendered from the cluster file — or uses
 * an existing one — ensures the JetStream topology, starts the storage actor on the
 * configured database, runs a worker for every partition it owns, runs the sensor actors
 * wired to it, and answers admin requests. Everything is scoped: closing the scope (Ctrl-C,
 * SIGTERM) stops it all in reverse order, nats-server last.
 */
import { makeSensorStats, runSensor, type SensorStats } from "@bramble/actor-sensor"
import { makeStorage, makeStorageStats } from "@bramble/actor-storage"
import type { ClusterConfig } from "@bramble/config"
import { natsSpecForNode, nodeDataDir, startNatsServer } from "@bramble/deploy"
import { DhtDriver } from "@bramble/hardware"
import { InfluxSink } from "@bramble/influx"
import { CHECKPOINT_BUCKET, ensureTopology, NatsClient, natsError } from "@bramble/nats"
import { Codec, encodeDeadLetter, Subjects } from "@bramble/protocol"
import { Backoff } from "@bramble/runtime"
import { Effect, Layer, type Scope } from "effect"
import { kvCheckpoints } from "../partition/Checkpoints.js"
import { makePartitionStats, type PartitionStats } from "../partition/PartitionStats.js"
import { runPartition } from "../partition/PartitionWorker.js"
import { serveAdmin } from "./Admin.js"
import { makeSink } from "./Sink.js"

export interface NodeOptions {
  readonly config: ClusterConfig
  readonly node: string
  /** Connect to this NATS server instead of starting the one the file describes (tests). */
  readonly natsUrl?: string
  /** Use simulated drivers for every sensor, whatever their kind. */
  readonly simulate?: boolean
}

/** What a running node exposes (admin actor, demo, tests). */
export interface RunningNode {
  readonly name: string
  readonly natsUrl: string
  readonly mqttUrl: string | undefined
  readonly startedAt: number
  readonly partitions: ReadonlyArray<PartitionStats>
  readonly sensors: ReadonlyArray<SensorStats>
  readonly storage: ReturnType<typeof makeStorageStats>
}

export const startNode = (options: NodeOptions): Effect.Effect<RunningNode, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const { config, node } = options
    const self = config.nodes.find((n) => n.name === node)
    if (self === undefined) {
      return yield* Effect.fail(new Error(`no node named "${node}" in the cluster file (nodes: ${config.nodes.map((n) => n.name).join(", ")})`))
    }
    const startedAt = Date.now()

    // 1. NATS: the node's own supervised nats-server, or an existing one.
    const existing = options.natsUrl ?? self.nats.url
    const server = existing === undefined
      ? yield* startNatsServer({ dir: nodeDataDir(config, node), spec: natsSpecForNode(config, node)!, restartOnExit: true })
      : undefined
    const natsUrl = existing ?? server!.url
    const mqttUrl = server === undefined ? undefined : `mqtt://${self.host}:${server.spec.mqttPort}`
    const client = yield* NatsClient.make({ servers: natsUrl, name: `bramble-node-${node}` })
    const withNats = Effect.provideService(NatsClient, client)

    yield* withNats(ensureTopology({
      replicas: Math.min(3, config.nodes.length),
      readings: { maxAgeMs: config.streams.readings.maxAge, maxBytes: config.streams.readings.maxBytes },
      aggregates: { maxAgeMs: config.streams.aggregates.maxAge, maxBytes: config.streams.aggregates.maxBytes },
      alarms: { maxAgeMs: config.streams.alarms.maxAge, maxBytes: config.streams.alarms.maxBytes },
      deadLetter: { maxAgeMs: config.streams.deadLetter.maxAge, maxBytes: config.streams.deadLetter.maxBytes }
    }))

    // 2. Storage: one writer per node to the database.
    const sink = yield* makeSink(config.sink)
    const storageStats = makeStorageStats()
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
    }).pipe(Effect.provideService(InfluxSink, sink))

    // 3. Partitions. A single-node cluster owns them all; each worker restarts from its
    //    checkpoint after a failure, with capped, jittered backoff.
    const kv = yield* Effect.tryPromise({
      try: () => client.kvm.open(CHECKPOINT_BUCKET),
      catch: natsError("KeyValue", `cannot open ${CHECKPOINT_BUCKET}`)
    })
    const checkpoints = kvCheckpoints(kv)
    const partitions: Array<PartitionStats> = []
    const p = config.processing
    for (let partition = 0; partition < config.cluster.partitions; partition++) {
      const stats = makePartitionStats(partition)
      partitions.push(stats)
      const worker = Effect.scoped(runPartition({
        partition,
        settings: {
          batchSize: p.batchSize,
          checkpointIntervalMs: p.checkpointInterval,
          allowedLatenessMs: p.allowedLateness,
          idleAdvanceMs: p.idleAdvance,
          passivateAfterMs: p.passivateAfter,
          decodeLimits: { maxPayloadBytes: p.maxPayload, maxFutureSkewMs: 24 * 3600_000 }
        },
        windows: config.windows,
        checkpoints,
        storage,
        stats
      }))
      yield* Effect.forkScoped(withNats(
        worker.pipe(
          Effect.tapCause((cause) => Effect.logError(`partition ${partition} failed; restarting from its checkpoint`, cause)),
          Effect.retry(Backoff.schedule({ initial: "200 millis", max: "10 seconds", factor: 2, jitter: 0.3 }))
        )
      ))
    }

    // 4. Sensors wired to this node.
    const sensors: Array<SensorStats> = []
    const mine = config.sensors.filter((s) => s.node === node)
    if (mine.length > 0) {
      const simulated = options.simulate === true || mine.every((s) => s.kind.startsWith("simulated-"))
      const driver = simulated ? DhtDriver.layerSimulated() : DhtDriver.layerNodeDht
      const publish = (subject: string, data: Uint8Array, msgID: string) =>
        Effect.tryPromise({ try: () => client.js.publish(subject, data, { msgID }), catch: natsError("Publish", `cannot publish to ${subject}`) })
      const context = yield* Layer.build(driver)
      for (const s of mine) {
        const stats = makeSensorStats(s.device)
        sensors.push(stats)
        const model = s.kind.endsWith("dht11") ? "dht11" as const : "dht22" as const
        yield* Effect.forkScoped(
          runSensor({ spec: { device: s.device, sensor: s.sensor, model, pin: s.pin, intervalMs: s.interval }, publish, stats }).pipe(
            Effect.scoped,
            Effect.provide(context),
            Effect.tapCause((cause) => Effect.logError(`sensor ${s.device}/${s.sensor} failed; restarting`, cause)),
            Effect.retry(Backoff.schedule({ initial: "1 second", max: "30 seconds", factor: 2, jitter: 0.3 }))
          )
        )
      }
    }

    const running: RunningNode = { name: node, natsUrl, mqttUrl, startedAt, partitions, sensors, storage: storageStats }
    yield* withNats(serveAdmin(running))
    yield* Effect.logInfo(`node ${node} ready: nats ${natsUrl}${mqttUrl ? `, mqtt ${mqttUrl}` : ""}, ${config.cluster.partitions} partitions, sink ${sink.describe}`)
    return running
  })

/** Run a node until interrupted. */
export const runNode = (options: NodeOptions) => Effect.scoped(Effect.andThen(startNode(options), Effect.never))

