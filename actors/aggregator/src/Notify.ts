/**
 * Notification de-duplication of a flapping alarm (a rule's `notifyEvery`): which alarm
 * events forward targets send. Every event still goes to ALARMS, MQTT, the database and the
 * actuators; an event marked `notify: false` is one a forwarder leaves out.
 *
 * Decided here, in the device's aggregator, in event time and in log order, with its state
 * in the device's checkpoint: every node and every replay decides the same, and a restart or
 * a partition move forgets nothing (a forwarder, load-balanced over the nodes, could not).
 *
 * With `notifyEvery: D`, a raise is notified at most once per D of event time:
 * - a raise less than D after the last notified raise is held back (`notify: false`);
 * - a clear less than D after the last notified raise is held back too (the receiver keeps
 *   believing it raised, the safe side of a flap);
 * - once the watermark is D past the last notified raise, if what the receiver was last
 *   told differs from the alarm's state, one event says the state as it is now (`notify:
 *   true`, at that time): the receiver never stays wrong for longer than D.
 * So a receiver gets at most one raise and one clear per D, and always ends with the truth.
 */
import type { AlarmEvent, RuleState } from "./Rules.js"

/** What notification de-duplication keeps in a rule's state. */
export interface NotifyState {
  /** What forward targets were last told (absent: nothing, i.e. cleared). */
  notified?: "raised" | "cleared" | undefined
  /** Event time of the last notified raise. */
  notifiedAt?: number | undefined
}

/** Mark `event` (just raised or cleared by its rule) as notified or held back. */
export const decideNotify = (every: number | undefined, state: RuleState & NotifyState, event: AlarmEvent): AlarmEvent => {
  if (every === undefined || every <= 0) return event
  const told = state.notified ?? "cleared"
  const quiet = state.notifiedAt !== undefined && event.at - state.notifiedAt < every
  if (event.state === "raised") {
    if (told === "raised" || quiet) return { ...event, notify: false }
    state.notified = "raised"
    state.notifiedAt = event.at
    return event
  }
  if (told !== "raised" || quiet) return { ...event, notify: false }
  state.notified = "cleared"
  return event
}

/** When the held-back state of this rule is due to be told (Infinity: nothing held back). */
export const notifyDue = (every: number | undefined, state: RuleState & NotifyState): number => {
  if (every === undefined || every <= 0 || state.notifiedAt === undefined) return Number.POSITIVE_INFINITY
  const told = state.notified ?? "cleared"
  return (told === "raised") === state.raised ? Number.POSITIVE_INFINITY : state.notifiedAt + every
}

/**
 * At watermark `watermark`: the event that tells the receiver the alarm's state, when a
 * held-back change is due (undefined otherwise).
 */
export const dueNotification = (
  every: number | undefined,
  state: RuleState & NotifyState,
  watermark: number,
  base: Pick<AlarmEvent, "device" | "rule" | "severity">
): AlarmEvent | undefined => {
  const due = notifyDue(every, state)
  if (watermark < due) return undefined
  const now: "raised" | "cleared" = state.raised ? "raised" : "cleared"
  state.notified = now
  if (now === "raised") state.notifiedAt = due
  return {
    ...base,
    state: now,
    at: due,
    message: `${now} (changes within ${every} ms of the last notification were held back: the alarm flapped)`
  }
}
