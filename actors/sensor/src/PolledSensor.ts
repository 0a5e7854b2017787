/**
 * The read loop of a sensor that is polled for several metrics at once (an I2C chip, the
 * 1-wire probes, a Modbus device): every `intervalMs` one poll gives the values it read and
 * its first failure; the values due by report-by-exception go into the outbox as one
 * reading, and a poll with a failure counts towards `sensor-fault`. What differs between
 * those sensors is only how they are polled, so each passes its poll in and the loop, the
 * counters and the alarm stay in one place.
 */
import { Clock, Effect, type Scope } from "effect"
import type { OutboxError } from "./Outbox.js"
import { ReportByException, type ReportPolicies } from "./ReportByException.js"
import { countCycle, makeSensorStats, nextTick, type SensorActorOptions, withOutbox } from "./SensorActor.js"
import { FaultTracker } from "./SensorAlarms.js"
import type { SensorSpec } from "./SensorSpec.js"

/** What one poll of a sensor produced: the values read, and the first failure, if any. */
export interface SensorPoll {
  readonly values: Record<string, number>
  readonly failure: string | undefined
}

/** A polled sensor: its report-by-exception policies, and how to poll it (`R`, `RPoll`: what the two need). */
export interface PolledSensor<R, RPoll> {
  readonly report: ReportPolicies
  /**
   * Run once each time the actor starts, after its outbox is open: looks up the driver
   * (and anything else the polls share) and returns the effect that polls the sensor once.
   */
  readonly makePoll: Effect.Effect<Effect.Effect<SensorPoll, never, RPoll>, never, R>
}

/** Polls a sensor for ever; fails only if its outbox fails. */
export const runPolledSensor = <S extends SensorSpec & { readonly intervalMs: number; readonly faultAfter: number }, R, RPoll>(
  options: SensorActorOptions<S>,
  sensor: PolledSensor<R, RPoll>
): Effect.Effect<never, OutboxError, R | RPoll | Scope.Scope> => {
  const { spec } = options
  const stats = options.stats ?? makeSensorStats(spec.device, spec.sensor)
  return withOutbox(options, stats, (sink) =>
    Effect.gen(function*() {
      const poll = yield* sensor.makePoll
      const fault = new FaultTracker(spec.device, spec.sensor, spec.faultAfter)
      const report = new ReportByException(sensor.report)
      const tick = { next: yield* Clock.currentTimeMillis }
      while (true) {
        const ts = yield* Clock.currentTimeMillis
        stats.reads += 1
        const { values, failure } = yield* poll
        const due = report.filter(values, ts)
        if (Object.keys(due).length > 0) yield* sink.take([{ ts, values: due }])
        yield* countCycle(fault, stats, options.raise, failure, yield* Clock.currentTimeMillis)
        // A sensor that comes back reports every metric at once, deadband or not.
        if (failure !== undefined && fault.raised) report.reset()
        yield* nextTick(tick, spec.intervalMs)
      }
    }))
}
