/**
 * The device aggregator actor: one per device, keyed by device id within a partition,
 * holding that device's window state. It restores its state from the device's checkpoint
 * when it starts (first reading, or after passivation), skips readings its checkpoint
 * already covers (a replay after a crash), emits closed windows, and hands out snapshots
 * for the partition's checkpoints. Idle devices with no open windows are passivated; their
 * state is already in the checkpoint, because the partition checkpoints far more often
 * than a device can be idle for.
 */
import { Entities, type Supervisor } from "@bramble/runtime"
import type { Reading, WindowResult } from "@bramble/protocol"
import { Deferred, Effect, type Scope } from "effect"
import { DeviceWindows, type DeviceSnapshot } from "./DeviceWindows.js"
import type { WindowSpec } from "./WindowSpec.js"

/** One reading for a device, with its stream sequence and the watermark before it. */
export interface DeviceItem {
  readonly reading: Reading
  readonly seq: number
  readonly watermark: number
}

export type DeviceMessage =
  | { readonly _tag: "Ingest"; readonly items: ReadonlyArray<DeviceItem> }
  | { readonly _tag: "Advance"; readonly watermark: number; readonly reply: Deferred.Deferred<AdvanceReply> }
  | { readonly _tag: "Snapshot"; readonly reply: Deferred.Deferred<DeviceSnapshot> }
  | { readonly _tag: "Peek"; readonly reply: Deferred.Deferred<DevicePeek> }

export interface AdvanceReply {
  /** The earliest end of the windows still open (Infinity when none). */
  readonly nextEnd: number
  /** Whether any window closed (the state changed). */
  readonly changed: boolean
}

/** A live view of a device (admin and dashboard queries). */
export interface DevicePeek {
  readonly device: string
  readonly seq: number
  readonly lastReading: Reading | undefined
  readonly openWindows: ReadonlyArray<WindowResult>
}

interface DeviceState {
  readonly windows: DeviceWindows
  lastReading: Reading | undefined
}

export interface DeviceAggregatorsOptions {
  readonly partition: number
  readonly windows: ReadonlyArray<WindowSpec>
  /** How long after the watermark passes a window's end it still accepts late readings. */
  readonly allowedLatenessMs?: number
  /** Passivate a device after this long without messages. */
  readonly passivateAfterMs: number
  readonly capacity?: number
  readonly supervisor?: Supervisor.Supervisor
  /** The device's last checkpoint, if any. */
  readonly restore: (device: string) => Effect.Effect<DeviceSnapshot | undefined, unknown>
  /** Closed windows go here (storage and AGGREGATES); suspends for backpressure. */
  readonly emit: (results: ReadonlyArray<WindowResult>) => Effect.Effect<void>
  /** A reading too late for every window it belongs to. */
  readonly tooLate: (reading: Reading, seq: number, watermark: number) => Effect.Effect<void>
}

/** The device actors of one partition. */
export const makeDeviceAggregators = (options: DeviceAggregatorsOptions): Effect.Effect<Entities.Entities<DeviceMessage>, never, Scope.Scope> =>
  Entities.make<DeviceMessage, DeviceState, unknown>(`aggregators-p${options.partition}`, {
    kind: "aggregator",
    maxIdleTime: options.passivateAfterMs,
    capacity: options.capacity ?? 256,
    ...(options.supervisor === undefined ? {} : { supervisor: options.supervisor }),
    behaviour: (device) => ({
      init: Effect.map(options.restore(device), (snapshot) => ({
        windows: snapshot === undefined
          ? new DeviceWindows(device, options.windows, options.allowedLatenessMs ?? 0)
          : DeviceWindows.fromSnapshot(device, options.windows, snapshot, options.allowedLatenessMs ?? 0),
        lastReading: undefined
      })),
      receive: (state, message) => {
        switch (message._tag) {
          case "Ingest":
            return ingest(state, message.items, options)
          case "Advance": {
            const closed = state.windows.close(message.watermark)
            return Effect.as(
              Effect.andThen(
                closed.length > 0 ? options.emit(closed) : Effect.void,
                Deferred.succeed(message.reply, { nextEnd: state.windows.nextEnd, changed: closed.length > 0 })
              ),
              state
            )
          }
          case "Snapshot":
            return Effect.as(Deferred.succeed(message.reply, state.windows.snapshot()), state)
          case "Peek":
            return Effect.as(
              Deferred.succeed(message.reply, {
                device,
                seq: state.windows.seq,
                lastReading: state.lastReading,
                openWindows: state.windows.peek()
              }),
              state
            )
        }
      }
    })
  })

const ingest = (state: DeviceState, items: ReadonlyArray<DeviceItem>, options: DeviceAggregatorsOptions) =>
  Effect.gen(function*() {
    let watermark = Number.NEGATIVE_INFINITY
    for (const item of items) {
      // Already in the restored checkpoint: this is a replay after a crash or a move.
      if (item.seq <= state.windows.seq) continue
      if (!state.windows.apply(item.reading, item.seq, item.watermark)) {
        yield* options.tooLate(item.reading, item.seq, item.watermark)
      }
      state.lastReading = item.reading
      if (item.watermark > watermark) watermark = item.watermark
    }
    const closed = state.windows.close(watermark)
    if (closed.length > 0) yield* options.emit(closed)
    return state
  })
