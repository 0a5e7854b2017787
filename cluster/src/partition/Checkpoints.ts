/**
 * Checkpoints of window state, stored in a JetStream KV bucket (replicated like the streams):
 * the record layout and the store's interface. The store a worker gets is
 * `fencedCheckpoints` (../ownership/OwnedPorts.ts): compare-and-set, refused once the
 * partition's fence is shut.
 *
 * Each device's window state is saved with the READINGS sequence it covers
 * (`dev.<partition>.<device>`), and the partition saves the position every device is
 * covered up to, with its watermark (`part.<partition>`). A new owner of the partition
 * restores the partition record, replays the log from the position after it, and skips, per
 * device, what that device's own snapshot already covers — so a crash between saving device
 * records and the partition record never counts a reading twice (Kafka Streams' model:
 * state stores checkpointed with their input offsets).
 *
 * A device record also holds the device's gap-detection state (`sequences`: the highest
 * `seq` per sensor and the reported ranges still open, ./SequenceGaps.ts), written in the
 * same put as its windows and covering the same readings (`sequences.through`). Kept per
 * device rather than in `part.<p>`, so a checkpoint writes only the devices that changed
 * and the partition record stays small however many devices send `seq`.
 */
import type { KV } from "@bramble/nats"
import type { JetStreamManager } from "@nats-io/jetstream"
import type { DeviceSnapshot, Watermark } from "@bramble/actor-aggregator"
import { Effect } from "effect"
import { type NatsError, natsError } from "@bramble/nats"
import type { DeviceSequences } from "./SequenceGaps.js"

/** What a partition checkpoint holds. */
export interface PartitionCheckpoint {
  /** Every reading with a sequence ≤ seq is reflected in the device checkpoints. */
  readonly seq: number
  readonly watermark: Watermark.WatermarkState
  /** From which stream sequence the partition used each version of the cluster file's
   * rules, oldest first (the last few; docs/live-config.md). */
  readonly versions?: ReadonlyArray<VersionSwitch>
}

/** A partition switched to `version` of the cluster file with the reading at `fromSeq`. */
export interface VersionSwitch {
  readonly version: number
  readonly fromSeq: number
}

/** What `dev.<partition>.<device>` holds: the aggregator's snapshot and, for a device whose
 * readings carry `seq`, its gap-detection state as of the same reading. */
export type DeviceRecord = DeviceSnapshot & { readonly sequences?: DeviceSequences }

/** The KV key of a partition's record: `part.<partition>`. */
export const partitionKey = (partition: number): string => `part.${partition}`
/** The prefix of a partition's device records: `dev.<partition>.`. */
export const deviceKeyPrefix = (partition: number): string => `dev.${partition}.`
/** The KV key of a device's record: `dev.<partition>.<device>`. */
export const deviceKey = (partition: number, device: string): string => `${deviceKeyPrefix(partition)}${device}`

export interface Checkpoints {
  readonly loadPartition: (partition: number) => Effect.Effect<PartitionCheckpoint | undefined, NatsError>
  readonly loadDevice: (partition: number, device: string) => Effect.Effect<DeviceSnapshot | undefined, NatsError>
  readonly saveDevices: (partition: number, devices: ReadonlyArray<readonly [string, DeviceSnapshot]>) => Effect.Effect<void, NatsError>
  readonly savePartition: (partition: number, checkpoint: PartitionCheckpoint) => Effect.Effect<void, NatsError>
  /** Every device with a checkpoint in the partition. */
  readonly listDevices: (partition: number) => Effect.Effect<ReadonlyArray<string>, NatsError>
  /** Whether someone waits for the next partition save (a handover's last checkpoint): a
   * quiet partition then saves even with nothing new (./Checkpointer.ts). */
  readonly saveAwaited?: () => boolean
}

/**
 * The devices with a checkpoint in `partition`: the bucket's subjects, from the stream leader
 * (`STREAM.INFO` with a subject filter, paged by nats.js). Not `kv.keys()`: that makes an
 * ephemeral consumer, which nats-server 2.9 may place on a replica that is down — with one
 * Pi of three off, a partition's start then timed out again and again (tens of seconds
 * without processing, test/net/formation.test.ts). Deleted keys may be listed; loading one
 * finds nothing.
 */
export const listDeviceKeys = (kv: KV, partition: number): Effect.Effect<ReadonlyArray<string>, NatsError> =>
  Effect.tryPromise({
    try: async () => {
      const { jsm, bucket } = kv as unknown as { readonly jsm: JetStreamManager; readonly bucket: string }
      const prefix = `$KV.${bucket}.${deviceKeyPrefix(partition)}`
      const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` })
      return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length))
    },
    catch: natsError("KeyValue", `cannot list the device checkpoints of partition ${partition}`)
  })
