/**
 * Database write latency as a histogram, for `/metrics`.
 *
 * The storage actor records the duration of each successful write in
 * `StorageStats.lastWriteMs`, once per write. Rather than sampling that field (and missing
 * writes between scrapes), the node gives the actor a stats object whose `lastWriteMs` is an
 * accessor: every assignment is one observation. The actor is unchanged and the hot path
 * gains one function call per database write (a batch of up to 5,000 points).
 */
import { makeStorageStats, type StorageStats } from "@bramble/actor-storage"
import { type Histogram, makeHistogram } from "./Prometheus.js"

/** Upper bounds in seconds: a local VictoriaMetrics answers in milliseconds, a Pi on an SD card
 * in tens of milliseconds, a struggling InfluxDB in seconds. */
export const SINK_LATENCY_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Storage stats whose every write duration is also observed in `histogram` (seconds). */
export const instrumentedStorageStats = (histogram: Histogram = makeHistogram(SINK_LATENCY_BOUNDS)): {
  readonly stats: StorageStats
  readonly writeLatency: Histogram
} => {
  const stats = makeStorageStats()
  let last = stats.lastWriteMs
  Object.defineProperty(stats, "lastWriteMs", {
    enumerable: true,
    get: () => last,
    set: (ms: number) => {
      last = ms
      histogram.observe(ms / 1000)
    }
  })
  return { stats, writeLatency: histogram }
}
