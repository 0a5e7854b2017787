/**
 * DS18B20 probes on a node's 1-wire bus as one sensor: every `intervalMs` each probe is read
 * (the listed ones, or every one found), and the temperatures that are due by
 * report-by-exception go into the outbox as one reading, one metric per probe. A probe that
 * fails (CRC, the 85 °C power-on value, gone from the bus) is left out of the reading and
 * the cycle counts as failed: after `faultAfter` such cycles `sensor-fault` is raised with
 * the probe and the reason; the other probes keep being published.
 */
import { OneWireDriver } from "@bramble/hardware"
import { Effect, type Scope } from "effect"
import type { OutboxError } from "./Outbox.js"
import { runPolledSensor, type SensorPoll } from "./PolledSensor.js"
import type { ReportPolicy } from "./ReportByException.js"
import type { SensorActorOptions } from "./SensorActor.js"

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
export const pollOneWire = (
  driver: OneWireDriver["Service"],
  probes: Readonly<Record<string, string>> | undefined
): Effect.Effect<SensorPoll> =>
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

/** Reads the 1-wire probes for ever; fails only if its outbox fails. */
export const runOneWireSensor = (
  options: SensorActorOptions<OneWireSensorSpec>
): Effect.Effect<never, OutboxError, OneWireDriver | Scope.Scope> =>
  runPolledSensor(options, {
    // One policy for every probe, found ones included.
    report: () => options.spec.report,
    makePoll: Effect.gen(function*() {
      const driver = yield* OneWireDriver
      return pollOneWire(driver, options.spec.probes)
    })
  })
