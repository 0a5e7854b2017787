/**
 * Counters of one partition worker, read by the admin actor and the metrics endpoint.
 * Plain mutable numbers: they are written on the hot path and only read elsewhere.
 *
 * They outlive the runs of the worker: a run that fails records why and where
 * (`recordFailure`), and the partition shows as failing until a later run checkpoints past
 * that point (`recordCheckpoint`) — so a worker that restarts from its checkpoint again and
 * again is reported as failing, never as fine.
 */
import { ClockSkews } from "./ClockSkews.js"
import { makeSequenceCounters, type SequenceCounters } from "./SequenceGaps.js"

/** Why and where a partition keeps failing. */
export interface PartitionFailure {
  /** When the first failure of this streak happened (ms). */
  readonly since: number
  /** When the latest one did. */
  readonly at: number
  /** Failed runs in this streak. */
  readonly failures: number
  /** The latest failure, as an operator reads it. */
  readonly reason: string
  /** The stream sequence the failure is tied to, when it is known. */
  readonly seq?: number
  /** The position of the last good checkpoint: the worker restarts after it. */
  readonly checkpointedSeq: number
  /** Cleared once a checkpoint covers this stream sequence. */
  readonly clearsAt: number
}

export interface PartitionStats {
  readonly partition: number
  received: number
  accepted: number
  rejected: number
  tooLate: number
  /** Readings not counted again: every value already counted at their event time. */
  duplicates: number
  /** Readings refused as `ClockAhead` (also counted in `rejected`). */
  clockAhead: number
  windowsEmitted: number
  alarms: number
  /** Batches taken from the log with something in them, and the messages they gave the
   * partition's device actors (one per device per batch): readings per batch and device
   * messages per reading say how much of the per-message cost a batch saves. */
  batches: number
  deviceMessages: number
  checkpointedSeq: number
  lastCheckpointAt: number
  /** The stream sequence of the last message the current run took from the log. */
  lastSeq: number
  /** Runs of the worker that failed, in all. */
  failures: number
  /** Set while the partition keeps failing. */
  failing: PartitionFailure | undefined
  /** The cluster file version whose rules the partition uses (undefined: none recorded yet). */
  configVersion: number | undefined
  /** Devices of the partition whose clock looks wrong. */
  readonly clocks: ClockSkews
  /** Gaps, late fills, restarts and duplicates in the devices' `seq` (./SequenceGaps.ts). */
  readonly sequence: SequenceCounters
}

export const makePartitionStats = (partition: number): PartitionStats => ({
  partition,
  received: 0,
  accepted: 0,
  rejected: 0,
  tooLate: 0,
  duplicates: 0,
  clockAhead: 0,
  windowsEmitted: 0,
  alarms: 0,
  batches: 0,
  deviceMessages: 0,
  checkpointedSeq: 0,
  lastCheckpointAt: 0,
  lastSeq: 0,
  failures: 0,
  failing: undefined,
  configVersion: undefined,
  clocks: new ClockSkews(),
  sequence: makeSequenceCounters()
})

/**
 * A run of the worker failed with `reason`; `seq` is the stream sequence it is tied to when
 * the failure says so. Without one, the partition shows as failing until it checkpoints what
 * it had read when it failed.
 */
export const recordFailure = (stats: PartitionStats, reason: string, seq: number | undefined, now: number): void => {
  const previous = stats.failing
  stats.failures += 1
  stats.failing = {
    since: previous?.since ?? now,
    at: now,
    failures: (previous?.failures ?? 0) + 1,
    reason,
    ...(seq === undefined ? {} : { seq }),
    checkpointedSeq: stats.checkpointedSeq,
    clearsAt: seq ?? Math.max(stats.lastSeq, stats.checkpointedSeq)
  }
}

/** A checkpoint covering everything up to stream sequence `seq` is durable. */
export const recordCheckpoint = (stats: PartitionStats, seq: number, now: number): void => {
  stats.checkpointedSeq = seq
  stats.lastCheckpointAt = now
  if (stats.failing !== undefined && seq >= stats.failing.clearsAt) stats.failing = undefined
}
