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

/** Start times of every window of `spec` that contains `ts`, oldest first. */
export const windowStarts = (spec: WindowSpec, ts: number): Array<number> => {
  const hop = spec.hop ?? spec.size
  const last = Math.floor(ts / hop) * hop
  const starts: Array<number> = []
  for (let start = last; start > ts - spec.size; start -= hop) starts.unshift(start)
  return starts
}
