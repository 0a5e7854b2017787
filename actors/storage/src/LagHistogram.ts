/**
 * How old readings are when they become durable: for every raw reading written, the time
 * from its event time to the database acknowledging it. For sensors that stamp readings
 * when they publish, this is the publish → stored latency users feel. Log-spaced buckets,
 * so percentiles cost nothing to keep on a Pi.
 */

/** Upper bounds of the buckets, in ms (the last bucket is everything above). */
export const LAG_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000, 3_600_000] as const

export interface LagHistogram {
  /** counts[i] = readings with lag ≤ LAG_BUCKETS_MS[i] (and above the previous bound); last = above all. */
  readonly counts: Array<number>
  count: number
  max: number
}

export const makeLagHistogram = (): LagHistogram => ({ counts: new Array(LAG_BUCKETS_MS.length + 1).fill(0), count: 0, max: 0 })

export const recordLag = (h: LagHistogram, lagMs: number): void => {
  let i = 0
  while (i < LAG_BUCKETS_MS.length && lagMs > LAG_BUCKETS_MS[i]!) i++
  h.counts[i]! += 1
  h.count += 1
  if (lagMs > h.max) h.max = lagMs
}

/** The bucket bound at or above the q-quantile (0..1); undefined with no data. */
export const lagQuantile = (h: LagHistogram, q: number): number | undefined => {
  if (h.count === 0) return undefined
  const target = Math.ceil(q * h.count)
  let seen = 0
  for (let i = 0; i < h.counts.length; i++) {
    seen += h.counts[i]!
    if (seen >= target) return i < LAG_BUCKETS_MS.length ? LAG_BUCKETS_MS[i]! : h.max
  }
  return h.max
}
