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
}

// Open windows are found by a scan while a device has few (the usual case: a handful of
// metrics and window specs) and through a map keyed by identity beyond this many.
const indexAbove = 16

export class DeviceWindows {
  /** Open windows, oldest first. */
  private open: Array<OpenWindow> = []
  private index: Map<string, OpenWindow> | undefined = undefined
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
    return state
  }

  snapshot(): DeviceSnapshot {
    return {
      seq: this.seq,
      windows: this.open.map((w) => [w.sensor, w.metric, w.window, w.start, w.end, w.stats(), w.clean] as const)
    }
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
   * Apply a reading stored at stream sequence `seq`, given the current watermark.
   * Returns false when the reading was too late for every window it belongs to.
   */
  apply(reading: Reading, seq: number, watermark: number): boolean {
    this.seq = seq
    let accepted = false
    for (const spec of this.specs) {
      // windowStarts(spec, ts) without an array per reading.
      const hop = spec.hop ?? spec.size
      for (let start = oldestWindowStart(spec, reading.ts); start <= reading.ts; start += hop) {
        const end = start + spec.size
        if (end + this.allowedLateness <= watermark) continue
        accepted = true
        for (const metric in reading.values) {
          const value = reading.values[metric]!
          const open = this.find(reading.sensor, metric, spec.name, start)
          if (open === undefined) {
            this.add(OpenWindow.opened(reading.sensor, metric, spec.name, start, end, value, reading.ts))
          } else {
            addValue(open, value, reading.ts)
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
