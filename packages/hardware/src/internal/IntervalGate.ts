/**
 * Keeps a DHT sensor from being hit more often than it can answer. One gate per pin,
 * shared by every handle opened on that pin, so two readers of the same sensor still
 * respect the interval. The interval counts from the end of the previous hit, success
 * or failure: the sensor needs its rest after any start signal.
 */
import { Clock, Effect, Semaphore } from "effect"

/** Serialises hits and delays each until `minIntervalMs` after the previous one ended. */
export interface IntervalGate {
  run<A, E, R>(minIntervalMs: number, hit: Effect.Effect<A, E, R>): Effect.Effect<A, E, R>
}

export const makeIntervalGate = (): IntervalGate => {
  const semaphore = Semaphore.makeUnsafe(1)
  let lastHitEndMs: number | undefined
  const markEnd = Effect.map(Clock.currentTimeMillis, (now) => {
    lastHitEndMs = now
  })
  return {
    run: (minIntervalMs, hit) =>
      semaphore.withPermit(
        Effect.gen(function*() {
          if (lastHitEndMs !== undefined) {
            const waitMs = lastHitEndMs + minIntervalMs - (yield* Clock.currentTimeMillis)
            if (waitMs > 0) yield* Effect.sleep(waitMs)
          }
          // Recorded even if the hit is interrupted: the sensor may already have been woken.
          return yield* Effect.ensuring(hit, markEnd)
        })
      )
  }
}

/** One gate per key, created on first use. */
export const makeGateMap = (): (key: number) => IntervalGate => {
  const gates = new Map<number, IntervalGate>()
  return (key) => {
    let gate = gates.get(key)
    if (gate === undefined) {
      gate = makeIntervalGate()
      gates.set(key, gate)
    }
    return gate
  }
}
