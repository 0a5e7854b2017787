/**
 * The worker that processes one partition of READINGS on the node that owns it.
 *
 * At start it restores the partition checkpoint and (re)creates the partition's durable
 * consumer at the position after it, so a restart or a new owner replays exactly what the
 * checkpoint does not cover. Then, batch by batch: decode and validate each message
 * (./Intake.ts: bad ones are dead-lettered with the reason), send raw readings to storage
 * and each device's readings to its aggregator actor, with the watermark as it stood before
 * each reading (a reading moves it no further than the time the log stored it, so no
 * device's clock drags its neighbours' windows). Every `checkpointInterval` it closes due
 * windows, waits until everything produced so far is durable (database, AGGREGATES,
 * DEADLETTER: ./Publishes.ts), saves the checkpoint, and only then acknowledges the log up to
 * that point (DESIGN decision 4). A run that fails records why and where in the partition's
 * stats, which show it as failing until a later run checkpoints past that point.
 */
import {
  type AdvanceReply,
  type DeviceItem,
  type DeviceMessage,
  type DeviceSnapshot,
  makeDeviceAggregators,
  type RuleSpec,
  Watermark,
  type WindowSpec
} from "@bramble/actor-aggregator"
import { alarmPoint, forecastPoint } from "@bramble/actor-storage"
import type { Entities, Supervisor } from "@bramble/runtime"
import { consumerName, NatsClient, natsError, resetPartitionConsumer, type JsMsg, type NatsError } from "@bramble/nats"
import { clockSkewOf, encodeAlarm, encodeForecast, encodeWindowResult, type DecodeLimits, type Reading, Subjects } from "@bramble/protocol"
import { Cause, Clock, type Deferred, Effect, Fiber, type Scope } from "effect"
import { BatchReader } from "./BatchReader.js"
import type { Checkpoints } from "./Checkpoints.js"
import { Intake } from "./Intake.js"
import { type PartitionStats, recordCheckpoint, recordFailure } from "./PartitionStats.js"
import type { StoragePort } from "./Ports.js"
import { makePublishes, PublishFailed } from "./Publishes.js"
import { runMqttRecovery } from "./MqttRecovery.js"
import { setAsideStalled } from "./Quarantine.js"
import { makeSequenceGaps } from "./SequenceGaps.js"

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
  readonly checkpoints: Checkpoints
  readonly storage: StoragePort
  readonly stats: PartitionStats
  /** Device actors run under this supervisor (so the admin view can list them). */
  readonly supervisor?: Supervisor.Supervisor
  /** Receives the partition's device actors while the worker runs (admin device queries). */
  readonly onDevices?: (devices: Entities.Entities<DeviceMessage>) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * Run one partition until interrupted (or until it fails: NATS failing in a way it cannot ride
 * out, a publish or a checkpoint that cannot be made). A failure is recorded in the
 * partition's stats (`failing`, with the reason and the stream sequence) before it passes on
 * to whoever restarts the worker.
 */
export const runPartition = (options: PartitionWorkerOptions) =>
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

const runOnce = Effect.fn("PartitionWorker.run")(function*(options: PartitionWorkerOptions) {
  const { partition, settings, checkpoints, storage, stats } = options
  const { js, jsm, publisher } = yield* NatsClient
  const checkpoint = yield* checkpoints.loadPartition(partition)
  let watermark: Watermark.WatermarkState = checkpoint?.watermark ?? Watermark.initial
  let lastSeq = checkpoint?.seq ?? 0
  let checkpointedSeq = lastSeq
  stats.lastSeq = lastSeq
  yield* Effect.logInfo(`partition ${partition}: resuming after stream sequence ${lastSeq}`)
  yield* resetPartitionConsumer(jsm, partition, lastSeq + 1, { maxAckPending: unackedBound(settings) })

  // Publishes (AGGREGATES, ALARMS, DEADLETTER) started since the last checkpoint; awaited before it.
  const publishes = makePublishes(partition, publisher)
  const publish = publishes.publish
  const intake = new Intake(settings.decodeLimits, stats, publishes)
  // Per-device `seq` gaps: dead-lettered and counted; state kept in the device records.
  const gaps = makeSequenceGaps({ partition, checkpoints, stats, publish })
  // How far this run has read READINGS (stream time of the last message taken), and when it
  // last found nothing to read: what MQTT recovery waits for before it calls a seq missing.
  let readThroughStored = 0
  let emptyAt: number | undefined

  const devices = yield* makeDeviceAggregators({
    partition,
    windows: options.windows,
    allowedLatenessMs: settings.watermarkDelayMs === undefined ? 0 : settings.allowedLatenessMs,
    ...(options.rules === undefined || options.rules.length === 0 ? {} : { rules: options.rules }),
    alarm: (events) =>
      Effect.suspend(() => {
        for (const a of events) {
          publish(Subjects.alarmsSubject(a.device, a.rule), encodeAlarm(a), `alarm.${a.device}.${a.rule}.${a.state}.${a.at}`)
        }
        stats.alarms += events.length
        return storage.writePoints(events.map(alarmPoint))
      }),
    forecast: (forecasts) =>
      Effect.suspend(() => {
        for (const f of forecasts) {
          publish(Subjects.forecastSubject(f.device, f.sensor, f.metric, f.window), encodeForecast(f), `forecast.${f.device}.${f.sensor}.${f.metric}.${f.window}.${f.start}`)
        }
        return storage.writePoints(forecasts.map(forecastPoint))
      }),
    passivateAfterMs: settings.passivateAfterMs,
    ...(options.supervisor === undefined ? {} : { supervisor: options.supervisor }),
    restore: (device) => checkpoints.loadDevice(partition, device),
    emit: (results) =>
      Effect.suspend(() => {
        for (const r of results) {
          // The id includes the count, so a corrected re-emission is not de-duplicated away.
          publish(Subjects.aggregatesSubject(r.device, r.sensor, r.metric, r.window), encodeWindowResult(r), `${r.device}.${r.sensor}.${r.metric}.${r.window}.${r.start}.${r.count}`)
        }
        stats.windowsEmitted += results.length
        return storage.writeWindows(results)
      }),
    tooLate: (reading, seq, wm, storedAt) =>
      Effect.sync(() => {
        stats.tooLate += 1
        const skew = storedAt === undefined ? "" : `; it was stored ${Math.round(clockSkewOf(storedAt, reading.ts) / 100) / 10} s after it (a clock that runs behind, or a long delay)`
        publishes.deadLetter("TooLate", `event time ${new Date(reading.ts).toISOString()} is older than the watermark ${new Date(wm).toISOString()} allows${skew}; the raw reading was stored but no window includes it`, Subjects.readingsSubject(partition, reading.device, reading.sensor), seq, new Uint8Array())
        if (storedAt !== undefined) stats.clocks.refused(reading.device, "TooLate", storedAt, reading.ts, Date.now())
      }),
    duplicates: (count) =>
      Effect.sync(() => {
        stats.duplicates += count
      })
  })
  if (options.onDevices !== undefined) yield* options.onDevices(devices)
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
        devices.ask(device, (reply: Deferred.Deferred<AdvanceReply>) => ({ _tag: "Advance" as const, watermark: wm, reply })).pipe(
          // A crashed device actor cannot be trusted: restart the partition from its checkpoint.
          Effect.orDie,
          Effect.map((r) => {
            if (r.changed) dirty.add(device)
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
      (device) =>
        Effect.map(
          Effect.orDie(devices.ask(device, (reply: Deferred.Deferred<DeviceSnapshot>) => ({ _tag: "Snapshot" as const, reply }))),
          (snapshot) => [device, snapshot] as const
        ),
      { concurrency: 64 }
    )
  })

  const consumer = yield* Effect.tryPromise({
    try: () => js.consumers.get(Subjects.Streams.readings, consumerName(partition)),
    catch: natsError("JetStream", `cannot open consumer for partition ${partition}`)
  })
  const reader = new BatchReader()
  yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const messages = await consumer.consume({ max_messages: settings.batchSize * 2, callback: reader.deliver })
        // Stopped (consumer deleted, connection closed for good, fenced off): wake the loop,
        // which fails and restarts from the checkpoint.
        void messages.closed().then(reader.end, reader.end)
        return messages
      },
      catch: natsError("JetStream", `cannot consume partition ${partition}`)
    }),
    (m) => Effect.promise(() => m.close().then(() => undefined, () => undefined))
  )
  let lastAck: JsMsg | undefined
  const startedAt = yield* Clock.currentTimeMillis
  // The first checkpoint comes right after the first batch, not an interval later: a new
  // owner (after a failover or a restart) makes its replay durable, and shows it holds the
  // partition, as soon as it can.
  let lastCheckpointAt = startedAt - settings.checkpointIntervalMs
  // When the worker last finished processing and began waiting for more: idle time is
  // counted from here, not from when a batch arrived, so time spent blocked on a slow or
  // stopped database never counts as idleness.
  let idleSince = startedAt
  // Messages delivered and processed but not yet acknowledged (acks follow checkpoints).
  let processedSinceAck = 0
  // Idle time moves the watermark only once the worker has caught up with its log: nothing
  // left on the server for this consumer and nothing delivered but unprocessed. A worker
  // still working through a backlog (a new owner after a failover, a restart, the backlog of
  // a database outage) is not idle: advancing by the time it waited would close windows
  // before the backlog's readings reach them, and a partition that moved would give other
  // results than one that did not (DESIGN decision 4).
  const logDrained = Effect.tryPromise(() => jsm.consumers.info(Subjects.Streams.readings, consumerName(partition))).pipe(
    Effect.map((info) => info.num_pending === 0 && info.num_ack_pending <= processedSinceAck),
    Effect.orElseSucceed(() => false)
  )

  // MQTT readings nats-server PUBACKed but never copied into READINGS, put back from its own
  // stream (./MqttRecovery.ts). Runs beside the loop, in its scope, through the same fence.
  yield* Effect.forkScoped(runMqttRecovery({
    partition,
    stats: stats.sequence,
    limits: settings.decodeLimits,
    progress: {
      readThrough: Effect.suspend(() => {
        const at = emptyAt
        if (at === undefined) return Effect.succeed(readThroughStored)
        // Nothing was left to read when the loop last looked: if the server agrees, READINGS
        // has been read up to then.
        return Effect.map(logDrained, (drained) => (drained ? Math.max(readThroughStored, at) : readThroughStored))
      }),
      seen: gaps.seen
    }
  }))

  // The checkpoint in flight, if any. A checkpoint is captured in the loop (close due
  // windows, snapshot dirty devices, note the position) and then made durable by a fiber of
  // its own — wait for the publishes, flush storage, save device and partition records, ack
  // — while the loop goes on reading. Waiting for the database inline stopped ingest (and
  // delayed every alarm) for the length of a database round trip each interval. At most one
  // checkpoint is in flight: the next capture waits for it, so records and acks stay in order
  // and a slow database still slows the pull (backpressure) instead of piling up captures.
  let inFlightCheckpoint: Fiber.Fiber<void, unknown> | undefined
  const settleCheckpoint = Effect.suspend(() => {
    const fiber = inFlightCheckpoint
    inFlightCheckpoint = undefined
    return fiber === undefined ? Effect.void : Fiber.join(fiber)
  })
  const scope = yield* Effect.scope

  const doCheckpoint = Effect.fnUntraced(function*(now: number) {
    if (now - idleSince >= settings.idleAdvanceMs && (yield* logDrained)) {
      watermark = Watermark.idle(watermark, now - idleSince, settings.idleAdvanceMs)
    }
    yield* advanceDevices(watermark.watermark)
    const snapshots = yield* gaps.attach(yield* snapshotDirty)
    const published = publishes.take()
    const position: { seq: number; watermark: Watermark.WatermarkState } = { seq: lastSeq, watermark }
    const ack = lastAck
    const acked = processedSinceAck
    lastAck = undefined
    checkpointedSeq = lastSeq
    lastCheckpointAt = now
    // A failure of the previous checkpoint fails the worker here (it restarts from the last
    // good checkpoint); its success lets this one start.
    yield* settleCheckpoint
    inFlightCheckpoint = yield* Effect.forkIn(
      Effect.gen(function*() {
        yield* published
        yield* storage.flush
        yield* checkpoints.saveDevices(partition, snapshots)
        yield* checkpoints.savePartition(partition, position)
        recordCheckpoint(stats, position.seq, now)
        // AckPolicy.All: one ack covers every earlier message of this consumer.
        ack?.ack()
        processedSinceAck -= acked
      }),
      scope
    )
  })

  while (true) {
    const batch = yield* Effect.promise(() => reader.next(settings.batchSize, settings.checkpointIntervalMs))
    if (reader.done && batch.length === 0) {
      return yield* Effect.fail(natsError("JetStream", `partition ${partition}: the consumer stopped`)("closed") as NatsError)
    }
    const now = yield* Clock.currentTimeMillis
    emptyAt = batch.length === 0 ? now : undefined
    if (batch.length > 0) {
      processedSinceAck += batch.length
      const readings: Array<Reading> = []
      const perDevice = new Map<string, Array<DeviceItem>>()
      for (const m of batch) {
        const seq = m.seq
        if (seq <= lastSeq) continue // redelivered while we were slow: already applied
        lastSeq = seq
        stats.lastSeq = seq
        lastAck = m
        stats.received += 1
        const storedAt = Math.floor(m.info.timestampNanos / 1e6)
        if (storedAt > readThroughStored) readThroughStored = storedAt
        const reading = intake.take({ subject: m.subject, data: m.data, seq, storedAt }, now)
        if (reading === undefined) continue
        readings.push(reading)
        let items = perDevice.get(reading.device)
        if (items === undefined) perDevice.set(reading.device, items = [])
        items.push({ reading, seq, watermark: watermark.watermark, storedAt })
        watermark = Watermark.observeReading(watermark, reading.ts, storedAt, settings.watermarkDelayMs ?? settings.allowedLatenessMs)
      }
      yield* gaps.observe(perDevice)
      if (readings.length > 0) yield* storage.writeReadings(readings)
      for (const [device, items] of perDevice) {
        yield* Effect.orDie(devices.tell(device, { _tag: "Ingest", items }))
        dirty.add(device)
        nextEnd.set(device, Number.NEGATIVE_INFINITY)
      }
      stats.accepted += readings.length
      idleSince = yield* Clock.currentTimeMillis
    }
    if (now - lastCheckpointAt >= settings.checkpointIntervalMs && (lastSeq > checkpointedSeq || batch.length === 0)) {
      yield* doCheckpoint(now)
    }
    // A whole interval with nothing: maybe stalled on a message no client can be sent (./Quarantine.ts).
    if (batch.length === 0) yield* setAsideStalled(partition, lastSeq, stats)
  }
})

/**
 * How many messages may be delivered and not yet acknowledged: the partition's read-ahead,
 * and its memory bound (see BatchReader). Acknowledgements come a checkpoint interval plus a
 * database flush apart, so the bound must cover a few intervals at full speed — 25 batches
 * (25,000 readings with the default batch of 1,000, a few MB).
 */
const unackedBound = (settings: PartitionSettings) => settings.batchSize * 25
