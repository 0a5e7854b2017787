/**
 * The worker that processes one partition of READINGS on the node that owns it.
 *
 * At start it restores the partition checkpoint and has its source (./Source.ts: the
 * partition's durable consumer) deliver from the position after it, so a restart or a new
 * owner replays exactly what the checkpoint does not cover. Then, batch by batch:
 * - route (./Route.ts): decode and validate each message (./Intake.ts: bad ones are
 *   dead-lettered with the reason), grouped by device, each with the watermark as it stood
 *   before it (a reading moves it no further than the time the log stored it, so no
 *   device's clock drags its neighbours' windows);
 * - send the batch's raw readings to storage in one message and each device's readings to
 *   its aggregator actor in one message; what the aggregators produce goes out through
 *   ./Outputs.ts (windows, alarms, forecasts, too-late readings);
 * - every `checkpointInterval`, checkpoint (./Checkpointer.ts): close due windows, wait until
 *   everything produced so far is durable (database, AGGREGATES, DEADLETTER:
 *   ./Publishes.ts), save the checkpoint, and only then acknowledge the log up to that
 *   point (docs/design.md, decision 4).
 * A run that fails records why and where in the partition's stats, which show it as failing
 * until a later run checkpoints past that point.
 */
import { type DeviceMessage, makeDeviceAggregators, type RuleSet, type RuleSpec, Watermark, type WindowSpec } from "@bramble/actor-aggregator"
import type { Entities, Supervisor } from "@bramble/runtime"
import { NatsClient, natsError, type NatsError } from "@bramble/nats"
import type { DecodeLimits } from "@bramble/protocol"
import { Cause, Clock, Effect, type Scope } from "effect"
import { makeCheckpointer } from "./Checkpointer.js"
import type { Checkpoints, VersionSwitch } from "./Checkpoints.js"
import { Intake } from "./Intake.js"
import { makeOutputs } from "./Outputs.js"
import { type PartitionStats, recordFailure } from "./PartitionStats.js"
import type { StoragePort } from "./Ports.js"
import { makePublishes, type Publisher, PublishFailed } from "./Publishes.js"
import { routeBatch, startPosition } from "./Route.js"
import { makeSequenceGaps } from "./SequenceGaps.js"
import { natsPartitionSource, type PartitionSource } from "./Source.js"
import { DeviceCrashes } from "./DeviceCrashes.js"
import { UnsavedDevices } from "./UnsavedDevices.js"

export interface PartitionSettings {
  readonly batchSize: number
  readonly checkpointIntervalMs: number
  readonly allowedLatenessMs: number
  readonly idleAdvanceMs: number
  /** How far the watermark trails the newest event time (out-of-order tolerance). When set,
   * `allowedLatenessMs` is how long after the watermark a window still takes late readings;
   * when unset, `allowedLatenessMs` is the delay and nothing is corrected afterwards. */
  readonly watermarkDelayMs?: number
  readonly passivateAfterMs: number
  readonly decodeLimits: DecodeLimits
}

export interface PartitionWorkerOptions {
  readonly partition: number
  readonly settings: PartitionSettings
  readonly windows: ReadonlyArray<WindowSpec>
  /** Alarm rules from the cluster file. */
  readonly rules?: ReadonlyArray<RuleSpec>
  /**
   * The cluster's current version of the rules (docs/live-config.md), when they can change
   * live: read before every batch; a new one takes effect with that batch, and the switch
   * (version, first stream sequence) is recorded in the partition checkpoint.
   */
  readonly ruleVersions?: () => RuleSet | undefined
  readonly checkpoints: Checkpoints
  readonly storage: StoragePort
  readonly stats: PartitionStats
  /** Device actors run under this supervisor (so the admin view can list them). */
  readonly supervisor?: Supervisor.Supervisor
  /** Receives the partition's device actors while the worker runs (admin device queries). */
  readonly onDevices?: (devices: Entities.Entities<DeviceMessage>) => Effect.Effect<void, never, Scope.Scope>
}

/** A partition worker's options with where it reads from and publishes to given explicitly
 * (an in-memory log and publisher in the tests). */
export interface PartitionLoopOptions extends PartitionWorkerOptions {
  readonly source: PartitionSource
  readonly publisher: Publisher
}

/**
 * Run one partition until interrupted (or until it fails: NATS failing in a way it cannot ride
 * out, a publish or a checkpoint that cannot be made). A failure is recorded in the
 * partition's stats (`failing`, with the reason and the stream sequence) before it passes on
 * to whoever restarts the worker. Reads READINGS and publishes through the `NatsClient` in
 * context.
 */
export const runPartition = (options: PartitionWorkerOptions) =>
  Effect.gen(function*() {
    const { publisher } = yield* NatsClient
    const source = yield* natsPartitionSource({
      partition: options.partition,
      stats: options.stats,
      limits: options.settings.decodeLimits,
      batchSize: options.settings.batchSize
    })
    return yield* runPartitionOn({ ...options, source, publisher })
  })

/** `runPartition` on a given source and publisher. */
export const runPartitionOn = (options: PartitionLoopOptions) =>
  runOnce(options).pipe(
    Effect.tapCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.void
        : Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => {
            const error = Cause.squash(cause)
            const reason = error instanceof Error ? error.message : String(error)
            recordFailure(options.stats, reason.length > 500 ? `${reason.slice(0, 500)}…` : reason, error instanceof PublishFailed ? error.streamSeq : undefined, now)
          })
        )
    )
  )

const runOnce = Effect.fn("PartitionWorker.run")(function*(options: PartitionLoopOptions) {
  const { partition, settings, checkpoints, storage, stats, source } = options
  const checkpoint = yield* checkpoints.loadPartition(partition)
  const position = startPosition(checkpoint?.seq ?? 0, checkpoint?.watermark ?? Watermark.initial)
  stats.lastSeq = position.lastSeq
  yield* Effect.logInfo(`partition ${partition}: resuming after stream sequence ${position.lastSeq}`)
  // The rules in force, and from where each version was used (kept in the checkpoint: the
  // last MAX_SWITCHES, enough to read back what a recent range ran under).
  let rules: RuleSet | undefined
  const versions: Array<VersionSwitch> = [...(checkpoint?.versions ?? [])]
  stats.configVersion = versions.at(-1)?.version
  const switchRules = Effect.fnUntraced(function*() {
    const next = options.ruleVersions?.()
    if (next === undefined || next === rules) return
    rules = next
    if (versions.at(-1)?.version === next.version) return
    versions.push({ version: next.version, fromSeq: position.lastSeq + 1 })
    if (versions.length > MAX_SWITCHES) versions.splice(0, versions.length - MAX_SWITCHES)
    stats.configVersion = next.version
    yield* Effect.logInfo(`partition ${partition}: rules of version ${next.version} in force from stream sequence ${position.lastSeq + 1}`)
  })

  // Publishes (AGGREGATES, ALARMS, DEADLETTER) started since the last checkpoint; awaited before it.
  const publishes = makePublishes(partition, options.publisher)
  const intake = new Intake(settings.decodeLimits, stats, publishes)
  // Per-device `seq` gaps: dead-lettered and counted; state kept in the device records.
  const gaps = makeSequenceGaps({ partition, checkpoints, stats, publish: publishes.publish })
  // Devices holding readings no durable checkpoint has yet stay in memory (./UnsavedDevices.ts).
  const unsaved = new UnsavedDevices()
  // A device actor that crashed is restarted by its supervisor from its checkpoint, without
  // the readings it took since: the partition must not read on (or checkpoint) past them.
  // The run fails, and the next one replays the log from the partition's checkpoint.
  const crashes = new DeviceCrashes(partition)
  const devices = yield* makeDeviceAggregators({
    partition,
    windows: options.windows,
    allowedLatenessMs: settings.watermarkDelayMs === undefined ? 0 : settings.allowedLatenessMs,
    ...(options.rules === undefined || options.rules.length === 0 ? {} : { rules: options.rules }),
    passivateAfterMs: settings.passivateAfterMs,
    mayPassivate: (device) => unsaved.isSaved(device),
    onCrash: (device, cause) => crashes.record(device, cause),
    ...(options.supervisor === undefined ? {} : { supervisor: options.supervisor }),
    restore: (device) => checkpoints.loadDevice(partition, device),
    ...makeOutputs({ partition, publishes, storage, stats })
  })
  if (options.onDevices !== undefined) yield* options.onDevices(devices)
  const checkpointer = yield* makeCheckpointer({
    partition,
    idleAdvanceMs: settings.idleAdvanceMs,
    position,
    devices,
    checkpoints,
    storage,
    publishes,
    gaps,
    stats,
    unsaved,
    crashes,
    drained: source.drained,
    rules: () => rules,
    versions: () => versions
  })
  const bound = unackedBound(settings)
  const batches = yield* source.open(position.lastSeq, bound)

  // When the loop last found nothing to read: what MQTT recovery waits for (with how far
  // the last durable checkpoint has the log read) before it calls a seq missing. Durable,
  // not merely read: a run can read a message the next leader of READINGS does not keep,
  // and stop (./SequenceGaps.ts `seen`).
  let emptyAt: number | undefined
  yield* source.beside({
    readThrough: Effect.suspend(() => {
      const at = emptyAt
      const durable = checkpointer.durable()
      if (at === undefined || durable.seq !== position.lastSeq) return Effect.succeed(durable.readThrough)
      // Everything read is checkpointed and nothing was left to read when the loop last
      // looked: if the server agrees, READINGS has been read up to then.
      return Effect.map(source.drained(position.processedSinceAck), (drained) => (drained ? Math.max(durable.readThrough, at) : durable.readThrough))
    }),
    seen: gaps.seen
  })

  const startedAt = yield* Clock.currentTimeMillis
  // The first checkpoint comes right after the first batch, not an interval later: a new
  // owner (after a failover or a restart) makes its replay durable, and shows it holds the
  // partition, as soon as it can.
  let lastCheckpointAt = startedAt - settings.checkpointIntervalMs
  // Messages taken since the last capture: a busy partition checkpoints once half its
  // read-ahead bound is taken, without waiting for the interval, so acknowledgements keep
  // the server delivering and the read-ahead (the node's memory in a backlog) stays small.
  let takenSinceCapture = 0
  // When the worker last finished processing and began waiting for more: idle time is
  // counted from here, not from when a batch arrived, so time spent blocked on a slow or
  // stopped database never counts as idleness. Idle time moves the watermark only once the
  // worker has caught up with its log (the checkpointer asks the source): a worker still
  // working through a backlog (a new owner after a failover, a restart, the backlog of a
  // database outage) is not idle: advancing by the time it waited would close windows
  // before the backlog's readings reach them, and a partition that moved would give other
  // results than one that did not (docs/design.md, decision 4).
  let idleSince = startedAt
  const lagMs = settings.watermarkDelayMs ?? settings.allowedLatenessMs

  while (true) {
    const batch = yield* Effect.promise(() => batches.next(settings.batchSize, settings.checkpointIntervalMs))
    if (batches.done && batch.length === 0) {
      return yield* Effect.fail(natsError("JetStream", `partition ${partition}: the consumer stopped`)("closed") as NatsError)
    }
    yield* crashes.check
    const now = yield* Clock.currentTimeMillis
    emptyAt = batch.length === 0 ? now : undefined
    if (batch.length > 0) {
      yield* checkpointer.beforeInput(now)
      yield* switchRules()
      const { readings, perDevice } = routeBatch(batch, position, intake, stats, now, lagMs)
      yield* gaps.observe(perDevice)
      // One storage message per batch, one message per device per batch.
      if (readings.length > 0) yield* storage.writeReadings(readings)
      for (const [device, items] of perDevice) yield* Effect.orDie(devices.tell(device, rules === undefined ? { _tag: "Ingest", items } : { _tag: "Ingest", items, rules }))
      checkpointer.ingested(perDevice.keys())
      yield* crashes.check
      stats.accepted += readings.length
      stats.batches += 1
      stats.deviceMessages += perDevice.size
      idleSince = yield* Clock.currentTimeMillis
    }
    takenSinceCapture += batch.length
    const due = now - lastCheckpointAt >= settings.checkpointIntervalMs || takenSinceCapture >= bound / 2
    if (due && (position.lastSeq > position.checkpointedSeq || batch.length === 0)) {
      lastCheckpointAt = now
      takenSinceCapture = 0
      yield* checkpointer.capture(now, idleSince)
    }
    // A whole interval with nothing: maybe stalled on a message no client can be sent (./Quarantine.ts).
    if (batch.length === 0) yield* source.stalled(position.lastSeq, position.processedSinceAck)
  }
})

/** How many version switches a partition checkpoint keeps. */
const MAX_SWITCHES = 32

/**
 * How many messages may be delivered and not yet acknowledged: the partition's read-ahead,
 * and its memory bound (see BatchReader). A partition checkpoints when half of it is taken
 * (or its interval is over), and acknowledgements follow a database flush later, so 8
 * batches (8,000 readings with the default batch of 1,000) keep delivery going. It was 25
 * with checkpoints by time alone: in a backlog every partition held 25,000 messages —
 * 100,000 on a node of 4 partitions, the bulk of its RSS after a drain.
 */
const unackedBound = (settings: PartitionSettings) => settings.batchSize * 8
