/**
 * Running statistics of one window: count, sum (mean = sum / count), min, max, first and
 * last by event time, and Welford's M2 for the sample standard deviation. Updates are
 * applied in log order, so replaying the same log gives bit-identical results.
 */

export interface Stats {
  count: number
  sum: number
  /** Welford running mean, only used for M2. */
  wMean: number
  m2: number
  min: number
  max: number
  first: number
  firstTs: number
  last: number
  lastTs: number
}

export const emptyStats = (value: number, ts: number): Stats => ({
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
})

/** Add one value observed at event time `ts` (mutates: this is the hot path). */
export const addValue = (stats: Stats, value: number, ts: number): void => {
  stats.count += 1
  stats.sum += value
  const delta = value - stats.wMean
  stats.wMean += delta / stats.count
  stats.m2 += delta * (value - stats.wMean)
  if (value < stats.min) stats.min = value
  if (value > stats.max) stats.max = value
  // Ties in event time keep arrival order: the earliest arrival stays first, the latest is last.
  if (ts < stats.firstTs) {
    stats.first = value
    stats.firstTs = ts
  }
  if (ts >= stats.lastTs) {
    stats.last = value
    stats.lastTs = ts
  }
}

export const mean = (stats: Stats): number => stats.sum / stats.count

/** Sample standard deviation (n − 1), 0 for a single value. */
export const stddev = (stats: Stats): number => stats.count < 2 ? 0 : Math.sqrt(stats.m2 / (stats.count - 1))
