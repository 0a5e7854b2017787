/**
 * A partition's event-time watermark: the largest event time seen minus the allowed
 * lateness, never moving backwards. While no reading arrives, it advances with processing
 * time (once the partition has been idle for `idleAdvance`), so the windows of quiet devices
 * close on time, not only when the next reading comes.
 *
 * A reading moves the watermark no further than the time the log stored it
 * (`observeReading`): a partition is shared by many devices, and one whose clock runs ahead
 * must not make every other device's readings late. Its own readings still land in their
 * windows (within `processing.maxClockAhead`; beyond, they are refused as `ClockAhead`), and
 * the watermark reaches those windows as the log's time does. The stored time is part of the
 * log, so a replay moves the watermark exactly as the first run did.
 */

export interface WatermarkState {
  /** The watermark (ms); -Infinity before the first reading. */
  readonly watermark: number
  /** The watermark when the last reading arrived: idle time is added to this. */
  readonly atLastArrival: number
}

export const initial: WatermarkState = { watermark: Number.NEGATIVE_INFINITY, atLastArrival: Number.NEGATIVE_INFINITY }

/** A batch arrived whose largest event time is `maxEventTs`. */
export const observe = (state: WatermarkState, maxEventTs: number, allowedLateness: number): WatermarkState => {
  const watermark = Math.max(state.watermark, maxEventTs - allowedLateness)
  return { watermark, atLastArrival: watermark }
}

/** A timer fired `idleMs` after the last arrival. */
export const idle = (state: WatermarkState, idleMs: number, idleAdvance: number): WatermarkState =>
  state.atLastArrival === Number.NEGATIVE_INFINITY || idleMs < idleAdvance
    ? state
    : { ...state, watermark: Math.max(state.watermark, state.atLastArrival + idleMs) }

/** A reading with event time `ts` that the log stored at `storedAt` arrived. */
export const observeReading = (state: WatermarkState, ts: number, storedAt: number, allowedLateness: number): WatermarkState =>
  observe(state, ts < storedAt ? ts : storedAt, allowedLateness)
