/**
 * The two alarms a sensor actor raises about itself, as small state machines with no I/O
 * (so they are tested without hardware, NATS or time):
 *
 * - `sensor-fault`: raised after `threshold` consecutive read cycles produced no reading (a
 *   sensor unplugged, a broken wire, a pin that cannot be opened), cleared by the next good
 *   reading. The node never crashes over a sensor; the alarm is how people find out.
 * - `outbox-overflow`: raised when the outbox dropped its oldest readings because it was
 *   full (NATS unreachable for too long), with the count; raised again with the new count at
 *   most every `repeatMs` while dropping continues; cleared once delivery has made room.
 *
 * Both are per device: the subject is `alarms.<device>.<rule>`, the message names the sensor.
 */
import type { Alarm } from "@bramble/protocol"

export const SENSOR_FAULT = "sensor-fault"
export const OUTBOX_OVERFLOW = "outbox-overflow"

/** Counts failed read cycles and says when to raise or clear `sensor-fault`. */
export class FaultTracker {
  /** Failed cycles since the last good reading. */
  consecutive = 0
  raised = false

  constructor(
    readonly device: string,
    readonly sensor: string,
    /** Failed cycles in a row that raise the alarm (at least 1). */
    readonly threshold: number
  ) {}

  /** A cycle produced no reading; returns the alarm to raise, once per fault. */
  failure(reason: string, at: number): Alarm | undefined {
    this.consecutive += 1
    if (this.raised || this.consecutive < Math.max(1, this.threshold)) return undefined
    this.raised = true
    return {
      device: this.device,
      rule: SENSOR_FAULT,
      state: "raised",
      value: this.consecutive,
      message: `sensor ${this.device}/${this.sensor}: ${this.consecutive} read(s) in a row failed; last: ${reason}`,
      at
    }
  }

  /** A cycle produced a reading; returns the alarm to clear, if one was raised. */
  success(at: number): Alarm | undefined {
    const failed = this.consecutive
    this.consecutive = 0
    if (!this.raised) return undefined
    this.raised = false
    return {
      device: this.device,
      rule: SENSOR_FAULT,
      state: "cleared",
      value: failed,
      message: `sensor ${this.device}/${this.sensor} reads again after ${failed} failed read(s)`,
      at
    }
  }
}

/** Watches the outbox's drop counter and says when to raise or clear `outbox-overflow`. */
export class OverflowTracker {
  raised = false
  private episodeStart: number
  private lastDropped: number
  private lastRaisedAt = 0

  constructor(
    readonly device: string,
    readonly sensor: string,
    readonly limit: number,
    /** Drops recorded before this process (persisted in the outbox): not a new episode. */
    droppedAtStart: number,
    readonly repeatMs = 60_000
  ) {
    this.episodeStart = droppedAtStart
    this.lastDropped = droppedAtStart
  }

  /** After an append or a delivery: `dropped` is the outbox's total, `pending` what it holds. */
  observe(dropped: number, pending: number, at: number): Alarm | undefined {
    const grew = dropped > this.lastDropped
    this.lastDropped = dropped
    if (grew) {
      const first = !this.raised
      if (!first && at - this.lastRaisedAt < this.repeatMs) return undefined
      this.raised = true
      this.lastRaisedAt = at
      const count = dropped - this.episodeStart
      return {
        device: this.device,
        rule: OUTBOX_OVERFLOW,
        state: "raised",
        value: count,
        message: `sensor ${this.device}/${this.sensor}: outbox full (${this.limit} readings waiting for NATS); ` +
          `dropped the oldest, ${count} so far (${dropped} over the outbox's life)`,
        at
      }
    }
    if (this.raised && pending < this.limit) {
      this.raised = false
      const count = dropped - this.episodeStart
      this.episodeStart = dropped
      return {
        device: this.device,
        rule: OUTBOX_OVERFLOW,
        state: "cleared",
        value: count,
        message: `sensor ${this.device}/${this.sensor}: outbox delivering again; ${count} reading(s) were dropped`,
        at
      }
    }
    return undefined
  }
}
