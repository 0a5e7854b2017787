/**
 * Rules that raise and clear alarms from a device's readings, evaluated inside the device's
 * aggregator actor (in log order, so a replay raises the same alarms at the same event
 * times). The seeds' Flux task raised `refuel` when fuel < 500; here that is a threshold
 * rule with hysteresis (clear only above 550) and a minimum duration, so a value hovering
 * at the limit does not make the alarm flap.
 *
 * - threshold: raise when the metric is below `below` (or above `above`) continuously for
 *   `for` ms of event time; clear when it is above `clearAbove` (or below `clearBelow`),
 *   which defaults to the raise limit itself.
 * - rate: raise when the metric changes faster than `maxPerMinute` (absolute) between two
 *   consecutive readings; clear when a later change is within it.
 * - stale: raise when the watermark passes the device's last reading by `after` ms; clear
 *   on its next reading.
 */

export type RuleSpec =
  | {
    readonly kind: "threshold"
    readonly name: string
    readonly metric: string
    readonly below?: number | undefined
    readonly above?: number | undefined
    readonly clearAbove?: number | undefined
    readonly clearBelow?: number | undefined
    readonly for?: number | undefined
    readonly devices?: ReadonlyArray<string> | undefined
  }
  | {
    readonly kind: "rate"
    readonly name: string
    readonly metric: string
    readonly maxPerMinute: number
    readonly devices?: ReadonlyArray<string> | undefined
  }
  | {
    readonly kind: "stale"
    readonly name: string
    readonly after: number
    readonly devices?: ReadonlyArray<string> | undefined
  }

/** An alarm raised or cleared, at an event time. */
export interface AlarmEvent {
  readonly device: string
  readonly rule: string
  readonly state: "raised" | "cleared"
  readonly value?: number
  readonly message: string
  readonly at: number
}

/** Per-rule state of one device (part of the device's checkpoint). */
export interface RuleState {
  raised: boolean
  /** Threshold: event time since which the raise condition has held. */
  since?: number | undefined
  /** Rate: the previous value and its time. Stale: the last reading's time. */
  lastValue?: number | undefined
  lastTs?: number | undefined
}

export type RulesState = Record<string, RuleState>

const appliesTo = (rule: RuleSpec, device: string) => rule.devices === undefined || rule.devices.includes(device)

const stateOf = (states: RulesState, rule: RuleSpec): RuleState => (states[rule.name] ??= { raised: false })

/** Evaluate every rule on one reading (values by metric, at event time `ts`). */
export const evaluateReading = (
  rules: ReadonlyArray<RuleSpec>,
  states: RulesState,
  device: string,
  values: Readonly<Record<string, number>>,
  ts: number
): Array<AlarmEvent> => {
  const events: Array<AlarmEvent> = []
  for (const rule of rules) {
    if (!appliesTo(rule, device)) continue
    const state = stateOf(states, rule)
    switch (rule.kind) {
      case "threshold": {
        const value = values[rule.metric]
        if (value === undefined) break
        const bad = rule.below !== undefined ? value < rule.below : rule.above !== undefined && value > rule.above
        if (!state.raised) {
          if (!bad) {
            state.since = undefined
            break
          }
          state.since ??= ts
          if (ts - state.since >= (rule.for ?? 0)) {
            state.raised = true
            state.since = undefined
            const limit = rule.below !== undefined ? `below ${rule.below}` : `above ${rule.above}`
            events.push({ device, rule: rule.name, state: "raised", value, at: ts, message: `${rule.metric} ${value} ${limit}${rule.for ? ` for ${rule.for} ms` : ""}` })
          }
        } else {
          const clear = rule.below !== undefined
            ? (rule.clearAbove !== undefined ? value > rule.clearAbove : value >= rule.below)
            : (rule.clearBelow !== undefined ? value < rule.clearBelow : value <= rule.above!)
          if (clear) {
            state.raised = false
            events.push({ device, rule: rule.name, state: "cleared", value, at: ts, message: `${rule.metric} back to ${value}` })
          }
        }
        break
      }
      case "rate": {
        const value = values[rule.metric]
        if (value === undefined) break
        if (state.lastTs !== undefined && state.lastValue !== undefined && ts > state.lastTs) {
          const perMinute = (value - state.lastValue) / (ts - state.lastTs) * 60_000
          const fast = Math.abs(perMinute) > rule.maxPerMinute
          if (fast && !state.raised) {
            state.raised = true
            events.push({ device, rule: rule.name, state: "raised", value, at: ts, message: `${rule.metric} changing ${perMinute.toFixed(2)}/min (limit ${rule.maxPerMinute})` })
          } else if (!fast && state.raised) {
            state.raised = false
            events.push({ device, rule: rule.name, state: "cleared", value, at: ts, message: `${rule.metric} changing ${perMinute.toFixed(2)}/min` })
          }
        }
        if (state.lastTs === undefined || ts >= state.lastTs) {
          state.lastValue = value
          state.lastTs = ts
        }
        break
      }
      case "stale": {
        if (state.lastTs === undefined || ts > state.lastTs) state.lastTs = ts
        if (state.raised) {
          state.raised = false
          events.push({ device, rule: rule.name, state: "cleared", at: ts, message: "readings resumed" })
        }
        break
      }
    }
  }
  return events
}

/** Evaluate time-driven rules (stale) as the watermark advances. */
export const evaluateWatermark = (
  rules: ReadonlyArray<RuleSpec>,
  states: RulesState,
  device: string,
  watermark: number
): Array<AlarmEvent> => {
  const events: Array<AlarmEvent> = []
  for (const rule of rules) {
    if (rule.kind !== "stale" || !appliesTo(rule, device)) continue
    const state = stateOf(states, rule)
    if (!state.raised && state.lastTs !== undefined && watermark - state.lastTs > rule.after) {
      state.raised = true
      events.push({ device, rule: rule.name, state: "raised", at: state.lastTs + rule.after, message: `no reading for more than ${rule.after} ms` })
    }
  }
  return events
}

/** The earliest watermark at which a stale rule could fire for this device (Infinity: none). */
export const nextStaleDue = (rules: ReadonlyArray<RuleSpec>, states: RulesState): number => {
  let due = Number.POSITIVE_INFINITY
  for (const rule of rules) {
    if (rule.kind !== "stale") continue
    const state = states[rule.name]
    if (state !== undefined && !state.raised && state.lastTs !== undefined) due = Math.min(due, state.lastTs + rule.after)
  }
  return due
}

/** The alarms currently raised. */
export const activeAlarms = (states: RulesState): Array<string> =>
  Object.entries(states).filter(([, s]) => s.raised).map(([name]) => name)
