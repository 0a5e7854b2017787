/**
 * The normalized shapes every support module speaks: a raw point and a window result as a
 * test sees them, whichever database or stream they came from. Keys are built here once so
 * the oracle, the checkers and the readers agree on what "the same point" means: a raw
 * point is (device, sensor, ts), a window result is (device, sensor, metric, window, start),
 * exactly the keys the databases overwrite on (docs/design.md, decision 4).
 */

/** A raw reading as stored: one device's sensor at one event time, one number per metric. */
export interface RawPoint {
  readonly device: string
  readonly sensor: string
  /** Event time, ms since the epoch. */
  readonly ts: number
  readonly values: Readonly<Record<string, number>>
}

/** One window's result for one metric; `start` is the window start in ms ([start, start + size)). */
export interface WindowRow {
  readonly device: string
  readonly sensor: string
  readonly metric: string
  /** The window's configured name, e.g. `"10s"`. */
  readonly window: string
  readonly start: number
  readonly count: number
  readonly mean: number
  readonly min: number
  readonly max: number
  readonly first: number
  readonly last: number
  readonly stddev: number
}

/** The statistics of a window row, in the order diffs print them. */
export const WINDOW_FIELDS = ["count", "mean", "min", "max", "first", "last", "stddev"] as const
export type WindowField = (typeof WINDOW_FIELDS)[number]

/** The identity of a raw point: the databases overwrite on it. */
export const rawKey = (point: { readonly device: string; readonly sensor: string; readonly ts: number }): string =>
  `${point.device}/${point.sensor}@${point.ts}`

/** The identity of a window result. */
export const windowKey = (
  row: {
    readonly device: string
    readonly sensor: string
    readonly metric: string
    readonly window: string
    readonly start: number
  }
): string => `${row.device}/${row.sensor}/${row.metric}/${row.window}@${row.start}`

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Orders raw points by device, sensor, time: the order the readers return. */
export const compareRaw = (a: RawPoint, b: RawPoint): number =>
  compareStrings(a.device, b.device) || compareStrings(a.sensor, b.sensor) || a.ts - b.ts

/** Orders window rows by device, sensor, metric, window name, start. */
export const compareWindowRows = (a: WindowRow, b: WindowRow): number =>
  compareStrings(a.device, b.device) ||
  compareStrings(a.sensor, b.sensor) ||
  compareStrings(a.metric, b.metric) ||
  compareStrings(a.window, b.window) ||
  a.start - b.start
