/**
 * A partition's event-time watermark: the largest event time seen minus the allowed
 * lateness, never moving backwards. While no reading arrives, it advances with processing
 * time (once the partition has been idle for `idleAdvance`), so the windows of quiet devices
 * close on time, not only when the next reading comes.
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
