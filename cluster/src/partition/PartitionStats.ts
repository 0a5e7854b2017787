/**
 * Counters of one partition worker, read by the admin actor and the metrics endpoint.
 * Plain mutable numbers: they are written on the hot path and only read elsewhere.
 */
export interface PartitionStats {
  readonly partition: number
  received: number
  accepted: number
  rejected: number
  tooLate: number
  windowsEmitted: number
  alarms: number
  checkpointedSeq: number
  lastCheckpointAt: number
}

export const makePartitionStats = (partition: number): PartitionStats => ({
  partition,
  received: 0,
  accepted: 0,
  rejected: 0,
  tooLate: 0,
  windowsEmitted: 0,
  alarms: 0,
  checkpointedSeq: 0,
  lastCheckpointAt: 0
})
