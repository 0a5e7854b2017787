/**
 * The device aggregator actor: one per device, keyed by device id within a partition,
 * holding that device's window state. It restores its state from the device's checkpoint
 * when it starts (first reading, or after passivation), skips readings its checkpoint
 * already covers (a replay after a crash), emits closed windows, and hands out snapshots
 * for the partition's checkpoints. Idle devices are passivated once their state is in the
 * checkpoint (the partition says which, `mayPassivate`): usually long before, as the
 * partition checkpoints far more often than a device can be idle for — but not while a
 * database outage holds checkpoints back.
 */
import { type Actor, Entities, type Supervisor } from "@bramble/runtime"
import type { Reading, WindowResult } from "@bramble/protocol"
import { type Cause, Deferred, Effect, type Scope } from "effect"
import { createHash } from "node:crypto"
import { DeviceWindows, type DeviceSnapshot } from "./DeviceWindows.js"
import { holtUpdate, type HoltState } from "./Forecast.js"
import { activeAlarms, type AlarmEvent, DEFAULT_SEVERITY, evaluateReading, evaluateWatermark, type ExprInputs, nextStaleDue, type RuleSpec, type RulesState } from "./Rules.js"
import type { WindowSpec } from "./WindowSpec.js"

/** One reading for a device, with its stream sequence and the watermark before it. */
export interface DeviceItem {
  readonly reading: Reading
  readonly seq: number
  readonly watermark: number
  /** When JetStream stored it (ms), when known: refusals report the device's clock skew. */
  readonly storedAt?: number
}

/**
 * A version of the alarm rules (docs/live-config.md). The partition worker sends the one in
 * force with every Ingest and Advance, so a device switches over exactly where its
 * partition did, however far behind its mailbox is.
 */
export interface RuleSet {
  /** The cluster file's version these rules are from. */
  readonly version: number
  readonly rules: ReadonlyArray<RuleSpec>
}

export type DeviceMessage =
  | { readonly _tag: "Ingest"; readonly items: ReadonlyArray<DeviceItem>; readonly rules?: RuleSet }
  | { readonly _tag: "Advance"; readonly watermark: number; readonly reply: Deferred.Deferred<AdvanceReply>; readonly rules?: RuleSet }
  | { readonly _tag: "Snapshot"; readonly reply: Deferred.Deferred<DeviceSnapshot> }
  | { readonly _tag: "Peek"; readonly reply: Deferred.Deferred<DevicePeek> }

export interface AdvanceReply {
  /** The earliest end of the windows still open (Infinity when none). */
  readonly nextEnd: number
  /** Whether any window closed (the state changed). */
  readonly changed: boolean
}

/** A live view of a device (admin and dashboard queries). */
export interface DevicePeek {
  readonly device: string
  readonly seq: number
  readonly lastReading: Reading | undefined
  readonly openWindows: ReadonlyArray<WindowResult>
  /** Names of the rules whose alarm is raised. */
  readonly activeAlarms: ReadonlyArray<string>
  /** Latest forecasts, by `sensor/metric/window`. */
  readonly forecasts: ReadonlyArray<Forecast>
}

/** The predicted mean of a device metric's next window (Holt's linear trend). */
export interface Forecast {
  readonly device: string
  readonly sensor: string
  readonly metric: string
  readonly window: string
  /** Start of the window being predicted. */
  readonly start: number
  readonly mean: number
  /** Closed windows the prediction is based on. */
  readonly basedOn: number
}

/** What a device checkpoint holds besides its windows. */
export interface DeviceExtras {
  readonly rules?: RulesState
  readonly holt?: Record<string, HoltState>
  /** Expr rules: the latest value of each metric and its event time. */
  readonly latest?: Record<string, readonly [number, number]>
  /** The definition (`ruleDigest`) each rule's state in `rules` was built under. */
  readonly ruleDigests?: Record<string, string>
}

// A node holds one of these per active device, so the parts most devices never
// use (rule state without rules, forecasts before a window closes) are left out
// until they are needed.
interface DeviceState {
  readonly windows: DeviceWindows
  lastReading: Reading | undefined
  /** `noRules` while no rule is configured (nothing writes to it then). */
  rules: RulesState
  /** The rules in force for this device (the options' until a message brings others). */
  active: ReadonlyArray<RuleSpec> | undefined
  /** The definition each rule's state was built under (see `switchRules`). */
  ruleDigests: Readonly<Record<string, string>> | undefined
  holt: Record<string, HoltState> | undefined
  /** The latest forecast per sensor, metric and window, in order of first forecast. */
  forecasts: Array<Forecast> | undefined
  /** Expr rules only: what they read (see `LatestValues`). */
  exprInputs: LatestValues | undefined
}

/**
 * The latest value of each metric of a device by event time (a late reading does not
 * replace a newer value), and window statistics from its windows: what expr rules read.
 * Checkpointed with the device.
 */
class LatestValues implements ExprInputs {
  // No prototype: metric names are keys as they are (`__proto__` included).
  readonly latest: Record<string, number> = Object.create(null) as Record<string, number>
  private readonly at: Record<string, number> = Object.create(null) as Record<string, number>

  constructor(private readonly windows: DeviceWindows, saved: Record<string, readonly [number, number]> | undefined) {
    for (const metric in saved) {
      this.latest[metric] = saved[metric]![0]
      this.at[metric] = saved[metric]![1]
    }
  }

  update(values: Readonly<Record<string, number>>, ts: number): void {
    for (const metric in values) {
      const at = this.at[metric]
      if (at === undefined || ts >= at) {
        this.latest[metric] = values[metric]!
        this.at[metric] = ts
      }
    }
  }

  stat(stat: string, window: string, metric: string, ts: number): number | undefined {
    return this.windows.statAt(stat, window, metric, ts)
  }

  snapshot(): Record<string, readonly [number, number]> {
    const saved: Record<string, readonly [number, number]> = {}
    for (const metric in this.latest) saved[metric] = [this.latest[metric]!, this.at[metric]!]
    return saved
  }
}

const noRules: RulesState = Object.freeze({}) as RulesState

export interface DeviceAggregatorsOptions {
  readonly partition: number
  readonly windows: ReadonlyArray<WindowSpec>
  /** How long after the watermark passes a window's end it still accepts late readings. */
  readonly allowedLatenessMs?: number
  /** Passivate a device after this long without messages. */
  readonly passivateAfterMs: number
  /** Whether an idle device may be passivated now (default: always): not while its state is
   * ahead of its checkpoint (cluster/src/partition/UnsavedDevices.ts). */
  readonly mayPassivate?: (device: string) => boolean
  /** A device actor crashed on a message (its supervisor restarts it from its checkpoint,
   * which may be older than the readings it had taken: the partition must replay). */
  readonly onCrash?: (device: string, cause: Cause.Cause<unknown>) => Effect.Effect<void>
  readonly capacity?: number
  readonly supervisor?: Supervisor.Supervisor
  /** The device's last checkpoint, if any. */
  readonly restore: (device: string) => Effect.Effect<DeviceSnapshot | undefined, unknown>
  /** Closed windows go here (storage and AGGREGATES); suspends for backpressure. */
  readonly emit: (results: ReadonlyArray<WindowResult>) => Effect.Effect<void>
  /** A reading too late for every window it belongs to. */
  readonly tooLate: (reading: Reading, seq: number, watermark: number, storedAt: number | undefined) => Effect.Effect<void>
  /** How many readings of an Ingest were duplicates, not counted again (when any were). */
  readonly duplicates?: (count: number) => Effect.Effect<void>
  /** Alarm rules evaluated on every reading (and on the watermark, for stale devices). */
  readonly rules?: ReadonlyArray<RuleSpec>
  /** Alarms raised or cleared go here (ALARMS, MQTT, database). */
  readonly alarm?: (events: ReadonlyArray<AlarmEvent>) => Effect.Effect<void>
  /** Forecasts of the next window go here, one per first emission of a window. */
  readonly forecast?: (forecasts: ReadonlyArray<Forecast>) => Effect.Effect<void>
}

/** The device actors of one partition. */
export const makeDeviceAggregators = (options: DeviceAggregatorsOptions): Effect.Effect<Entities.Entities<DeviceMessage>, never, Scope.Scope> =>
  Entities.make<DeviceMessage, DeviceState, unknown>(`aggregators-p${options.partition}`, {
    kind: "aggregator",
    maxIdleTime: options.passivateAfterMs,
    mayPassivate: options.mayPassivate,
    onCrash: options.onCrash === undefined ? undefined : (device, _message, cause) => options.onCrash!(device, cause),
    capacity: options.capacity ?? 256,
    ...(options.supervisor === undefined ? {} : { supervisor: options.supervisor }),
    behaviour: (device) => new DeviceBehaviour(device, options)
  })

/**
 * One device's behaviour. A class rather than an object of closures: a node keeps one per
 * active device, and this is two fields; `init` builds its restore effect only when an
 * incarnation starts.
 */
class DeviceBehaviour implements Actor.Behaviour<DeviceMessage, DeviceState, unknown> {
  constructor(readonly device: string, readonly options: DeviceAggregatorsOptions) {}

  get init(): Effect.Effect<DeviceState, unknown> {
    const { device, options } = this
    return Effect.map(options.restore(device), (snapshot) => {
      const extras = (snapshot ?? {}) as DeviceExtras
      const windows = snapshot === undefined
        ? new DeviceWindows(device, options.windows, options.allowedLatenessMs ?? 0)
        : DeviceWindows.fromSnapshot(device, options.windows, snapshot, options.allowedLatenessMs ?? 0)
      return {
        windows,
        lastReading: undefined,
        rules: extras.rules !== undefined ? structuredClone(extras.rules) : options.rules === undefined ? noRules : {},
        active: options.rules,
        ruleDigests: extras.ruleDigests === undefined ? undefined : { ...extras.ruleDigests },
        holt: extras.holt === undefined ? undefined : structuredClone(extras.holt),
        forecasts: undefined,
        exprInputs: options.rules?.some((r) => r.kind === "expr") || extras.latest !== undefined ? new LatestValues(windows, extras.latest) : undefined
      } satisfies DeviceState
    })
  }

  receive(state: DeviceState, message: DeviceMessage): Effect.Effect<DeviceState> {
    const { device, options } = this
    switch (message._tag) {
      case "Ingest":
        return Effect.andThen(switchRules(state, device, message.rules, message.items[0]?.reading.ts, options), ingest(state, message.items, options))
      case "Advance":
        return Effect.gen(function*() {
          yield* switchRules(state, device, message.rules, message.watermark, options)
          const closed = yield* emitClosed(state, message.watermark, options)
          const rules = state.active
          const stale = rules === undefined ? [] : evaluateWatermark(rules, state.rules, device, message.watermark)
          if (stale.length > 0 && options.alarm) yield* options.alarm(stale)
          yield* Deferred.succeed(message.reply, {
            nextEnd: Math.min(state.windows.nextEnd, rules === undefined ? Number.POSITIVE_INFINITY : nextStaleDue(rules, state.rules)),
            changed: closed > 0 || stale.length > 0
          })
          return state
        })
      case "Snapshot":
        return Effect.as(
          Deferred.succeed(message.reply, {
            ...state.windows.snapshot(),
            rules: structuredClone(state.rules),
            ...(state.ruleDigests === undefined ? {} : { ruleDigests: digestsWithState(state) }),
            holt: state.holt === undefined ? {} : structuredClone(state.holt),
            ...(state.exprInputs === undefined ? {} : { latest: state.exprInputs.snapshot() })
          } as DeviceSnapshot),
          state
        )
      case "Peek":
        return Effect.as(
          Deferred.succeed(message.reply, {
            device,
            seq: state.windows.seq,
            lastReading: state.lastReading,
            openWindows: state.windows.peek(),
            activeAlarms: activeAlarms(state.rules),
            forecasts: state.forecasts === undefined ? [] : [...state.forecasts]
          }),
          state
        )
    }
  }
}

const ingest = (state: DeviceState, items: ReadonlyArray<DeviceItem>, options: DeviceAggregatorsOptions) =>
  Effect.gen(function*() {
    let watermark = Number.NEGATIVE_INFINITY
    let duplicates = 0
    const alarms: Array<AlarmEvent> = []
    // The sequence applied before this call: a batch record's readings share their message's
    // sequence, and all of them come in one call (checkpoints fall between calls).
    const appliedSeq = state.windows.seq
    for (const item of items) {
      // Already in the restored checkpoint: this is a replay after a crash or a move.
      if (item.seq <= appliedSeq) continue
      if (item.watermark > watermark) watermark = item.watermark
      const applied = state.windows.apply(item.reading, item.seq, item.watermark)
      if (applied === "duplicate") {
        // Counted already (a retransmission): it changes nothing, rules included.
        duplicates += 1
        continue
      }
      if (applied === "tooLate") yield* options.tooLate(item.reading, item.seq, item.watermark, item.storedAt)
      if (state.active !== undefined) {
        state.exprInputs?.update(item.reading.values, item.reading.ts)
        for (const e of evaluateReading(state.active, state.rules, item.reading.device, item.reading.values, item.reading.ts, state.exprInputs)) alarms.push(e)
      }
      state.lastReading = item.reading
    }
    if (duplicates > 0 && options.duplicates) yield* options.duplicates(duplicates)
    if (alarms.length > 0 && options.alarm) yield* options.alarm(alarms)
    yield* emitClosed(state, watermark, options)
    return state
  })

/**
 * What identifies a rule's definition: its fields as JSON (an expr rule's compiled predicate
 * by its text, metrics and statistics; the function is left out by JSON itself). A rule whose
 * digest changed between versions starts with fresh state.
 */
export const ruleDigest = (rule: RuleSpec): string => createHash("sha256").update(JSON.stringify(rule)).digest("base64url").slice(0, 16)

// The digests of a rule set, computed once per set (not once per device).
const digestsOf = new WeakMap<ReadonlyArray<RuleSpec>, Readonly<Record<string, string>>>()
const digestsFor = (rules: ReadonlyArray<RuleSpec>): Readonly<Record<string, string>> => {
  let digests = digestsOf.get(rules)
  if (digests === undefined) {
    const computed: Record<string, string> = {}
    for (const rule of rules) computed[rule.name] = ruleDigest(rule)
    digestsOf.set(rules, digests = computed)
  }
  return digests
}

/**
 * Switch a device to `next` (when it differs from the rules in force), at event time `at`
 * (the first reading it applies to, or the watermark): a rule no longer there clears its
 * raised alarm (`rule removed`) and its state goes; a rule whose definition changed clears
 * its raised alarm (`rule changed`) and starts fresh; an unchanged rule keeps its state
 * (raised alarms, `for` timers, notification times). State restored from a checkpoint
 * without digests (written before versions existed) counts as built under `next`.
 */
const switchRules = (
  state: DeviceState,
  device: string,
  next: RuleSet | undefined,
  at: number | undefined,
  options: DeviceAggregatorsOptions
): Effect.Effect<void> => {
  if (next === undefined || next.rules === state.active) return Effect.void
  const digests = digestsFor(next.rules)
  const before = state.ruleDigests
  const events: Array<AlarmEvent> = []
  if (state.rules === noRules && next.rules.length > 0) state.rules = {}
  for (const name of Object.keys(state.rules)) {
    const digest = digests[name]
    const same = digest !== undefined && (before === undefined || before[name] === undefined || before[name] === digest)
    if (same) continue
    const ruleState = state.rules[name]!
    if (ruleState.raised) {
      const old = state.active?.find((r) => r.name === name)
      events.push({
        device,
        rule: name,
        state: "cleared",
        severity: old?.severity ?? DEFAULT_SEVERITY,
        at: at !== undefined && Number.isFinite(at) ? at : 0,
        message: digest === undefined ? `cleared: rule removed in version ${next.version}` : `cleared: rule changed in version ${next.version}`
      })
    }
    delete state.rules[name]
  }
  state.active = next.rules
  state.ruleDigests = digests
  if (state.exprInputs === undefined && next.rules.some((r) => r.kind === "expr")) state.exprInputs = new LatestValues(state.windows, undefined)
  return events.length > 0 && options.alarm ? options.alarm(events) : Effect.void
}

/** The digests of the rules that have state: all a checkpoint needs to compare with later. */
const digestsWithState = (state: DeviceState): Record<string, string> => {
  const saved: Record<string, string> = {}
  for (const name in state.rules) {
    const digest = state.ruleDigests?.[name]
    if (digest !== undefined) saved[name] = digest
  }
  return saved
}

/** Emit windows due at `watermark`, and forecast the next window from each first emission. */
const emitClosed = (state: DeviceState, watermark: number, options: DeviceAggregatorsOptions) =>
  Effect.gen(function*() {
    const first: Array<WindowResult> = []
    const closed = state.windows.close(watermark, first)
    if (closed.length > 0) yield* options.emit(closed)
    if (first.length > 0) {
      const forecasts: Array<Forecast> = []
      for (const r of first) {
        const k = `${r.sensor}/${r.metric}/${r.window}`
        const holts = state.holt ??= {}
        const { state: holt, next } = holtUpdate(holts[k], r.mean)
        holts[k] = holt
        const f: Forecast = { device: r.device, sensor: r.sensor, metric: r.metric, window: r.window, start: r.end, mean: next, basedOn: holt.count }
        setForecast(state.forecasts ??= [], f)
        forecasts.push(f)
      }
      if (options.forecast) yield* options.forecast(forecasts)
    }
    return closed.length
  })

// A device has a forecast per sensor metric and window spec, a handful: a scan of a small
// array costs less memory than a map with string keys.
const setForecast = (forecasts: Array<Forecast>, f: Forecast) => {
  const i = forecasts.findIndex((g) => g.sensor === f.sensor && g.metric === f.metric && g.window === f.window)
  if (i < 0) forecasts.push(f)
  else forecasts[i] = f
}
