/**
 * Window assignment. Boundaries are [start, end) in event time, aligned to the Unix epoch
 * (so every node and every replay computes the same windows). A tumbling window is a
 * hopping window whose hop equals its size.
 */

export interface WindowSpec {
  readonly name: string
  /** Length in ms. */
  readonly size: number
  /** Distance between consecutive window starts in ms; defaults to `size` (tumbling). */
  readonly hop?: number
}

/**
 * The start of the oldest window of `spec` that contains `ts`; the others follow every hop
 * up to `ts`. Past `ts` when no window contains it (a hop longer than the size leaves gaps).
 */
export const oldestWindowStart = (spec: WindowSpec, ts: number): number => {
  const hop = spec.hop ?? spec.size
  const last = Math.floor(ts / hop) * hop
  if (last <= ts - spec.size) return last + hop
  let first = last
  while (first - hop > ts - spec.size) first -= hop
  return first
}

/** Start times of every window of `spec` that contains `ts`, oldest first. */
export const windowStarts = (spec: WindowSpec, ts: number): Array<number> => {
  const hop = spec.hop ?? spec.size
  const starts: Array<number> = []
  for (let start = oldestWindowStart(spec, ts); start <= ts; start += hop) starts.push(start)
  return starts
}
