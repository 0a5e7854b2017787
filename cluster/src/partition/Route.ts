/**
 * The second step of a partition's loop: a fetched batch in, the partition's readings out,
 * grouped by device — so each device's actor gets one message per batch and the storage
 * actor one message per batch, whatever the batch holds. Each message is decoded by the
 * intake (./Intake.ts: a bad one is dead-lettered with its reason, and the batch goes on);
 * a redelivered message (at or below the position) is skipped. Each reading carries the
 * watermark as it stood before it, and moves it no further than the time the log stored it.
 */
import { type DeviceItem, Watermark } from "@bramble/actor-aggregator"
import { storedAtMsOf, streamSequenceOf } from "@bramble/nats"
import type { Reading } from "@bramble/protocol"
import type { Intake } from "./Intake.js"
import type { PartitionStats } from "./PartitionStats.js"
import type { LogMessage } from "./Source.js"

/** Where a run of the partition stands: read by the checkpointer, moved by the loop. */
export interface Position {
  /** The last stream sequence taken (applied or refused). */
  lastSeq: number
  /** The last sequence a checkpoint was captured at. */
  checkpointedSeq: number
  watermark: Watermark.WatermarkState
  /** The last message taken: acknowledging it acknowledges everything before it. */
  lastAck: LogMessage | undefined
  /** Messages taken and not yet acknowledged (acks follow checkpoints). */
  processedSinceAck: number
  /** Stream time of the last message taken: how far this run has read the log. */
  readThroughStored: number
}

export const startPosition = (seq: number, watermark: Watermark.WatermarkState): Position => ({
  lastSeq: seq,
  checkpointedSeq: seq,
  watermark,
  lastAck: undefined,
  processedSinceAck: 0,
  readThroughStored: 0
})

export interface Routed {
  /** Every reading accepted, in log order (for storage). */
  readonly readings: Array<Reading>
  /** The same readings by device, in log order within each device. */
  readonly perDevice: Map<string, Array<DeviceItem>>
}

/**
 * Routes one batch, moving `position` past it. `lagMs` is how far the watermark trails the
 * newest event time.
 */
export const routeBatch = (
  batch: ReadonlyArray<LogMessage>,
  position: Position,
  intake: Intake,
  stats: PartitionStats,
  now: number,
  lagMs: number
): Routed => {
  position.processedSinceAck += batch.length
  const readings: Array<Reading> = []
  const perDevice = new Map<string, Array<DeviceItem>>()
  let watermark = position.watermark
  for (const m of batch) {
    const seq = streamSequenceOf(m.reply)
    if (Number.isNaN(seq)) throw new Error(`partition message on ${m.subject} has no JetStream delivery info (reply ${JSON.stringify(m.reply)})`)
    if (seq <= position.lastSeq) continue // redelivered while we were slow: already applied
    position.lastSeq = seq
    stats.lastSeq = seq
    position.lastAck = m
    stats.received += 1
    const storedAt = storedAtMsOf(m.reply)
    if (storedAt > position.readThroughStored) position.readThroughStored = storedAt
    // One reading, or a batch record's several: they share the message's sequence.
    for (const reading of intake.take({ subject: m.subject, data: m.data, seq, storedAt }, now)) {
      readings.push(reading)
      let items = perDevice.get(reading.device)
      if (items === undefined) perDevice.set(reading.device, items = [])
      items.push({ reading, seq, watermark: watermark.watermark, storedAt })
      watermark = Watermark.observeReading(watermark, reading.ts, storedAt, lagMs)
    }
  }
  position.watermark = watermark
  return { readings, perDevice }
}
