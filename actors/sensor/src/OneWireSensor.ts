/**
 * DS18B20 probes on a node's 1-wire bus as one sensor: every `intervalMs` each probe is read
 * (the listed ones, or every one found), and the temperatures that are due by
 * report-by-exception go into the outbox as one reading, one metric per probe. A probe that
 * fails (CRC, the 85 °C power-on value, gone from the bus) is left out of the reading and
 * the cycle counts as failed: after `faultAfter` such cycles `sensor-fault` is raised with
 * the probe and the reason; the other probes keep being published.
 */
import { OneWireDriver } from "@bramble/hardware"
import type { Alarm } from "@bramble/protocol"
import { Clock, Effect, type Scope } from "effect"
import type { OutboxError } from "./Outbox.js"
import { ReportByException, type ReportPolicy } from "./ReportByException.js"
import { makeSensorStats, nextTick, type SensorActorOptions, withOutbox } from "./SensorActor.js"
import { FaultTracker } from "./SensorAlarms.js"

export interface OneWireSensorSpec {
  readonly kind: "ds18b20"
  readonly device: string
  readonly sensor: string
  /** Metric name → probe id (`28-…`); absent: every probe found, as `t_<serial>`. */
  readonly probes?: Readonly<Record<string, string>>
  readonly intervalMs: number
  readonly faultAfter: number
  /** Applied to every probe's metric. */
  readonly report?: ReportPolicy
}

/** The metric of a probe found on the bus: `28-0316a2796dff` → `t_0316a2796dff`. */
export const probeMetric = (id: string): string => `t_${id.slice(3)}`

/** Reads every probe once: temperatures by metric, and the first failure. */
export const pollOneWire = (driver: OneWireDriver["Service"], probes: Readonly<Record<string, string>> | undefined) =>
  Effect.gen(function*() {
    const values: Record<string, number> = {}
    let failure: string | undefined
    let targets: Array<readonly [string, string]>
    if (probes === undefined) {
      const found = yield* Effect.result(driver.list)
      if (found._tag === "Failure") return { values, failure: `${found.failure.reason}: ${found.failure.message}` }
      if (found.success.length === 0) return { values, failure: "NoDevice: no DS18B20 found on the 1-wire bus" }
      targets = found.success.map((id) => [probeMetric(id), id] as const)
    } else targets = Object.entries(probes)
    for (const [metric, id] of targets) {
      const read = yield* Effect.result(driver.read(id))
      if (read._tag === "Success") values[metric] = read.success
      else failure ??= `${read.failure.reason}: ${read.failure.message}`
    }
    return { values, failure }
  })

export const runOneWireSensor = (
  options: SensorActorOptions<OneWireSensorSpec>
): Effect.Effect<never, OutboxError, OneWireDriver | Scope.Scope> => {
  const { spec } = options
  const stats = options.stats ?? makeSensorStats(spec.device, spec.sensor)
  return withOutbox(options, stats, (sink) =>
    Effect.gen(function*() {
      const driver = yield* OneWireDriver
      const fault = new FaultTracker(spec.device, spec.sensor, spec.faultAfter)
      // One policy for every probe, found ones included.
      const report = new ReportByException(() => spec.report)
      const tick = { next: yield* Clock.currentTimeMillis }
      while (true) {
        const ts = yield* Clock.currentTimeMillis
        stats.reads += 1
        const poll = yield* pollOneWire(driver, spec.probes)
        const due = report.filter(poll.values, ts)
        if (Object.keys(due).length > 0) yield* sink.take([{ ts, values: due }])
        const now = yield* Clock.currentTimeMillis
        let alarm: Alarm | undefined
        if (poll.failure === undefined) alarm = fault.success(now)
        else {
          stats.readFailures += 1
          alarm = fault.failure(poll.failure, now)
          if (fault.raised) report.reset()
        }
        stats.consecutiveFailures = fault.consecutive
        stats.fault = fault.raised
        if (alarm !== undefined) yield* options.raise(alarm)
        yield* nextTick(tick, spec.intervalMs)
      }
    }))
}
