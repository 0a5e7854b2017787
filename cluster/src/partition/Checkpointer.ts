/**
 * The partition's checkpoints (docs/design.md, decision 4: acknowledge only what is durable).
 *
 * A checkpoint is *captured* in the loop — advance the watermark if the partition is idle
 * and drained, close due windows, snapshot the devices changed since the last one, note the
 * position — and then made durable by a fiber of its own — wait for the publishes, flush
 * storage, save device and partition records, acknowledge the log — while the loop goes on
 * reading. Waiting for the database inline stopped ingest (and delayed every alarm) for the
 * length of a database round trip each interval. At most one checkpoint is in flight: the
 * next capture waits for it, so records and acks stay in order, a failed one fails the
 * worker (which restarts from the last good checkpoint), and a slow database still slows
 * the pull (backpressure) instead of piling up captures.
 *
 * How often it writes follows the load (an SD card dies of writes): a busy partition puts
 * each device changed since the last checkpoint once and its partition record once per
 * interval, whatever the number of readings; a quiet one (nothing read, no device changed
 * since its last save) puts nothing — except, at most every `QUIET_SAVE_INTERVAL_MS`, its
 * partition record when only the idle watermark moved, and at once when a handover waits
 * for its last checkpoint (`Checkpoints.saveAwaited`) or a reading arrives after an idle
 * advance it did not save (`beforeInput`: the reading is taken under that watermark, and a
 * replay must take it under the same one).
 */
import { type AdvanceReply, type DeviceMessage, type DeviceSnapshot, type RuleSet, Watermark } from "@bramble/actor-aggregator"
import type { Entities } from "@bramble/runtime"
import { Deferred, Effect, Fiber, type Scope } from "effect"
import type { Checkpoints, PartitionCheckpoint, VersionSwitch } from "./Checkpoints.js"
import { type PartitionStats, recordCheckpoint } from "./PartitionStats.js"
import type { StoragePort } from "./Ports.js"
import type { Publishes } from "./Publishes.js"
import type { Position } from "./Route.js"
import type { SequenceGaps } from "./SequenceGaps.js"
import type { DeviceCrashes } from "./DeviceCrashes.js"
import type { UnsavedDevices } from "./UnsavedDevices.js"

/**
 * How often a quiet partition saves its partition record when only its watermark moved (idle
 * time advances it every interval). A window the advance closes changes its device, which is
 * saved with the watermark at once. With nothing closed the advanced watermark may wait: no
 * reading is taken under it until it is saved (`beforeInput`) — a run that refused a reading
 * as too late under an unsaved watermark and then stopped left the next run to take it under
 * the older one, into a window the dead letter says it is not in (windows extra or
 * mismatched after a restart or a lease move). 30 s: 4 partitions write ~8 records a minute
 * at idle instead of 240, and one more when readings come again.
 */
export const QUIET_SAVE_INTERVAL_MS = 30_000

export interface Checkpointer {
  /** These devices took readings: they are dirty, and their next window end is unknown. */
  readonly ingested: (devices: Iterable<string>) => void
  /** Captures a checkpoint at `now` and starts making it durable (after the previous one).
   * `idleSince`: when the loop last finished work. */
  readonly capture: (now: number, idleSince: number) => Effect.Effect<void, unknown>
  /** Before a batch is taken: makes the watermark it is taken under durable, if an idle
   * advance moved it since the last durable checkpoint (a replay must take the batch under
   * the same watermark). Once per idle spell; nothing while readings keep coming. */
  readonly beforeInput: (now: number) => Effect.Effect<void, unknown>
  /** What the last durable checkpoint covers: its stream sequence, and the store time of
   * the newest message it holds (MQTT recovery decides only behind it: ./MqttRecovery.ts). */
  readonly durable: () => { readonly seq: number; readonly readThrough: number }
}

export const makeCheckpointer = Effect.fnUntraced(function*(options: {
  readonly partition: number
  readonly idleAdvanceMs: number
  readonly position: Position
  readonly devices: Entities.Entities<DeviceMessage>
  readonly checkpoints: Checkpoints
  readonly storage: StoragePort
  readonly publishes: Publishes
  readonly gaps: SequenceGaps
  readonly stats: PartitionStats
  /** Devices whose state is ahead of their saved snapshot (they must not be passivated). */
  readonly unsaved: UnsavedDevices
  /** A device that crashed since the run began fails the checkpoint (its snapshot may be older). */
  readonly crashes: DeviceCrashes
  /** Whether the log is drained, given the messages processed and not yet acknowledged. */
  readonly drained: (processedUnacked: number) => Effect.Effect<boolean>
  /** The rules in force (sent with every Advance) and the version switches to record. */
  readonly rules?: () => RuleSet | undefined
  readonly versions?: () => ReadonlyArray<VersionSwitch>
}): Effect.fn.Return<Checkpointer, unknown, Scope.Scope> {
  const { partition, position, devices, checkpoints, storage, publishes, gaps, stats, unsaved, crashes } = options
  const rulesNow = (): { rules?: RuleSet } => {
    const rules = options.rules?.()
    return rules === undefined ? {} : { rules }
  }
  // Devices changed since the last checkpoint, and when each device's next window ends
  // (-Infinity: unknown since its last reading), so only devices with something to close
  // are asked to advance.
  const dirty = new Set<string>()
  const nextEnd = new Map<string, number>()
  // Devices checkpointed in this partition may hold windows that only a watermark advance
  // closes, but a device is in memory only once a reading of it arrives: after a restart or
  // a move, a device that went quiet would keep its last windows open for good. So each is
  // asked once, at the first checkpoint (restored from its checkpoint, then passivated when
  // idle).
  for (const device of yield* checkpoints.listDevices(partition)) nextEnd.set(device, Number.NEGATIVE_INFINITY)

  const advanceDevices = (wm: number) =>
    Effect.forEach(
      [...nextEnd].filter(([, end]) => end <= wm).map(([device]) => device),
      (device) =>
        devices.ask(device, (reply: Deferred.Deferred<AdvanceReply>) => ({ _tag: "Advance" as const, watermark: wm, reply, ...rulesNow() })).pipe(
          // A crashed device actor cannot be trusted: restart the partition from its checkpoint.
          Effect.orDie,
          Effect.map((r) => {
            if (r.changed) {
              dirty.add(device)
              unsaved.changed(device)
            }
            if (r.nextEnd === Number.POSITIVE_INFINITY) nextEnd.delete(device)
            else nextEnd.set(device, r.nextEnd)
          })
        ),
      { concurrency: 64, discard: true }
    )

  const snapshotDirty = Effect.suspend(() => {
    const keys = [...dirty]
    dirty.clear()
    return Effect.forEach(
      keys,
      (device) => {
        const mark = unsaved.mark(device)
        return Effect.map(
          Effect.orDie(devices.ask(device, (reply: Deferred.Deferred<DeviceSnapshot>) => ({ _tag: "Snapshot" as const, reply }))),
          (snapshot) => ({ device, snapshot, mark })
        )
      },
      { concurrency: 64 }
    )
  })

  // The last partition save started: what it covered, and when (the first capture saves).
  let saved: { seq: number; watermark: number; at: number } = { seq: position.lastSeq, watermark: position.watermark.watermark, at: Number.NEGATIVE_INFINITY }
  // The last partition save known to be durable (the run starts from one).
  let durable = { seq: position.lastSeq, readThrough: position.readThroughStored }
  let inFlight: Fiber.Fiber<void, unknown> | undefined
  const settle = Effect.suspend(() => {
    const fiber = inFlight
    inFlight = undefined
    return fiber === undefined ? Effect.void : Fiber.join(fiber)
  })
  const scope = yield* Effect.scope

  // An idle advance is the one move of the watermark the log cannot replay (it depends on
  // when the partition found nothing to read). A run that takes a reading under an advanced
  // watermark (refusing it as too late, say) and stops before a checkpoint holding that
  // watermark is durable leaves the next run to replay the reading under the older one,
  // which takes it: windows that disagree with the first run's dead letters. So a reading is
  // taken only once the watermark it is taken under is durable (`beforeInput`).
  // `idleUnsaved`: an idle advance no save started since covers (a quiet capture skipped
  // it); `idleInFlight`: the save holding one is started, not yet known to be durable.
  let idleUnsaved = false
  let idleInFlight = false

  // Starts making durable what was captured: the publishes, storage, the changed devices,
  // the partition record and then the ack, after the previous checkpoint.
  const save = Effect.fnUntraced(function*(now: number, taken: ReadonlyArray<{ readonly device: string; readonly mark: number }>, snapshots: ReadonlyArray<readonly [string, DeviceSnapshot]>) {
    saved = { seq: position.lastSeq, watermark: position.watermark.watermark, at: now }
    if (idleUnsaved) {
      idleUnsaved = false
      idleInFlight = true
    }
    const published = publishes.take()
    const versions = options.versions?.()
    const at: PartitionCheckpoint = {
      seq: position.lastSeq,
      watermark: position.watermark,
      ...(versions === undefined || versions.length === 0 ? {} : { versions })
    }
    const covered = { seq: position.lastSeq, readThrough: position.readThroughStored }
    const ack = position.lastAck
    position.lastAck = undefined
    position.checkpointedSeq = position.lastSeq
    // A failure of the previous checkpoint fails the worker here (it restarts from the last
    // good checkpoint); its success lets this one start.
    yield* settle
    // What this checkpoint acknowledges: counted after the previous one took off its own
    // messages (nothing is taken in between: the loop waits here). Counted before, it held
    // the previous one's too, they came off twice, and the count went below zero — then the
    // partition never looked drained, its idle watermark never moved, and the last windows
    // of its devices never closed (once a quiet capture stopped saving, nothing set it back).
    const acked = position.processedSinceAck
    inFlight = yield* Effect.forkIn(
      Effect.gen(function*() {
        yield* published
        yield* storage.flush
        yield* crashes.check
        yield* checkpoints.saveDevices(partition, snapshots)
        for (const { device, mark } of taken) unsaved.saved(device, mark)
        yield* checkpoints.savePartition(partition, at)
        durable = covered
        gaps.saved(snapshots)
        recordCheckpoint(stats, at.seq, now)
        // AckPolicy.All: one ack covers every earlier message of this consumer.
        ack?.ack()
        position.processedSinceAck -= acked
      }),
      scope
    )
  })

  const takeSnapshots = Effect.gen(function*() {
    const taken = yield* snapshotDirty
    const snapshots = yield* gaps.attach(taken.map(({ device, snapshot }) => [device, snapshot] as const))
    return { taken, snapshots }
  })

  const capture = Effect.fnUntraced(function*(now: number, idleSince: number) {
    if (now - idleSince >= options.idleAdvanceMs && (yield* options.drained(position.processedSinceAck))) {
      const before = position.watermark.watermark
      position.watermark = Watermark.idle(position.watermark, now - idleSince, options.idleAdvanceMs)
      if (position.watermark.watermark !== before) idleUnsaved = true
    }
    yield* advanceDevices(position.watermark.watermark)
    const { taken, snapshots } = yield* takeSnapshots
    const quiet = snapshots.length === 0 && position.lastSeq === saved.seq && publishes.pending() === 0 && !(checkpoints.saveAwaited?.() ?? false)
    if (quiet && (position.watermark.watermark === saved.watermark || now - saved.at < QUIET_SAVE_INTERVAL_MS)) {
      // Nothing new to make durable: the checkpoint saved last is current once it is saved
      // (an idle advance alone waits for the next save, or for the next reading: beforeInput).
      yield* settle
      recordCheckpoint(stats, saved.seq, now)
      return
    }
    yield* save(now, taken, snapshots)
  })

  const beforeInput = Effect.fnUntraced(function*(now: number) {
    if (idleUnsaved) {
      const { taken, snapshots } = yield* takeSnapshots
      yield* save(now, taken, snapshots)
    }
    if (idleInFlight) {
      yield* settle
      idleInFlight = false
    }
  })

  return {
    ingested: (touched) => {
      for (const device of touched) {
        dirty.add(device)
        unsaved.changed(device)
        nextEnd.set(device, Number.NEGATIVE_INFINITY)
      }
    },
    capture,
    beforeInput,
    durable: () => durable
  }
})
