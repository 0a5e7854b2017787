/**
 * The JetStream topology every node ensures at start, idempotently: create what is missing,
 * update limits that changed, never delete data. All nodes render the same configuration
 * from the same cluster file, so concurrent starts converge.
 */
import {
  DiscardPolicy,
  type JetStreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type StreamConfig
} from "@nats-io/jetstream"
import type { Kvm } from "@nats-io/kv"
import { nanos } from "@nats-io/transport-node"
import { Subjects } from "@bramble/protocol"
import { Effect } from "effect"
import { NatsClient } from "./NatsClient.js"
import { natsError } from "./NatsError.js"

export interface StreamLimits {
  readonly maxAgeMs: number
  readonly maxBytes: number
}

export interface TopologySpec {
  readonly replicas: number
  readonly readings: StreamLimits
  readonly aggregates: StreamLimits
  readonly alarms: StreamLimits
  readonly deadLetter: StreamLimits
  /** Largest message a stream accepts (readings are small; this bounds abuse). */
  readonly maxMsgSize?: number
  /** The INGEST stream of routed topics (cluster/src/ingest), when the cluster file has routes.
   * Kept like READINGS; its subjects follow the routes' first levels. */
  readonly ingest?: { readonly subjects: ReadonlyArray<string>; readonly limits: StreamLimits }
}

/** The stream of routed topics' raw messages, read by the ingest router. */
export const INGEST_STREAM = "INGEST"

/** KV bucket holding window-state checkpoints (per device, with the stream position). */
export const CHECKPOINT_BUCKET = "bramble_checkpoints"

/**
 * KV bucket of alarm acknowledgements (`<device>.<rule>` → Admin.AlarmAck as JSON): cluster
 * state of its own, replicated like the checkpoints, so no restart or partition move loses one.
 */
export const ALARM_ACKS_BUCKET = "bramble_alarm_acks"

const streamConfig = (name: string, subjects: ReadonlyArray<string>, limits: StreamLimits, spec: TopologySpec): Partial<StreamConfig> & { name: string } => ({
  name,
  subjects: [...subjects],
  retention: RetentionPolicy.Limits,
  storage: StorageType.File,
  discard: DiscardPolicy.Old,
  max_age: nanos(limits.maxAgeMs),
  max_bytes: limits.maxBytes,
  num_replicas: spec.replicas,
  // Publishers set Nats-Msg-Id (device + sequence): a republish after a reconnect within
  // this window is dropped by the server instead of stored twice.
  duplicate_window: nanos(120_000),
  ...(spec.maxMsgSize === undefined ? {} : { max_msg_size: spec.maxMsgSize }),
  allow_direct: true
})

/** The four streams, as configured from the spec. */
export const streamConfigs = (spec: TopologySpec): ReadonlyArray<Partial<StreamConfig> & { name: string }> => [
  streamConfig(Subjects.Streams.readings, Subjects.READINGS_SUBJECTS, spec.readings, spec),
  streamConfig(Subjects.Streams.aggregates, Subjects.AGGREGATES_SUBJECTS, spec.aggregates, spec),
  streamConfig(Subjects.Streams.alarms, Subjects.ALARMS_SUBJECTS, spec.alarms, spec),
  streamConfig(Subjects.Streams.deadLetter, Subjects.DEADLETTER_SUBJECTS, spec.deadLetter, spec),
  ...(spec.ingest === undefined || spec.ingest.subjects.length === 0 ? [] : [streamConfig(INGEST_STREAM, spec.ingest.subjects, spec.ingest.limits, spec)])
]

const isNotFound = (error: unknown) =>
  error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound

/** JSClusterNoPeersErr: fewer servers are up than the replicas asked for. */
const NO_PEERS_CODE = 10005
const isNoPeers = (error: unknown) =>
  error instanceof JetStreamApiError && (error.code === NO_PEERS_CODE || error.message.includes("no suitable peers"))

/**
 * Create something with `replicas` copies — or with fewer when fewer servers are up. A
 * cluster first formed by two of its three Pis must serve (docs/cluster-formation.md);
 * `raiseReplicas` brings everything to its full count once the others join.
 */
export const withPlacementFallback = async <A>(replicas: number, create: (replicas: number) => Promise<A>): Promise<A> => {
  for (let r = replicas; ; r--) {
    try {
      return await create(r)
    } catch (error) {
      if (r <= 1 || !isNoPeers(error)) throw error
    }
  }
}

/** Create or update the streams, the checkpoint bucket and the alarm acknowledgements bucket. Safe to run on every start. */
export const ensureTopology = Effect.fn("Topology.ensure")(function*(spec: TopologySpec) {
  const { jsm, kvm } = yield* NatsClient
  for (const config of streamConfigs(spec)) {
    yield* Effect.tryPromise({
      try: async () => {
        try {
          const info = await jsm.streams.info(config.name)
          const current = info.config
          const changed = current.max_age !== config.max_age || current.max_bytes !== config.max_bytes ||
            current.max_msg_size !== (config.max_msg_size ?? current.max_msg_size) ||
            [...current.subjects].sort().join(" ") !== [...(config.subjects ?? [])].sort().join(" ")
          if (changed) await jsm.streams.update(config.name, { ...current, ...config, num_replicas: current.num_replicas })
        } catch (error) {
          if (!isNotFound(error)) throw error
          await withPlacementFallback(spec.replicas, (num_replicas) => jsm.streams.add({ ...config, num_replicas }))
        }
      },
      catch: natsError("JetStream", `cannot create or update stream ${config.name}`)
    })
  }
  for (const bucket of [CHECKPOINT_BUCKET, ALARM_ACKS_BUCKET]) {
    yield* Effect.tryPromise({
      try: () => ensureLeaderReadBucket(jsm, kvm, bucket, spec.replicas),
      catch: natsError("KeyValue", `cannot create KV bucket ${bucket}`)
    })
  }
})

/**
 * Create a KV bucket (or find it) whose reads the stream leader answers: no direct get.
 *
 * With `allow_direct` (what nats.js asks for by default on 2.9+), any replica answers a get,
 * and nats-server before 2.9.17 lets a replica that has just restarted answer from its old
 * copy (nats-io/nats-server#4162). A checkpoint read that way restores a device's windows
 * from before the last checkpoint while the partition resumes after it: the readings in
 * between never reach the windows, which are then written short (seen on 2.9.10 after a
 * SIGKILL'd server restarted; docs/cluster-formation.md). A lease or member read that way
 * makes a compare-and-set fail. So every Bramble bucket reads from the leader; a bucket made
 * by an older build with direct gets on is switched off here (the stream config allows it),
 * and every later `kvm.open` sees `allow_direct: false` and uses STREAM.MSG.GET.
 */
export const ensureLeaderReadBucket = async (
  jsm: JetStreamManager,
  kvm: Kvm,
  bucket: string,
  replicas: number,
  options: { readonly ttl?: number } = {}
): Promise<void> => {
  await withPlacementFallback(replicas, (r) =>
    kvm.create(bucket, {
      history: 1,
      replicas: r,
      storage: StorageType.File,
      allow_direct: false,
      ...(options.ttl === undefined ? {} : { ttl: options.ttl })
    }))
  const stream = `KV_${bucket}`
  const info = await jsm.streams.info(stream)
  if (info.config.allow_direct === true) await jsm.streams.update(stream, { ...info.config, allow_direct: false })
}

/** A stream (a KV bucket is the stream `KV_<bucket>`) with fewer copies than the cluster wants. */
export interface UnderReplicated {
  readonly stream: string
  readonly replicas: number
}

/**
 * Raise every named stream to `replicas` copies where the servers now allow it; returns those
 * still below. nats-server moves the data to the new peers itself (2.9 scales a stream's
 * replicas with a config update).
 */
export const raiseReplicas = Effect.fn("Topology.raiseReplicas")(function*(replicas: number, streams: ReadonlyArray<string>): Effect.fn.Return<ReadonlyArray<UnderReplicated>, never, NatsClient> {
  const { jsm } = yield* NatsClient
  const below: Array<UnderReplicated> = []
  for (const stream of streams) {
    const result = yield* Effect.tryPromise(async () => {
      const info = await jsm.streams.info(stream)
      const now = info.config.num_replicas
      if (now >= replicas) return undefined
      try {
        await jsm.streams.update(stream, { ...info.config, num_replicas: replicas })
        return undefined
      } catch (error) {
        if (isNoPeers(error)) return { stream, replicas: now }
        throw error
      }
    }).pipe(Effect.orElseSucceed(() => undefined))
    if (result !== undefined) below.push(result)
  }
  return below
})
