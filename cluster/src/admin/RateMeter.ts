/**
 * Per-second rates from monotonically increasing counters: readings in and out, windows out.
 *
 * The node keeps plain counters on the hot path (no clocks, no allocation per reading); a
 * sampler records them once a second and a rate is the difference across the last few
 * seconds. A node that restarts its counters (a new process) simply starts over.
 */
import type { Admin } from "@bramble/protocol"
import { Clock, Effect, Schedule, type Scope } from "effect"

/** The counters rates are computed from. */
export interface RateCounters {
  readonly readingsIn: number
  readonly readingsOut: number
  readonly windowsOut: number
}

interface Sample extends RateCounters {
  readonly at: number
}

/** Rates over a sliding window of samples. */
export interface RateMeter {
  /** Take a sample now. */
  readonly sample: Effect.Effect<void>
  /** Rates between the oldest and newest sample in the window (zero until two exist). */
  readonly rates: Effect.Effect<Admin.Rates>
}

/** A meter over `read()`, covering the last `windowMs` (default 10 s). */
export const makeRateMeter = (read: () => RateCounters, windowMs = 10_000): RateMeter => {
  const samples: Array<Sample> = []
  const sample = Effect.map(Clock.currentTimeMillis, (at) => {
    samples.push({ at, ...read() })
    // Keep one sample older than the window, so the window is always covered.
    while (samples.length > 2 && samples[1]!.at <= at - windowMs) samples.shift()
  })
  const rates = Effect.sync((): Admin.Rates => {
    const first = samples[0]
    const last = samples[samples.length - 1]
    if (first === undefined || last === undefined || last.at <= first.at) {
      return { readingsIn: 0, readingsOut: 0, windowsOut: 0, overSeconds: 0 }
    }
    const seconds = (last.at - first.at) / 1000
    const rate = (key: keyof RateCounters) => Math.max(0, (last[key] - first[key]) / seconds)
    return { readingsIn: rate("readingsIn"), readingsOut: rate("readingsOut"), windowsOut: rate("windowsOut"), overSeconds: seconds }
  })
  return { sample, rates }
}

/** Samples the meter every second while the scope is open. */
export const runRateMeter = (meter: RateMeter): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.forkScoped(Effect.repeat(meter.sample, Schedule.spaced("1 second"))))
