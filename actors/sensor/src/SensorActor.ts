/**
 * A sensor actor: reads one DHT sensor at its interval (never faster than the model
 * allows) and publishes each reading to `ingest.<device>.<sensor>` as msgpack, with a
 * `Nats-Msg-Id` of device.sensor.timestamp so a republish after a reconnect is de-duplicated
 * by JetStream. Readings wait in a bounded in-order queue while NATS is unreachable; when it
 * is full the oldest is dropped and counted (the policy is explicit, see the README).
 */
import { DhtDriver, readWithRetry, type DhtModel } from "@bramble/hardware"
import { encodeReadingPayload, Subjects, type ReadingPayload } from "@bramble/protocol"
import { Clock, Effect, Scope } from "effect"

export interface SensorSpec {
  readonly device: string
  readonly sensor: string
  readonly model: DhtModel
  readonly pin: number
  readonly intervalMs: number
}

/** Publishes one encoded reading and resolves when JetStream has stored it. */
export type Publish = (subject: string, data: Uint8Array, msgId: string) => Effect.Effect<void, unknown>

export interface SensorStats {
  readonly device: string
  reads: number
  readFailures: number
  consecutiveFailures: number
  published: number
  dropped: number
  buffered: number
}

export interface SensorActorOptions {
  readonly spec: SensorSpec
  readonly publish: Publish
  /** Readings kept while NATS is unreachable (default 10,000: over 5 h of DHT22 readings). */
  readonly bufferLimit?: number
  readonly stats?: SensorStats
}

export const makeSensorStats = (device: string): SensorStats => ({
  device,
  reads: 0,
  readFailures: 0,
  consecutiveFailures: 0,
  published: 0,
  dropped: 0,
  buffered: 0
})

/** Run the sensor until interrupted. Needs a `DhtDriver` (real or simulated). */
export const runSensor = (options: SensorActorOptions): Effect.Effect<never, unknown, DhtDriver | Scope.Scope> =>
  Effect.gen(function*() {
    const { spec, publish } = options
    const stats = options.stats ?? makeSensorStats(spec.device)
    const limit = options.bufferLimit ?? 10_000
    const driver = yield* DhtDriver
    const sensor = yield* driver.open({ model: spec.model, pin: spec.pin })
    const subject = Subjects.ingestSubject(spec.device, spec.sensor)
    const queue: Array<{ payload: ReadingPayload; id: string }> = []

    // Sender: drains the queue in order; waits out a NATS outage with backoff.
    const sender = Effect.gen(function*() {
      let delay = 100
      while (true) {
        const next = queue[0]
        if (next === undefined) {
          yield* Effect.sleep(50)
          continue
        }
        const sent = yield* Effect.result(publish(subject, encodeReadingPayload(next.payload), next.id))
        if (sent._tag === "Success") {
          queue.shift()
          stats.published += 1
          stats.buffered = queue.length
          delay = 100
        } else {
          yield* Effect.sleep(delay)
          delay = Math.min(delay * 2, 5_000)
        }
      }
    })
    yield* Effect.forkScoped(sender)

    const interval = Math.max(spec.intervalMs, sensor.minIntervalMs)
    while (true) {
      const started = yield* Clock.currentTimeMillis
      const reading = yield* Effect.result(readWithRetry(sensor, { attempts: 3 }))
      stats.reads += 1
      if (reading._tag === "Success") {
        stats.consecutiveFailures = 0
        const ts = reading.success.readAtMs
        queue.push({
          payload: { ts, values: { temperature: reading.success.temperatureC, humidity: reading.success.humidityPct } },
          id: Subjects.readingMsgId(spec.device, spec.sensor, ts)
        })
        if (queue.length > limit) {
          queue.shift()
          stats.dropped += 1
        }
        stats.buffered = queue.length
      } else {
        stats.readFailures += 1
        stats.consecutiveFailures += 1
        if (stats.consecutiveFailures === 5) {
          yield* Effect.logWarning(`sensor-fault: ${spec.device}/${spec.sensor} failed 5 reads in a row: ${reading.failure.message}`)
        }
      }
      const elapsed = (yield* Clock.currentTimeMillis) - started
      yield* Effect.sleep(Math.max(0, interval - elapsed))
    }
  })
