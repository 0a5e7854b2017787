/**
 * What a partition worker needs from the storage actor: the worker owns the log position,
 * the device aggregators own window state, the storage actor owns durability — and how each
 * reading, window result, alarm and forecast becomes a database point (actors/storage Points.ts).
 */
import type { Alarm, Forecast, Reading, WindowResult } from "@bramble/protocol"
import type { Effect } from "effect"

/** The storage actor, as seen by a partition. */
export interface StoragePort {
  readonly writeReadings: (readings: ReadonlyArray<Reading>) => Effect.Effect<void>
  readonly writeWindows: (results: ReadonlyArray<WindowResult>) => Effect.Effect<void>
  readonly writeAlarms: (alarms: ReadonlyArray<Alarm>) => Effect.Effect<void>
  readonly writeForecasts: (forecasts: ReadonlyArray<Forecast>) => Effect.Effect<void>
  /** Completes when everything sent before it is durable in the database. */
  readonly flush: Effect.Effect<void>
}
