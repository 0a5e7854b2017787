/**
 * A one-step-ahead forecast of a window statistic with Holt's linear trend method (double
 * exponential smoothing): cheap, online, no ML dependency, and good at the slow drifts of a
 * room or a greenhouse. The seeds predicted the next temperature with linear regression
 * and an LSTM; this predicts the next window's mean from the closed windows so far.
 */

export interface HoltState {
  level: number
  trend: number
  count: number
}

export interface HoltParams {
  /** Level smoothing (0..1). */
  readonly alpha: number
  /** Trend smoothing (0..1). */
  readonly beta: number
}

export const defaultHolt: HoltParams = { alpha: 0.5, beta: 0.3 }

/** Fold one observation in; returns the forecast of the next one. */
export const holtUpdate = (state: HoltState | undefined, value: number, params: HoltParams = defaultHolt): { state: HoltState; next: number } => {
  if (state === undefined) return { state: { level: value, trend: 0, count: 1 }, next: value }
  if (state.count === 1) {
    const next = { level: value, trend: value - state.level, count: 2 }
    return { state: next, next: next.level + next.trend }
  }
  const level = params.alpha * value + (1 - params.alpha) * (state.level + state.trend)
  const trend = params.beta * (level - state.level) + (1 - params.beta) * state.trend
  const next = { level, trend, count: state.count + 1 }
  return { state: next, next: level + trend }
}
