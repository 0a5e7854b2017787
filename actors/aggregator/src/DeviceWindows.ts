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
import { addValue, emptyStats, mean, stddev, type Stats } from "./Stats.js"
import { windowStarts, type WindowSpec } from "./WindowSpec.js"

interface OpenWindow {
  readonly sensor: string
  readonly metric: string
  readonly window: string
  readonly start: number
  readonly end: number
  readonly stats: Stats
  /** Emitted at least once and not changed since the last emission. */
  clean: boolean
  /** Emitted at least once (later emissions are corrections). */
  emitted: boolean
}

/** A serialisable snapshot of a device's windows (msgpack-friendly arrays). */
export interface DeviceSnapshot {
  /** The READINGS stream sequence of the last message applied. */
  readonly seq: number
  readonly windows: ReadonlyArray<readonly [string, string, string, number, number, Stats, boolean?]>
}

export class DeviceWindows {
  private readonly open = new Map<string, OpenWindow>()
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
      state.open.set(key(sensor, metric, window, start), { sensor, metric, window, start, end, stats: { ...stats }, clean: clean === true, emitted: clean === true })
    }
    return state
  }

  snapshot(): DeviceSnapshot {
    return {
      seq: this.seq,
      windows: [...this.open.values()].map((w) => [w.sensor, w.metric, w.window, w.start, w.end, { ...w.stats }, w.clean] as const)
    }
  }

  get openWindows(): number {
    return this.open.size
  }

  /** The earliest watermark at which `close` has something to do (Infinity when never). */
  get nextEnd(): number {
    let next = Number.POSITIVE_INFINITY
    for (const w of this.open.values()) {
      const due = w.clean ? w.end + this.allowedLateness : w.end
      if (due < next) next = due
    }
    return next
  }

  /**
   * Apply a reading stored at stream sequence `seq`, given the current watermark.
   * Returns false when the reading was too late for every window it belongs to.
   */
  apply(reading: Reading, seq: number, watermark: number): boolean {
    this.seq = seq
    let accepted = false
    for (const spec of this.specs) {
      for (const start of windowStarts(spec, reading.ts)) {
        const end = start + spec.size
        if (end + this.allowedLateness <= watermark) continue
        accepted = true
        for (const metric in reading.values) {
          const value = reading.values[metric]!
          const k = key(reading.sensor, metric, spec.name, start)
          const open = this.open.get(k)
          if (open === undefined) {
            this.open.set(k, { sensor: reading.sensor, metric, window: spec.name, start, end, stats: emptyStats(value, reading.ts), clean: false, emitted: false })
          } else {
            addValue(open.stats, value, reading.ts)
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
    for (const [k, w] of this.open) {
      if (w.end > watermark) continue
      if (!w.clean) {
        const result = toResult(this.device, w)
        results.push(result)
        if (!w.emitted) firstEmissions?.push(result)
        w.clean = true
        w.emitted = true
      }
      if (w.end + this.allowedLateness <= watermark) this.open.delete(k)
    }
    // Deterministic output order: by window end, then key.
    return results.sort((a, b) => a.end - b.end || a.start - b.start || cmp(a.sensor, b.sensor) || cmp(a.metric, b.metric) || cmp(a.window, b.window))
  }

  /** Current values of the still-open windows (for live views; not emitted). */
  peek(): Array<WindowResult> {
    return [...this.open.values()].map((w) => toResult(this.device, w))
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
  count: w.stats.count,
  mean: mean(w.stats),
  min: w.stats.min,
  max: w.stats.max,
  first: w.stats.first,
  last: w.stats.last,
  stddev: stddev(w.stats)
})
