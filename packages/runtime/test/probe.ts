// A test actor that records what happens to it. "boom" fails, "die" dies,
// "block" waits for the gate, anything else is just recorded.
import { Clock, Effect, Latch } from "effect"
import type { Duration } from "effect"
import type { Actor, Supervisor } from "../src/index.js"

export interface ProbeLog {
  /** TestClock time of every `init`. */
  readonly starts: Array<number>
  /** Every message `receive` was called with, crashes included. */
  readonly received: Array<string>
  /** Messages handled without crashing. */
  readonly handled: Array<string>
  readonly stops: Array<{ readonly state: number; readonly reason: Actor.StopReason }>
}

export class Boom extends Error {
  readonly _tag = "Boom"
}

export const probe = (gate?: Latch.Latch): {
  readonly log: ProbeLog
  readonly behaviour: Actor.Behaviour<string, number, Boom>
} => {
  const log: ProbeLog = { starts: [], received: [], handled: [], stops: [] }
  return {
    log,
    behaviour: {
      init: Effect.map(Clock.currentTimeMillis, (now) => {
        log.starts.push(now)
        return 0
      }),
      receive: (state, message) =>
        Effect.gen(function*() {
          log.received.push(message)
          if (message === "boom") return yield* Effect.fail(new Boom("boom"))
          if (message === "die") return yield* Effect.die(new Error("defect"))
          if (message === "block" && gate !== undefined) yield* gate.await
          log.handled.push(message)
          return state + 1
        }),
      onStop: (state, reason) => Effect.sync(() => log.stops.push({ state, reason }))
    }
  }
}

/** Fixed 1 s, 2 s, 4 s … 10 s backoff without jitter, generous intensity. */
export const testStrategy = (overrides: {
  readonly kind?: "one-for-one" | "one-for-all"
  readonly maxRestarts?: number
  readonly within?: Duration.Input
  readonly jitter?: number
} = {}): Supervisor.Strategy => ({
  kind: overrides.kind ?? "one-for-one",
  backoff: { initial: "1 second", max: "10 seconds", factor: 2, jitter: overrides.jitter ?? 0 },
  maxRestarts: overrides.maxRestarts ?? 100,
  within: overrides.within ?? "1 hour"
})
