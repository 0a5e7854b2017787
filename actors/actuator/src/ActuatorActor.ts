/**
 * An actuator actor: a digital output (relay, LED, buzzer) driven by alarms, the last step
 * of the seeds' pipelines ("refuel" raised → a light goes on). It owns one output pin for
 * its lifetime: on while any alarm it watches is raised, off when all are cleared, and off
 * (`safeValue` 0) when it stops, before the pin is released, so a node that shuts down
 * leaves no relay energised.
 *
 * The alarm events come in as a stream; the node feeds it from the ALARMS stream starting
 * with the latest event of every watched alarm, so an actuator that starts (or restarts)
 * late still knows what is raised.
 */
import { GpioDriver, type GpioError, type HardwareUnavailable } from "@bramble/hardware"
import type { Alarm } from "@bramble/protocol"
import { Effect, type Scope, Stream } from "effect"
import { type AlarmMatcher, AlarmSet } from "./AlarmMatch.js"

/** One actuator, as the cluster file describes it. */
export interface ActuatorSpec {
  readonly name: string
  /** BCM GPIO number of the output. */
  readonly pin: number
  /** The load is on when the pin is low (many relay boards). */
  readonly activeLow: boolean
  /** On while any of these alarms is raised. */
  readonly on: ReadonlyArray<AlarmMatcher>
}

/** Live state of one actuator (admin, tests). */
export interface ActuatorStats {
  readonly name: string
  readonly pin: number
  /** The logical value driven now (1 = on). */
  value: 0 | 1
  /** The watched alarms raised now, as `device.rule`. */
  raised: ReadonlyArray<string>
  /** Alarm events received. */
  events: number
  /** Times the output changed. */
  switches: number
}

export const makeActuatorStats = (spec: Pick<ActuatorSpec, "name" | "pin">): ActuatorStats => ({
  name: spec.name,
  pin: spec.pin,
  value: 0,
  raised: [],
  events: 0,
  switches: 0
})

export interface ActuatorActorOptions<E, R> {
  readonly spec: ActuatorSpec
  /** Alarm events, starting with the current state of every watched alarm. */
  readonly alarms: Stream.Stream<Alarm, E, R>
  readonly stats?: ActuatorStats
}

/**
 * Drives the output until interrupted (the pin is then set off and released), or until the
 * alarm stream fails, for the supervisor to start it again.
 */
export const runActuator = <E, R>(
  options: ActuatorActorOptions<E, R>
): Effect.Effect<never, E | GpioError | HardwareUnavailable, GpioDriver | R | Scope.Scope> =>
  Effect.gen(function*() {
    const { spec } = options
    const stats = options.stats ?? makeActuatorStats(spec)
    const gpio = yield* GpioDriver
    const output = yield* gpio.openOutput({ pin: spec.pin, initial: 0, safeValue: 0, activeLow: spec.activeLow })
    stats.value = 0
    const set = new AlarmSet(spec.on)
    yield* Stream.runForEach(options.alarms, (alarm) =>
      Effect.gen(function*() {
        stats.events += 1
        if (!set.apply(alarm)) {
          stats.raised = set.raised
          return
        }
        const value = set.on ? 1 : 0
        yield* output.write(value)
        stats.value = value
        stats.raised = set.raised
        stats.switches += 1
        yield* Effect.logInfo(
          `actuator ${spec.name} (GPIO ${spec.pin}) ${value === 1 ? "on" : "off"}: ${alarm.rule} ${alarm.state} for ${alarm.device}` +
            (value === 1 ? "" : " (no watched alarm raised)")
        )
      }))
    return yield* Effect.never
  })
