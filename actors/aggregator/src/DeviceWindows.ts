/**
 * The window state of one device: its open windows for every sensor, metric and window
 * spec, and the stream position the state covers. Pure and synchronous, so the device
 * actor stays a thin shell and the arithmetic can be property-tested.
 *
 * Event time and lateness: the partition's watermark W is the largest event time seen in
 * the partition minus a small out-of-orderness delay (advanced further while the partition
 * is idle). A window [start, end) is emitted when W ≥ end. It is kept for the allowed
 * lateness L after that: a reading for it that arrives while W < end + L updates it, and the
 * corrected result is emitted again (same key, so the database overwrites). Once W ≥ end + L
 * the window is retired; a reading for a retired window is too late and is refused
 * (dead-lettered by the caller), never silently dropped.
 *
 * Duplicates: a value of a metric at an event time already counted for the same sensor (an
 * MQTT QoS 1 retransmission after a lost PUBACK, a replayed outbox) is not counted again —
 * the same key under which InfluxDB overwrites the raw point. The first value counts. The
 * event times counted are kept per sensor while any window they belong to can still change
 * (`SeenTimes`), and checkpointed with the windows, so a duplicate that arrives after a
 * restart is recognised too.
 */
import type { Reading, WindowResult } from "@bramble/protocol"
import { addValue, mean, stddev, type Stats } from "./Stats.js"
import { oldestWindowStart, type WindowSpec } from "./WindowSpec.js"

/**
 * One open window of one sensor metric. The running statistics are fields of the window
 * itself (it is a `Stats`), not a separate object: a node keeps a few of these per device.
 */
class OpenWindow implements Stats {
  count: number
  sum: number
  wMean: number
  m2: number
  min: number
  max: number
  first: number
  firstTs: number
  last: number
  lastTs: number
  /** Emitted at least once and not changed since the last emission. */
  clean: boolean
  /** Emitted at least once (later emissions are corrections). */
  emitted: boolean

  constructor(
    readonly sensor: string,
    readonly metric: string,
    readonly window: string,
    readonly start: number,
    readonly end: number,
    stats: Stats,
    clean: boolean
  ) {
    this.count = stats.count
    this.sum = stats.sum
    this.wMean = stats.wMean
    this.m2 = stats.m2
    this.min = stats.min
    this.max = stats.max
    this.first = stats.first
    this.firstTs = stats.firstTs
    this.last = stats.last
    this.lastTs = stats.lastTs
    this.clean = clean
    this.emitted = clean
  }

  /** A window opened by its first value, observed at event time `ts`. */
  static opened(sensor: string, metric: string, window: string, start: number, end: number, value: number, ts: number): OpenWindow {
    return new OpenWindow(sensor, metric, window, start, end, {
      count: 1,
      sum: value,
      wMean: value,
      m2: 0,
      min: value,
      max: value,
      first: value,
      firstTs: ts,
      last: value,
      lastTs: ts
    }, false)
  }

  /** A copy of the statistics (same shape as `Stats.emptyStats`, for snapshots). */
  stats(): Stats {
    return {
      count: this.count,
      sum: this.sum,
      wMean: this.wMean,
      m2: this.m2,
      min: this.min,
      max: this.max,
      first: this.first,
      firstTs: this.firstTs,
      last: this.last,
      lastTs: this.lastTs
    }
  }
}

/** A serialisable snapshot of a device's windows (msgpack-friendly arrays). */
export interface DeviceSnapshot {
  /** The READINGS stream sequence of the last message applied. */
  readonly seq: number
  readonly windows: ReadonlyArray<readonly [string, string, string, number, number, Stats, boolean?]>
  /** Event times counted per sensor (see `SeenTimes`); absent in checkpoints written before. */
  readonly seen?: ReadonlyArray<SeenSnapshot>
}

/** What `apply` did with a reading. */
export type Applied =
  /** Counted in at least one window. */
  | "applied"
  /** Too late for every window it belongs to. */
  | "tooLate"
  /** Every value already counted at this event time (a duplicate). */
  | "duplicate"

/**
 * `[sensor, event times as deltas (the first absolute), metric sets, index of each time's
 * set (left out when there is one set)]`: a sensor sending every 2 s keeps a 30-minute
 * window's times in under 3 KB.
 */
export type SeenSnapshot = readonly [string, ReadonlyArray<number>, ReadonlyArray<string>, ReadonlyArray<number>?]

const METRIC_SEPARATOR = "\u0000"

/**
 * The event times of one sensor counted in windows, ascending, each with the metrics counted
 * at it (names joined by NUL, interned). Memory matters — a node keeps this for every active
 * device, over its longest window — so the times are a packed `Float64Array` (8 bytes each)
 * and the metric set is kept once while every time has the same one (the usual case: a
 * sensor sends the same metrics reading after reading).
 */
class SeenTimes {
  private times = new Float64Array(8)
  length = 0
  /** The metric set of every time, while they all share one. */
  private uniform: string | undefined = undefined
  /** Per time, once they differ. */
  private sets: Array<string> | undefined = undefined

  timeAt(i: number): number {
    return this.times[i]!
  }

  metricsAt(i: number): string {
    return this.sets === undefined ? this.uniform! : this.sets[i]!
  }

  /** Index of `ts`, or -(insertion point) - 1. Readings mostly come in order: check the end first. */
  find(ts: number): number {
    const times = this.times
    let hi = this.length - 1
    if (hi < 0 || times[hi]! < ts) return -this.length - 1
    let lo = 0
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const t = times[mid]!
      if (t < ts) lo = mid + 1
      else if (t > ts) hi = mid - 1
      else return mid
    }
    return -lo - 1
  }

  insert(i: number, ts: number, set: string): void {
    if (this.length === this.times.length) {
      const grown = new Float64Array(this.times.length * 2)
      grown.set(this.times)
      this.times = grown
    }
    if (i < this.length) this.times.copyWithin(i + 1, i, this.length)
    this.times[i] = ts
    if (this.sets === undefined && (this.length === 0 || this.uniform === set)) {
      this.uniform = set
    } else {
      this.perTime().splice(i, 0, set)
    }
    this.length += 1
  }

  setMetricsAt(i: number, set: string): void {
    if (this.sets === undefined && set === this.uniform) return
    this.perTime()[i] = set
  }

  /** Forgets the oldest times while `gone` says so (it must hold for a time if for a later one). */
  prune(gone: (ts: number) => boolean): void {
    if (this.length === 0 || !gone(this.times[0]!)) return
    let cut = 1
    while (cut < this.length && gone(this.times[cut]!)) cut++
    this.times.copyWithin(0, cut, this.length)
    this.length -= cut
    this.sets?.splice(0, cut)
    if (this.length === 0) {
      this.uniform = undefined
      this.sets = undefined
    }
    // Give back what a burst grew (a device that sent fast, then slowly).
    if (this.times.length > 64 && this.length < this.times.length / 4) this.times = this.times.slice(0, Math.max(8, this.length * 2))
  }

  private perTime(): Array<string> {
    if (this.sets === undefined) this.sets = Array.from({ length: this.length }, () => this.uniform!)
    return this.sets
  }
}

// Open windows are found by a scan while a device has few (the usual case: a handful of
// metrics and window specs) and through a map keyed by identity beyond this many.
const indexAbove = 16

export class DeviceWindows {
  /** Open windows, oldest first. */
  private open: Array<OpenWindow> = []
  private index: Map<string, OpenWindow> | undefined = undefined
  /** Event times counted, per sensor. */
  private seen = new Map<string, SeenTimes>()
  /** Metric sets, interned (see `SeenTimes`). */
  private metricSets = new Map<string, string>()
  /** The metric set of the last new reading, and its names: most readings repeat it, and
   * recognising it needs no string built on the hot path. */
  private lastSet: { readonly names: ReadonlyArray<string>; readonly set: string } | undefined = undefined
  /** Stream sequence of the last message applied to this state. */
  seq = 0

  constructor(
    readonly device: string,
    private readonly specs: ReadonlyArray<WindowSpec>,
    /** How long after its end (in watermark time) a window still accepts late readings. */
    private readonly allowedLateness = 0
  ) {}

  /** Restore from a checkpoint. */
  static fromSnapshot(device: string, specs: ReadonlyArray<WindowSpec>, snapshot: DeviceSnapshot, allowedLateness = 0): DeviceWindows {
    const state = new DeviceWindows(device, specs, allowedLateness)
    state.seq = snapshot.seq
    for (const [sensor, metric, window, start, end, stats, clean] of snapshot.windows) {
      const w = new OpenWindow(sensor, metric, window, start, end, stats, clean === true)
      const existing = state.find(sensor, metric, window, start)
      // (A snapshot names each window once; were it not so, the last would win.)
      if (existing === undefined) state.add(w)
      else state.replace(existing, w)
    }
    for (const [sensor, deltas, sets, which] of snapshot.seen ?? []) {
      const seen = new SeenTimes()
      let ts = 0
      for (let i = 0; i < deltas.length; i++) {
        ts += deltas[i]!
        seen.insert(i, ts, state.intern(sets[which === undefined ? 0 : which[i]!]!))
      }
      state.seen.set(sensor, seen)
    }
    return state
  }

  snapshot(): DeviceSnapshot {
    const seen: Array<SeenSnapshot> = []
    for (const [sensor, s] of this.seen) {
      if (s.length === 0) continue
      const deltas: Array<number> = []
      const sets: Array<string> = []
      const which: Array<number> = []
      let previous = 0
      for (let i = 0; i < s.length; i++) {
        const ts = s.timeAt(i)
        deltas.push(ts - previous)
        previous = ts
        const set = s.metricsAt(i)
        let k = sets.indexOf(set)
        if (k < 0) k = sets.push(set) - 1
        which.push(k)
      }
      seen.push(sets.length === 1 ? [sensor, deltas, sets] : [sensor, deltas, sets, which])
    }
    return {
      seq: this.seq,
      windows: this.open.map((w) => [w.sensor, w.metric, w.window, w.start, w.end, w.stats(), w.clean] as const),
      ...(seen.length === 0 ? {} : { seen })
    }
  }

  /** The interned metric set of `values`. */
  private metricSet(values: Record<string, number>): string {
    const last = this.lastSet
    if (last !== undefined) {
      let i = 0
      let same = true
      for (const metric in values) {
        if (last.names[i] !== metric) {
          same = false
          break
        }
        i++
      }
      if (same && i === last.names.length) return last.set
    }
    const names = Object.keys(values)
    const set = this.intern(names.join(METRIC_SEPARATOR))
    this.lastSet = { names, set }
    return set
  }

  private intern(set: string): string {
    const known = this.metricSets.get(set)
    if (known !== undefined) return known
    // A device whose metric names keep changing must not grow this for good.
    if (this.metricSets.size >= 256) this.metricSets.clear()
    this.metricSets.set(set, set)
    return set
  }

  get openWindows(): number {
    return this.open.length
  }

  /** The earliest watermark at which `close` has something to do (Infinity when never). */
  get nextEnd(): number {
    let next = Number.POSITIVE_INFINITY
    for (const w of this.open) {
      const due = w.clean ? w.end + this.allowedLateness : w.end
      if (due < next) next = due
    }
    return next
  }

  private find(sensor: string, metric: string, window: string, start: number): OpenWindow | undefined {
    if (this.index !== undefined) return this.index.get(key(sensor, metric, window, start))
    for (const w of this.open) {
      if (w.start === start && w.metric === metric && w.window === window && w.sensor === sensor) return w
    }
    return undefined
  }

  private add(w: OpenWindow): void {
    this.open.push(w)
    if (this.index !== undefined) this.index.set(key(w.sensor, w.metric, w.window, w.start), w)
    else if (this.open.length > indexAbove) this.index = new Map(this.open.map((o) => [key(o.sensor, o.metric, o.window, o.start), o]))
  }

  private replace(old: OpenWindow, w: OpenWindow): void {
    this.open[this.open.indexOf(old)] = w
    this.index?.set(key(w.sensor, w.metric, w.window, w.start), w)
  }

  /**
   * Apply a reading stored at stream sequence `seq`, given the current watermark: each of
   * its values not yet counted at its event time goes into every window that still takes it.
   */
  apply(reading: Reading, seq: number, watermark: number): Applied {
    this.seq = seq
    let seen = this.seen.get(reading.sensor)
    if (seen === undefined) this.seen.set(reading.sensor, seen = new SeenTimes())
    const at = seen.find(reading.ts)
    let values = reading.values
    if (at >= 0) {
      // Only the metrics not counted at this time yet (usually none: a duplicate).
      const counted = seen.metricsAt(at).split(METRIC_SEPARATOR)
      let fresh: Record<string, number> | undefined
      for (const metric in values) {
        if (!counted.includes(metric)) (fresh ??= {})[metric] = values[metric]!
      }
      if (fresh === undefined) return "duplicate"
      values = fresh
    }
    if (!this.applyValues(reading.sensor, reading.ts, values, watermark)) return "tooLate"
    if (at >= 0) {
      seen.setMetricsAt(at, this.intern(`${seen.metricsAt(at)}${METRIC_SEPARATOR}${Object.keys(values).join(METRIC_SEPARATOR)}`))
    } else {
      seen.insert(-at - 1, reading.ts, this.metricSet(values))
    }
    return "applied"
  }

  private applyValues(sensor: string, ts: number, values: Record<string, number>, watermark: number): boolean {
    let accepted = false
    for (const spec of this.specs) {
      // windowStarts(spec, ts) without an array per reading.
      const hop = spec.hop ?? spec.size
      for (let start = oldestWindowStart(spec, ts); start <= ts; start += hop) {
        const end = start + spec.size
        if (end + this.allowedLateness <= watermark) continue
        accepted = true
        for (const metric in values) {
          const value = values[metric]!
          const open = this.find(sensor, metric, spec.name, start)
          if (open === undefined) {
            this.add(OpenWindow.opened(sensor, metric, spec.name, start, end, value, ts))
          } else {
            addValue(open, value, ts)
            open.clean = false
          }
        }
      }
    }
    return accepted
  }

  /**
   * Emit every window whose end is at or before the watermark and that changed since it was
   * last emitted (first emission, or a correction by a late reading); retire windows whose
   * lateness has passed.
   */
  close(watermark: number, firstEmissions?: Array<WindowResult>): Array<WindowResult> {
    const results: Array<WindowResult> = []
    let retired = 0
    for (const w of this.open) {
      if (w.end > watermark) continue
      if (!w.clean) {
        const result = toResult(this.device, w)
        results.push(result)
        if (!w.emitted) firstEmissions?.push(result)
        w.clean = true
        w.emitted = true
      }
      if (w.end + this.allowedLateness <= watermark) retired++
    }
    if (retired > 0) this.retire(watermark)
    // A value at a time whose windows are all retired would be too late: no need to remember it.
    if (watermark !== Number.POSITIVE_INFINITY) for (const seen of this.seen.values()) seen.prune((ts) => this.retired(ts, watermark))
    // Deterministic output order: by window end, then key.
    return results.sort((a, b) => a.end - b.end || a.start - b.start || cmp(a.sensor, b.sensor) || cmp(a.metric, b.metric) || cmp(a.window, b.window))
  }

  // Drops the windows whose lateness has passed, keeping the others in order.
  private retire(watermark: number): void {
    const kept: Array<OpenWindow> = []
    for (const w of this.open) {
      if (w.end + this.allowedLateness <= watermark) this.index?.delete(key(w.sensor, w.metric, w.window, w.start))
      else kept.push(w)
    }
    this.open = kept
    if (this.index !== undefined && kept.length <= indexAbove / 2) this.index = undefined
  }

  /** Whether every window that holds event time `ts` is retired at `watermark`. */
  private retired(ts: number, watermark: number): boolean {
    for (const spec of this.specs) {
      const hop = spec.hop ?? spec.size
      // The latest window holding ts starts at the last hop at or before it.
      if (Math.floor(ts / hop) * hop + spec.size + this.allowedLateness > watermark) return false
    }
    return true
  }

  /**
   * A statistic of the open window of `window` for `metric` that holds event time `ts` (for
   * expr rules); of a hopping spec, the oldest such window (the one covering most of the
   * past). When two sensors of the device report the metric, the one that reported last.
   * Undefined when no open window holds `ts`.
   */
  statAt(stat: string, window: string, metric: string, ts: number): number | undefined {
    let best: OpenWindow | undefined
    for (const w of this.open) {
      if (w.metric !== metric || w.window !== window || w.start > ts || w.end <= ts) continue
      if (best === undefined || w.start < best.start || (w.start === best.start && w.lastTs > best.lastTs)) best = w
    }
    if (best === undefined) return undefined
    switch (stat) {
      case "mean":
        return mean(best)
      case "min":
        return best.min
      case "max":
        return best.max
      case "count":
        return best.count
      case "first":
        return best.first
      case "last":
        return best.last
      case "stddev":
        return stddev(best)
      default:
        return undefined
    }
  }

  /** Current values of the still-open windows (for live views; not emitted). */
  peek(): Array<WindowResult> {
    return this.open.map((w) => toResult(this.device, w))
  }
}

const key = (sensor: string, metric: string, window: string, start: number) => `${sensor}\u0000${metric}\u0000${window}\u0000${start}`
const cmp = (a: string, b: string) => a < b ? -1 : a > b ? 1 : 0

const toResult = (device: string, w: OpenWindow): WindowResult => ({
  device,
  sensor: w.sensor,
  metric: w.metric,
  window: w.window,
  start: w.start,
  end: w.end,
  count: w.count,
  mean: mean(w),
  min: w.min,
  max: w.max,
  first: w.first,
  last: w.last,
  stddev: stddev(w)
})
