/**
 * Which alarms drive an actuator, and whether it should be on: the pure part of the
 * actuator actor. An actuator is on while any alarm it watches is raised and off once all of
 * them are cleared. An alarm is identified by its subject, (device, rule); its state is that
 * of its latest event, and an event older (by `at`) than one already seen for the same alarm
 * is ignored, so a replayed or late copy cannot undo a newer state.
 */
import type { Alarm } from "@bramble/protocol"
import { Subjects } from "@bramble/protocol"

/** Alarms of `rule` (any rule name, e.g. `refuel`, `sensor-fault`), of one device or of all. */
export interface AlarmMatcher {
  readonly rule: string
  /** Only this device's alarm; every device's when absent. */
  readonly device?: string
}

/** Whether `alarm` is one of those `matcher` watches. */
export const matches = (matcher: AlarmMatcher, alarm: Pick<Alarm, "device" | "rule">): boolean =>
  matcher.rule === alarm.rule && (matcher.device === undefined || matcher.device === alarm.device)

/** The ALARMS subjects to subscribe to for these matchers (`alarms.<device|*>.<rule>`). */
export const alarmFilters = (matchers: ReadonlyArray<AlarmMatcher>): ReadonlyArray<string> =>
  [...new Set(matchers.map((m) => Subjects.alarmsSubject(m.device ?? "*", m.rule)))]

/** The alarms an actuator watches and which of them are raised. */
export class AlarmSet {
  private readonly latest = new Map<string, { readonly raised: boolean; readonly at: number }>()

  constructor(readonly matchers: ReadonlyArray<AlarmMatcher>) {}

  /** Takes one event into account; returns true when it changed whether the actuator is on. */
  apply(alarm: Alarm): boolean {
    if (!this.matchers.some((m) => matches(m, alarm))) return false
    const key = `${alarm.device}.${alarm.rule}`
    const previous = this.latest.get(key)
    if (previous !== undefined && alarm.at < previous.at) return false
    const before = this.on
    this.latest.set(key, { raised: alarm.state === "raised", at: alarm.at })
    return this.on !== before
  }

  /** Whether any watched alarm is raised. */
  get on(): boolean {
    for (const state of this.latest.values()) if (state.raised) return true
    return false
  }

  /** The raised alarms, as `device.rule`. */
  get raised(): ReadonlyArray<string> {
    return [...this.latest].filter(([, s]) => s.raised).map(([key]) => key).sort()
  }
}
