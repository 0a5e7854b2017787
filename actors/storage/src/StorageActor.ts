/**
 * The storage actor: the node's single writer to the time-series database. Partitions and
 * device actors send it raw readings, window results, alarms and forecasts; it turns each into
 * a database point (Points.ts: all point mapping lives there) and batches them (5,000 lines per
 * write by default, InfluxDB's advice) and writes them durably — waiting out a database
 * outage for as long as it lasts. Its bounded mailbox is the backpressure: while the
 * database is down the mailbox fills, senders suspend, partitions stop pulling, and the
 * backlog stays in JetStream, not in memory. A `Flush` completes only when everything sent
 * before it is durable, which is what lets partitions acknowledge the log.
 *
 * It writes through the `BatchSink` contract (BatchSink.ts, DurableWrite.ts) shared with the
 * forwarders; `makeStorage` adapts the `InfluxSink` in context to it.
 */
import { InfluxSink, type SinkPoint } from "@bramble/influx"
import type { Alarm, Forecast, Reading, WindowResult } from "@bramble/protocol"
import { Actor } from "@bramble/runtime"
import { Clock, Deferred, Effect, Fiber, Schedule, type Scope } from "effect"
import type { BatchSink } from "./BatchSink.js"
import { makeOutageReporter, writeDurably } from "./DurableWrite.js"
import { influxBatchSink } from "./InfluxBatchSink.js"
import { makeLagHistogram, type LagHistogram, recordLag } from "./LagHistogram.js"
import { alarmPoint, forecastPoint, Measurements, readingPoint, windowPoint } from "./Points.js"

export type StorageMessage =
  | { readonly _tag: "Readings"; readonly readings: ReadonlyArray<Reading> }
  | { readonly _tag: "Windows"; readonly results: ReadonlyArray<WindowResult> }
  | { readonly _tag: "Alarms"; readonly alarms: ReadonlyArray<Alarm> }
  | { readonly _tag: "Forecasts"; readonly forecasts: ReadonlyArray<Forecast> }
  | { readonly _tag: "Flush"; readonly reply: Deferred.Deferred<void> }
  | { readonly _tag: "Tick" }

/** Counters for the admin view and metrics. */
export interface StorageStats {
  pointsWritten: number
  /** Raw readings among pointsWritten (the rest are window results). */
  readingsWritten: number
  /** Event time → durable, for every raw reading written. */
  readonly storedLag: LagHistogram
  writes: number
  writeFailures: number
  pointsRejected: number
  lastWriteMs: number
  /** Set while the database is unreachable (ms since epoch of the first failure). */
  unavailableSince: number | undefined
  lastError: string | undefined
}

export interface StorageOptions {
  /** Points per database write. */
  readonly batchSize: number
  /** Write a partial batch after this long (keeps latency low under light load). */
  readonly flushIntervalMs: number
  /** Mailbox capacity, in messages (each carries a batch of readings). */
  readonly capacity?: number
  /** A point the database refused, with its reason (dead-lettered by the caller). */
  readonly rejected: (point: SinkPoint, reason: string) => Effect.Effect<void>
  readonly stats?: StorageStats
}

export const makeStorageStats = (): StorageStats => ({
  pointsWritten: 0,
  readingsWritten: 0,
  storedLag: makeLagHistogram(),
  writes: 0,
  writeFailures: 0,
  pointsRejected: 0,
  lastWriteMs: 0,
  unavailableSince: undefined,
  lastError: undefined
})

/**
 * New settings for a running storage actor (a new version of the cluster file's `sink`
 * batching, docs/live-config.md): the sink to write through and the points per write.
 */
export interface StorageSettings {
  readonly sink: BatchSink<SinkPoint>
  readonly batchSize: number
  /** Run once this sink is written through no more (its HTTP agent closed, say). */
  readonly release: Effect.Effect<void>
}

/** The storage actor's handle, with the operations partitions use. */
export interface Storage {
  readonly ref: Actor.ActorRef<StorageMessage>
  readonly stats: StorageStats
  readonly writeReadings: (readings: ReadonlyArray<Reading>) => Effect.Effect<void>
  readonly writeWindows: (results: ReadonlyArray<WindowResult>) => Effect.Effect<void>
  readonly writeAlarms: (alarms: ReadonlyArray<Alarm>) => Effect.Effect<void>
  readonly writeForecasts: (forecasts: ReadonlyArray<Forecast>) => Effect.Effect<void>
  /** Completes when everything sent before it is durable. */
  readonly flush: Effect.Effect<void>
  /**
   * Write through `settings` from the next batch on. Returns at once: the batch being
   * written finishes through the old sink first (writes stay one at a time and in order),
   * then the old sink is released. Nothing buffered or in flight is dropped, and a `Flush`
   * still completes only when everything before it is durable, through either sink.
   */
  readonly reconfigure: (settings: StorageSettings) => Effect.Effect<void>
}

/** Start the storage actor (writes through the `InfluxSink` in context). */
export const makeStorage = Effect.fn("StorageActor.makeStorage")(function*(options: StorageOptions): Effect.fn.Return<Storage, never, InfluxSink | Scope.Scope> {
  return yield* makeStorageOn(influxBatchSink(yield* InfluxSink), options)
})

/** Start the storage actor on any sink of database points. */
export const makeStorageOn = Effect.fn("StorageActor.makeStorageOn")(function*(initial: BatchSink<SinkPoint>, options: StorageOptions): Effect.fn.Return<Storage, never, Scope.Scope> {
  const stats = options.stats ?? makeStorageStats()
  // The settings in force, and those to take at the next batch. The first sink belongs to
  // the caller's scope: nothing to release.
  let current: StorageSettings = { sink: initial, batchSize: options.batchSize, release: Effect.void }
  let pending: StorageSettings | undefined
  let buffer: Array<SinkPoint> = []
  let bufferedReadings = 0
  // Double buffering: one batch is being written while the next fills, so the mailbox keeps
  // draining during a database round trip. Writes stay one at a time and in order, so a
  // corrected window result can never be overtaken by the version it corrects.
  let inflight: Fiber.Fiber<void> | undefined
  const outage = makeOutageReporter()
  const scope = yield* Effect.scope

  const writeBatch = Effect.fnUntraced(function*(sink: BatchSink<SinkPoint>, points: ReadonlyArray<SinkPoint>, readings: number) {
    const started = yield* Clock.currentTimeMillis
    yield* writeDurably(sink, points, {
      rejected: (point, reason) =>
        Effect.andThen(Effect.sync(() => {
          stats.pointsRejected += 1
        }), options.rejected(point, reason)),
      unavailable: (error, attempt) =>
        Effect.gen(function*() {
          stats.writeFailures += 1
          stats.lastError = error.message
          stats.unavailableSince ??= yield* Clock.currentTimeMillis
          if (outage.worthSaying(error, attempt)) {
            yield* Effect.logWarning(`database unavailable (attempt ${attempt}), holding ${points.length} points and retrying: ${error.message}`)
          }
        })
    })
    outage.recovered()
    if (stats.unavailableSince !== undefined) {
      yield* Effect.logInfo("database reachable again; backlog resumes")
      stats.unavailableSince = undefined
    }
    stats.pointsWritten += points.length
    stats.readingsWritten += readings
    const done = Date.now()
    for (const p of points) if (p.measurement === Measurements.readings) recordLag(stats.storedLag, done - p.timestampMs)
    stats.writes += 1
    stats.lastWriteMs = (yield* Clock.currentTimeMillis) - started
  })

  /** Wait for the write in flight, if any. */
  const settle = Effect.suspend(() => {
    const fiber = inflight
    inflight = undefined
    return fiber === undefined ? Effect.void : Fiber.join(fiber)
  })

  /** Take new settings, once the write through the old sink has finished. */
  const takePending = Effect.fnUntraced(function*() {
    if (pending === undefined) return
    yield* settle
    const old = current
    current = pending
    pending = undefined
    yield* old.release
    yield* Effect.logInfo(`storage: writes through ${current.sink.describe}, ${current.batchSize} points per write`)
  })

  /** Hand the buffer to the writer (after the previous write finished); do not wait for it. */
  const write = Effect.fnUntraced(function*() {
    yield* takePending()
    if (buffer.length === 0) return
    yield* settle
    const points = buffer
    const readings = bufferedReadings
    buffer = []
    bufferedReadings = 0
    inflight = yield* Effect.forkIn(writeBatch(current.sink, points, readings), scope)
  })

  /** Buffer the items as points; a full batch is handed to the writer. */
  const add = <A>(items: ReadonlyArray<A>, toPoint: (item: A) => SinkPoint) =>
    Effect.suspend(() => {
      for (const item of items) buffer.push(toPoint(item))
      return buffer.length >= current.batchSize ? write() : Effect.void
    })

  const ref = yield* Actor.make<StorageMessage, null, never, never>("storage", {
    init: Effect.succeed(null),
    receive: (state, message) =>
      Effect.gen(function*() {
        switch (message._tag) {
          case "Readings":
            bufferedReadings += message.readings.length
            yield* add(message.readings, readingPoint)
            break
          case "Windows":
            yield* add(message.results, windowPoint)
            break
          case "Alarms":
            yield* add(message.alarms, alarmPoint)
            break
          case "Forecasts":
            yield* add(message.forecasts, forecastPoint)
            break
          case "Flush":
            yield* write()
            yield* settle
            yield* Deferred.succeed(message.reply, undefined)
            break
          case "Tick":
            yield* write()
            break
        }
        return state
      })
  }, { kind: "storage", capacity: options.capacity ?? 64 })

  // A partial batch waits at most flushIntervalMs; ticks are skipped while the mailbox has work.
  yield* Effect.forkScoped(
    Effect.repeat(
      Effect.flatMap(ref.stats, (s) => s.mailboxSize === 0 ? Effect.ignore(ref.tell({ _tag: "Tick" })) : Effect.void),
      Schedule.spaced(options.flushIntervalMs)
    )
  )

  return {
    ref,
    stats,
    writeReadings: (readings) => Effect.orDie(ref.tell({ _tag: "Readings", readings })),
    writeWindows: (results) => Effect.orDie(ref.tell({ _tag: "Windows", results })),
    writeAlarms: (alarms) => Effect.orDie(ref.tell({ _tag: "Alarms", alarms })),
    writeForecasts: (forecasts) => Effect.orDie(ref.tell({ _tag: "Forecasts", forecasts })),
    // Not a message: the mailbox may be full for as long as the database is down, and the
    // caller (a node taking a new version) must not wait for that. The actor takes it at
    // its next write or tick. Settings replaced before they were taken are released unused.
    reconfigure: (settings) =>
      Effect.suspend(() => {
        const replaced = pending
        pending = settings
        return replaced === undefined ? Effect.void : replaced.release
      }),
    flush: Effect.orDie(ref.ask((reply: Deferred.Deferred<void>) => ({ _tag: "Flush" as const, reply })))
  }
})
