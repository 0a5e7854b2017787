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
 * - expr: raise when a compiled expression (packages/config RuleExpression.ts) over the
 *   device's latest value of each metric and its open windows' statistics is true
 *   continuously for `for` ms; clear when `clearWhen` is true (by default: when `when` is
 *   false). Evaluated on the readings that carry a metric the rule names, once every metric it
 *   names has a value; a window statistic is that of the window holding the reading's time.
 *
 * Every alarm event carries its rule's severity (`warning` unless the rule says otherwise).
 * A rule's `notifyEvery` holds back a flapping alarm's events from forward targets
 * (Notify.ts).
 */
import { decideNotify, dueNotification, notifyDue, type NotifyState } from "./Notify.js"

export type Severity = "info" | "warning" | "critical"
export const DEFAULT_SEVERITY: Severity = "warning"

/** A compiled expression (structurally, `CompiledExpression` of @bramble/config). */
export interface Predicate {
  readonly text: string
  readonly metrics: ReadonlyArray<string>
  readonly stats: ReadonlyArray<{ readonly key: string; readonly stat: string; readonly window: string; readonly metric: string }>
  readonly evaluate: (inputs: Readonly<Record<string, number>>) => boolean
}

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
    readonly severity?: Severity | undefined
    readonly notifyEvery?: number | undefined
    readonly devices?: ReadonlyArray<string> | undefined
  }
  | {
    readonly kind: "rate"
    readonly name: string
    readonly metric: string
    readonly maxPerMinute: number
    readonly severity?: Severity | undefined
    readonly notifyEvery?: number | undefined
    readonly devices?: ReadonlyArray<string> | undefined
  }
  | {
    readonly kind: "stale"
    readonly name: string
    readonly after: number
    readonly severity?: Severity | undefined
    readonly notifyEvery?: number | undefined
    readonly devices?: ReadonlyArray<string> | undefined
  }
  | {
    readonly kind: "expr"
    readonly name: string
    readonly when: Predicate
    readonly clearWhen?: Predicate | undefined
    readonly for?: number | undefined
    readonly severity?: Severity | undefined
    readonly notifyEvery?: number | undefined
    readonly devices?: ReadonlyArray<string> | undefined
  }

/**
 * What expr rules read: the device's latest value of each metric (this reading's included),
 * and a window statistic at an event time (undefined when no open window holds it).
 */
export interface ExprInputs {
  readonly latest: Readonly<Record<string, number>>
  readonly stat: (stat: string, window: string, metric: string, ts: number) => number | undefined
}

/** An alarm raised or cleared, at an event time. */
export interface AlarmEvent {
  readonly device: string
  readonly rule: string
  readonly state: "raised" | "cleared"
  readonly severity: Severity
  /** false: held back from forward targets (the rule's `notifyEvery`, Notify.ts). */
  readonly notify?: boolean
  readonly value?: number
  readonly message: string
  readonly at: number
}

/** Per-rule state of one device (part of the device's checkpoint). */
export interface RuleState extends NotifyState {
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
  ts: number,
  inputs?: ExprInputs
): Array<AlarmEvent> => {
  const events: Array<AlarmEvent> = []
  for (const rule of rules) {
    if (!appliesTo(rule, device)) continue
    const state = stateOf(states, rule)
    const first = events.length
    evaluateRule(rule, state, device, values, ts, inputs, events)
    for (let i = first; i < events.length; i++) events[i] = decideNotify(rule.notifyEvery, state, events[i]!)
  }
  return events
}

/**
 * A threshold or expression rule's `for`: whether a condition that holds (or not) at `ts`
 * has now held for `forMs` without a break, so the rule is raised (and `state` says so).
 */
const raisedAfterFor = (state: RuleState, holds: boolean, ts: number, forMs: number | undefined): boolean => {
  if (!holds) {
    state.since = undefined
    return false
  }
  state.since ??= ts
  if (ts - state.since < (forMs ?? 0)) return false
  state.raised = true
  state.since = undefined
  return true
}

const evaluateRule = (
  rule: RuleSpec,
  state: RuleState,
  device: string,
  values: Readonly<Record<string, number>>,
  ts: number,
  inputs: ExprInputs | undefined,
  events: Array<AlarmEvent>
): void => {
  {
    switch (rule.kind) {
      case "threshold": {
        const value = values[rule.metric]
        if (value === undefined) break
        const bad = rule.below !== undefined ? value < rule.below : rule.above !== undefined && value > rule.above
        if (!state.raised) {
          if (raisedAfterFor(state, bad, ts, rule.for)) {
            const limit = rule.below !== undefined ? `below ${rule.below}` : `above ${rule.above}`
            events.push({ device, rule: rule.name, severity: rule.severity ?? DEFAULT_SEVERITY, state: "raised", value, at: ts, message: `${rule.metric} ${value} ${limit}${rule.for ? ` for ${rule.for} ms` : ""}` })
          }
        } else {
          const clear = rule.below !== undefined
            ? (rule.clearAbove !== undefined ? value > rule.clearAbove : value >= rule.below)
            : (rule.clearBelow !== undefined ? value < rule.clearBelow : value <= rule.above!)
          if (clear) {
            state.raised = false
            events.push({ device, rule: rule.name, severity: rule.severity ?? DEFAULT_SEVERITY, state: "cleared", value, at: ts, message: `${rule.metric} back to ${value}` })
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
            events.push({ device, rule: rule.name, severity: rule.severity ?? DEFAULT_SEVERITY, state: "raised", value, at: ts, message: `${rule.metric} changing ${perMinute.toFixed(2)}/min (limit ${rule.maxPerMinute})` })
          } else if (!fast && state.raised) {
            state.raised = false
            events.push({ device, rule: rule.name, severity: rule.severity ?? DEFAULT_SEVERITY, state: "cleared", value, at: ts, message: `${rule.metric} changing ${perMinute.toFixed(2)}/min` })
          }
        }
        if (state.lastTs === undefined || ts >= state.lastTs) {
          state.lastValue = value
          state.lastTs = ts
        }
        break
      }
      case "expr": {
        if (inputs === undefined || !names(rule.when, values) && (rule.clearWhen === undefined || !names(rule.clearWhen, values))) break
        if (!state.raised) {
          const holds = holdsAt(rule.when, inputs, ts)
          if (holds === undefined) break
          if (raisedAfterFor(state, holds, ts, rule.for)) {
            events.push({ device, rule: rule.name, severity: rule.severity ?? DEFAULT_SEVERITY, state: "raised", at: ts, message: `${rule.when.text}${rule.for ? ` for ${rule.for} ms` : ""} (${describe(rule.when, inputs)})` })
          }
        } else {
          const clear = rule.clearWhen === undefined ? negate(holdsAt(rule.when, inputs, ts)) : holdsAt(rule.clearWhen, inputs, ts)
          if (clear === true) {
            state.raised = false
            const why = rule.clearWhen ?? rule.when
            events.push({ device, rule: rule.name, severity: rule.severity ?? DEFAULT_SEVERITY, state: "cleared", at: ts, message: `${rule.clearWhen === undefined ? `no longer ${rule.when.text}` : rule.clearWhen.text} (${describe(why, inputs)})` })
          }
        }
        break
      }
      case "stale": {
        if (state.lastTs === undefined || ts > state.lastTs) state.lastTs = ts
        if (state.raised) {
          state.raised = false
          events.push({ device, rule: rule.name, severity: rule.severity ?? DEFAULT_SEVERITY, state: "cleared", at: ts, message: "readings resumed" })
        }
        break
      }
    }
  }
}

/** Whether a reading carries a metric the expression names (directly or in a window function). */
const names = (p: Predicate, values: Readonly<Record<string, number>>): boolean => {
  for (const m of p.metrics) if (values[m] !== undefined) return true
  for (const s of p.stats) if (values[s.metric] !== undefined) return true
  return false
}

const negate = (b: boolean | undefined) => b === undefined ? undefined : !b

// The inputs object handed to CEL: the latest values, with the window statistics the
// expression names written in under their keys. One per call site, reused (no allocation
// per reading); evaluation is synchronous, so it is never shared by two evaluations. No
// prototype: a metric named like an Object.prototype property (`__proto__`) is a plain key.
const scratch: Record<string, number> = Object.create(null) as Record<string, number>

/**
 * The expression's value at event time `ts`; undefined while a metric or window statistic
 * it names has no value yet for this device, or when CEL fails at run time (an integer
 * division by zero written into the expression: arithmetic on metrics is in doubles).
 */
const holdsAt = (p: Predicate, inputs: ExprInputs, ts: number): boolean | undefined => {
  for (const m of p.metrics) {
    const v = inputs.latest[m]
    if (v === undefined) return undefined
    scratch[m] = v
  }
  for (const s of p.stats) {
    const v = inputs.stat(s.stat, s.window, s.metric, ts)
    if (v === undefined) return undefined
    scratch[s.key] = v
  }
  try {
    return p.evaluate(scratch)
  } catch {
    return undefined
  }
}

/** `temperature=31, mean_10m(temperature)=30.2`: the values an event was decided on (from the last `holdsAt`). */
const describe = (p: Predicate, _inputs: ExprInputs): string =>
  [...p.metrics, ...p.stats.map((s) => s.key)].map((k) => `${k}=${round(scratch[k]!)}`).join(", ")

const round = (v: number) => Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000)

/**
 * Evaluate time-driven rules as the watermark advances: stale rules, and the held-back
 * notifications of flapping alarms that are due (Notify.ts).
 */
export const evaluateWatermark = (
  rules: ReadonlyArray<RuleSpec>,
  states: RulesState,
  device: string,
  watermark: number
): Array<AlarmEvent> => {
  const events: Array<AlarmEvent> = []
  for (const rule of rules) {
    if (!appliesTo(rule, device)) continue
    if (rule.kind === "stale") {
      const state = stateOf(states, rule)
      if (!state.raised && state.lastTs !== undefined && watermark - state.lastTs > rule.after) {
        state.raised = true
        events.push(decideNotify(rule.notifyEvery, state, {
          device,
          rule: rule.name,
          severity: rule.severity ?? DEFAULT_SEVERITY,
          state: "raised",
          at: state.lastTs + rule.after,
          message: `no reading for more than ${rule.after} ms`
        }))
      }
    }
    const state = states[rule.name]
    if (state === undefined) continue
    const due = dueNotification(rule.notifyEvery, state, watermark, { device, rule: rule.name, severity: rule.severity ?? DEFAULT_SEVERITY })
    if (due !== undefined) events.push(due)
  }
  return events
}

/**
 * The earliest watermark at which `evaluateWatermark` has something to do for this device
 * (a stale rule could fire, a held-back notification is due); Infinity: never.
 */
export const nextStaleDue = (rules: ReadonlyArray<RuleSpec>, states: RulesState): number => {
  let due = Number.POSITIVE_INFINITY
  for (const rule of rules) {
    const state = states[rule.name]
    if (state === undefined) continue
    if (rule.kind === "stale" && !state.raised && state.lastTs !== undefined) due = Math.min(due, state.lastTs + rule.after)
    due = Math.min(due, notifyDue(rule.notifyEvery, state))
  }
  return due
}

/** The alarms currently raised. */
export const activeAlarms = (states: RulesState): Array<string> =>
  Object.entries(states).filter(([, s]) => s.raised).map(([name]) => name)
