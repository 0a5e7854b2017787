/**
 * A sensor actor: reads one sensor (a DHT, a digital input, or the synthetic test sensor),
 * calibrates what it read, and appends it to the sensor's on-disk outbox; a second fibre
 * delivers the outbox to `ingest.<device>.<sensor>` in order (Delivery.ts). Taking readings
 * never waits for NATS: while NATS is unreachable they pile up in the outbox, bounded by
 * `maxReadings` (oldest dropped, counted, `outbox-overflow` alarm), and are delivered when it
 * returns, even if the node was restarted (or killed) in between.
 *
 * A sensor that stops answering does not crash anything: each failed read interval is
 * counted, and after `faultAfter` in a row the actor raises `sensor-fault`, cleared by the
 * next good reading. Only the outbox's own failures (disk full, a corrupt file) fail the
 * actor, for its supervisor to restart.
 */
import {
  DhtDriver,
  type DhtReadError,
  type DhtSensor,
  GpioDriver,
  type GpioEdgeEvent,
  type GpioError,
  type HardwareUnavailable,
  readWithRetry
} from "@bramble/hardware"
import type { Alarm } from "@bramble/protocol"
import { Clock, Effect, Queue, type Scope, Stream } from "effect"
import { deliverOutbox } from "./Delivery.js"
import type { Outbox, OutboxError, OutboxReading } from "./Outbox.js"
import type { Publish } from "./Publish.js"
import { FaultTracker, OverflowTracker } from "./SensorAlarms.js"
import {
  attemptsWithin,
  calibrateValues,
  type DhtSensorSpec,
  type GpioInputSensorSpec,
  type SensorSpec,
  type SyntheticSensorSpec
} from "./SensorSpec.js"

/** Live counters of one sensor actor (admin status, /metrics, tests). */
export interface SensorStats {
  readonly device: string
  readonly sensor: string
  /** Read intervals (DHT, synthetic) or edges (GPIO input) since the node started. */
  reads: number
  /** Read intervals that produced no reading. */
  readFailures: number
  consecutiveFailures: number
  /** Readings JetStream acknowledged since the node started. */
  published: number
  /** Readings the outbox dropped because it was full, over its whole life. */
  dropped: number
  /** Readings in the outbox, waiting for NATS. */
  buffered: number
  /** Sequence number of the last reading taken (persistent across restarts). */
  lastSeq: number
  /** Whether `sensor-fault` is raised. */
  fault: boolean
}

export const makeSensorStats = (device: string, sensor = "env"): SensorStats => ({
  device,
  sensor,
  reads: 0,
  readFailures: 0,
  consecutiveFailures: 0,
  published: 0,
  dropped: 0,
  buffered: 0,
  lastSeq: 0,
  fault: false
})

/** Where alarms go (an `AlarmSender`, or a recorder in tests). */
export type RaiseAlarm = (alarm: Alarm) => Effect.Effect<void>

export interface SensorActorOptions<S extends SensorSpec = SensorSpec> {
  readonly spec: S
  /** Opens the sensor's outbox for the actor's lifetime (`openOutbox`, or `memoryOutbox` in tests). */
  readonly outbox: Effect.Effect<Outbox, OutboxError, Scope.Scope>
  readonly publish: Publish
  readonly raise: RaiseAlarm
  readonly stats?: SensorStats
}

/** Appends readings to the outbox, keeping the stats and the overflow alarm up to date. */
export interface Sink {
  readonly take: (readings: ReadonlyArray<OutboxReading>) => Effect.Effect<void, OutboxError>
  readonly outbox: Outbox
}

/**
 * Opens the outbox, runs its delivery, and runs `read` with a sink into it; whichever of
 * the two fails first fails the actor (the other is stopped).
 */
export const withOutbox = <E, R>(
  options: SensorActorOptions,
  stats: SensorStats,
  read: (sink: Sink) => Effect.Effect<never, E, R>
): Effect.Effect<never, OutboxError | E, R | Scope.Scope> =>
  Effect.gen(function*() {
    const { device, sensor } = options.spec
    const outbox = yield* options.outbox
    const overflow = new OverflowTracker(device, sensor, outbox.maxReadings, outbox.stats().dropped)
    const refresh = Effect.gen(function*() {
      const s = outbox.stats()
      stats.buffered = s.pending
      stats.dropped = s.dropped
      stats.lastSeq = s.lastSeq
      const alarm = overflow.observe(s.dropped, s.pending, yield* Clock.currentTimeMillis)
      if (alarm !== undefined) yield* options.raise(alarm)
    })
    yield* refresh
    const delivery = deliverOutbox({
      outbox,
      publish: options.publish,
      device,
      sensor,
      onDelivered: (count) =>
        Effect.andThen(
          Effect.sync(() => {
            stats.published += count
          }),
          refresh
        )
    })
    const sink: Sink = {
      outbox,
      take: (readings) => Effect.andThen(outbox.append(readings), refresh)
    }
    return yield* Effect.raceFirst(read(sink), delivery)
  })

const describe = (error: DhtReadError | HardwareUnavailable): string => `${error.reason}: ${error.message}`

/** Sleeps until the next tick of a fixed-rate schedule; a late tick skips the ones it missed. */
export const nextTick = (state: { next: number }, intervalMs: number) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    state.next += intervalMs
    if (state.next <= now) state.next = now
    yield* Effect.sleep(state.next - now)
  })

/**
 * Counts one read cycle towards `sensor-fault` (`failure` says why it produced nothing;
 * undefined: a good cycle), keeps the stats in step, and raises or clears the alarm.
 */
export const countCycle = (
  fault: FaultTracker,
  stats: SensorStats,
  raise: RaiseAlarm,
  failure: string | undefined,
  now: number
): Effect.Effect<void> =>
  Effect.suspend(() => {
    let alarm: Alarm | undefined
    if (failure === undefined) alarm = fault.success(now)
    else {
      stats.readFailures += 1
      alarm = fault.failure(failure, now)
    }
    stats.consecutiveFailures = fault.consecutive
    stats.fault = fault.raised
    return alarm === undefined ? Effect.void : raise(alarm)
  })

/**
 * A DHT11/DHT22: one cycle per `intervalMs` with as many attempts as fit in it; a cycle
 * with no reading counts towards `sensor-fault`. A sensor that cannot even be opened (no
 * GPIO, no Pi, an absent simulated sensor) is retried every interval, and counts too.
 */
export const runDhtSensor = (
  options: SensorActorOptions<DhtSensorSpec>
): Effect.Effect<never, OutboxError, DhtDriver | Scope.Scope> => {
  const { spec } = options
  const stats = options.stats ?? makeSensorStats(spec.device, spec.sensor)
  return withOutbox(options, stats, (sink) =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      const fault = new FaultTracker(spec.device, spec.sensor, spec.faultAfter)
      let dht: DhtSensor | undefined
      const tick = { next: yield* Clock.currentTimeMillis }
      while (true) {
        const cycle = yield* Effect.result(Effect.gen(function*() {
          if (dht === undefined) dht = yield* driver.open({ model: spec.model, pin: spec.pin })
          return yield* readWithRetry(dht, { attempts: attemptsWithin(spec.intervalMs, dht.minIntervalMs, spec.attempts) })
        }))
        stats.reads += 1
        const now = yield* Clock.currentTimeMillis
        if (cycle._tag === "Success") {
          const reading = cycle.success
          const values = calibrateValues({ temperature: reading.temperatureC, humidity: reading.humidityPct }, spec.calibration)
          yield* sink.take([{ ts: reading.readAtMs, values }])
        }
        yield* countCycle(fault, stats, options.raise, cycle._tag === "Success" ? undefined : describe(cycle.failure), now)
        yield* nextTick(tick, spec.intervalMs)
      }
    }))
}

/**
 * A digital input: every debounced edge becomes a reading `{ state, count }` stamped with
 * the edge's time, where `count` is the number of edges so far (the outbox's persistent
 * sequence number, so it keeps counting across restarts). Edges that arrive while the
 * outbox is writing are appended together, in one fdatasync. A watch that fails (the pin
 * went away) fails the actor, for its supervisor to reopen the pin.
 */
export const runGpioInput = (
  options: SensorActorOptions<GpioInputSensorSpec>
): Effect.Effect<never, OutboxError | GpioError | HardwareUnavailable, GpioDriver | Scope.Scope> => {
  const { spec } = options
  const stats = options.stats ?? makeSensorStats(spec.device, spec.sensor)
  return withOutbox(options, stats, (sink) =>
    Effect.gen(function*() {
      const gpio = yield* GpioDriver
      const input = yield* gpio.openInput({ pin: spec.pin, edge: spec.edge, debounceMs: spec.debounceMs, activeLow: spec.activeLow })
      const edges = yield* Queue.unbounded<GpioEdgeEvent>()
      const writer = Effect.gen(function*() {
        while (true) {
          const batch = yield* Queue.takeAll(edges)
          const first = sink.outbox.nextSeq()
          stats.reads += batch.length
          yield* sink.take(batch.map((edge, i) => ({ ts: edge.atMs, values: { state: edge.value, count: first + i } })))
        }
      })
      const watch = Stream.runForEach(input.watch, (edge) => Queue.offer(edges, edge)).pipe(
        Effect.andThen(Effect.never)
      )
      return yield* Effect.raceFirst(writer, watch)
    }))
}

/** A deterministic, slowly varying value for the synthetic sensor: a sine with hashed noise. */
export const syntheticValue = (device: string, sensor: string, ts: number): number => {
  let h = 2166136261
  for (const ch of `${device}.${sensor}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619)
  const phase = ((h >>> 0) % 1000) / 1000 * 2 * Math.PI
  let n = Math.imul((ts ^ h) >>> 0, 2654435761) >>> 0
  n ^= n >>> 15
  const noise = (n % 1000) / 1000 - 0.5
  return Math.round((50 + 10 * Math.sin(2 * Math.PI * ts / 600_000 + phase) + noise) * 1000) / 1000
}

/** The synthetic sensor: `{ value }` every `intervalMs`, stamped with the Clock. */
export const runSyntheticSensor = (
  options: SensorActorOptions<SyntheticSensorSpec>
): Effect.Effect<never, OutboxError, Scope.Scope> => {
  const { spec } = options
  const stats = options.stats ?? makeSensorStats(spec.device, spec.sensor)
  return withOutbox(options, stats, (sink) =>
    Effect.gen(function*() {
      const tick = { next: yield* Clock.currentTimeMillis }
      while (true) {
        const ts = yield* Clock.currentTimeMillis
        stats.reads += 1
        yield* sink.take([{ ts, values: calibrateValues({ value: syntheticValue(spec.device, spec.sensor, ts) }, spec.calibration) }])
        yield* nextTick(tick, spec.intervalMs)
      }
    }))
}
