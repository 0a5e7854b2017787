/**
 * What a partition worker needs from the storage actor: the worker owns the log position,
 * the device aggregators own window state, the storage actor owns durability.
 */
import type { SinkPoint } from "@bramble/influx"
import type { Reading, WindowResult } from "@bramble/protocol"
import type { Effect } from "effect"

/** The storage actor, as seen by a partition. */
export interface StoragePort {
  readonly writeReadings: (readings: ReadonlyArray<Reading>) => Effect.Effect<void>
  readonly writeWindows: (results: ReadonlyArray<WindowResult>) => Effect.Effect<void>
  /** Other points: alarms, forecasts. */
  readonly writePoints: (points: ReadonlyArray<SinkPoint>) => Effect.Effect<void>
  /** Completes when everything sent before it is durable in the database. */
  readonly flush: Effect.Effect<void>
}
