/**
 * What a partition worker needs from the actors around it. The worker owns the log
 * position; the device aggregators own window state; the storage actor owns durability.
 */
import type { DeviceSnapshot } from "@bramble/actor-aggregator"
import type { Reading, WindowResult } from "@bramble/protocol"
import type { Effect } from "effect"

/** One reading for a device, with its stream sequence and the watermark before it. */
export interface DeviceItem {
  readonly reading: Reading
  readonly seq: number
  readonly watermark: number
}

/** The device aggregator actors of one partition. */
export interface DeviceAggregators {
  /** Hand readings to a device's actor (suspends when its mailbox is full). */
  readonly ingest: (device: string, items: ReadonlyArray<DeviceItem>) => Effect.Effect<void>
  /** Close windows up to the watermark on every device that has open windows. */
  readonly advance: (watermark: number) => Effect.Effect<void>
  /** Snapshots of every device changed since the last call; all earlier messages are applied. */
  readonly snapshotDirty: Effect.Effect<ReadonlyArray<readonly [string, DeviceSnapshot]>>
}

/** The storage actor, as seen by a partition. */
export interface StoragePort {
  readonly writeReadings: (readings: ReadonlyArray<Reading>) => Effect.Effect<void>
  readonly writeWindows: (results: ReadonlyArray<WindowResult>) => Effect.Effect<void>
  /** Completes when everything sent before it is durable in the database. */
  readonly flush: Effect.Effect<void>
}
