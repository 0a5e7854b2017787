/**
 * How long a supervisor waits before restarting a crashed child.
 *
 * Capped exponential backoff with jitter: the n-th restart in a burst waits
 * `min(max, initial * factor^(n-1))`, shortened by a random fraction of at
 * most `jitter`. The jitter only ever shortens the delay, so `max` is a hard
 * ceiling, and actors that crashed together (one-for-all, a shared dependency
 * going down) do not all come back in the same instant.
 *
 * Expressed as an Effect `Schedule` so the supervisor steps it like any other
 * retry policy, and callers can reuse it elsewhere.
 */
import { Cause, Duration, Effect, Random, Schedule } from "effect"

/**
 * Backoff settings of a supervisor strategy.
 */
export interface Backoff {
  /** Delay before the first restart of a burst. */
  readonly initial: Duration.Input
  /** Ceiling the exponential growth stops at (jitter never exceeds it). */
  readonly max: Duration.Input
  /** Growth per consecutive restart, at least 1. */
  readonly factor: number
  /** Largest fraction (0..1) randomly taken off each delay. */
  readonly jitter: number
}

/**
 * Checks a `Backoff`; a wrong one is a programming (or unvalidated
 * configuration) error, reported as an `IllegalArgumentError` defect.
 */
export const validate = (backoff: Backoff): Effect.Effect<void> => {
  const initial = Duration.toMillis(backoff.initial)
  const max = Duration.toMillis(backoff.max)
  const problem = !(initial >= 0) ?
    "initial must be a non-negative duration"
    : !(max >= initial) ?
    "max must be at least initial"
    : !(backoff.factor >= 1) ?
    "factor must be at least 1"
    : !(backoff.jitter >= 0 && backoff.jitter <= 1) ?
    "jitter must be between 0 and 1"
    : undefined
  return problem === undefined ? Effect.void : Effect.die(new Cause.IllegalArgumentError(`Invalid backoff: ${problem}`))
}

/**
 * The delay for the `attempt`-th restart (1-based) given a random number in
 * [0, 1). Pure, so the shape of the backoff can be checked without a clock.
 */
export const delay = (backoff: Backoff, attempt: number, random: number): Duration.Duration =>
  capAndJitter(
    backoff,
    Duration.toMillis(backoff.initial) * Math.pow(backoff.factor, Math.max(0, attempt - 1)),
    random
  )

const capAndJitter = (backoff: Backoff, millis: number, random: number): Duration.Duration =>
  Duration.millis(Math.min(Duration.toMillis(backoff.max), millis) * (1 - backoff.jitter * random))

/**
 * The backoff as a schedule that never ends: each step's delay is the next
 * restart delay. Jitter draws from the `Random` service, so a seeded `Random`
 * makes it reproducible.
 */
export const schedule = (backoff: Backoff): Schedule.Schedule<Duration.Duration> =>
  Schedule.exponential(backoff.initial, backoff.factor).pipe(
    Schedule.modifyDelay(({ duration }) =>
      Effect.map(Random.next, (random) => capAndJitter(backoff, Duration.toMillis(duration), random))
    )
  )
