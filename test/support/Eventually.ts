/**
 * Waiting in tests, defined once, in the two ways tests need it:
 *
 * - `eventually`: poll something real — a server, a node, a command line — until it holds,
 *   on real timers, so it works inside `it.effect` too (whose TestClock never moves by
 *   itself). A failed observation is retried; at the deadline it fails with the label and
 *   what it last saw.
 * - `yieldUntil` / `settle`: let fibres on the test's own scheduler run until a condition
 *   holds, without any time passing (tests under TestClock: the runtime, the aggregators).
 */
import { Effect, Exit } from "effect"

export interface WaitOptions {
  /** Default 60 s. */
  readonly timeoutMs?: number
  /** Default 250 ms. */
  readonly intervalMs?: number
}

const pause = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

const describe = (value: unknown) => {
  if (value instanceof Error) return value.message
  try {
    return JSON.stringify(value)?.slice(0, 2_000) ?? String(value)
  } catch {
    return String(value)
  }
}

/** Poll `check` until it returns a value (not undefined). */
export function eventually<A>(label: string, check: () => Promise<A | undefined>, options?: WaitOptions): Effect.Effect<A>
/** Run `observe` until `until` holds of what it gives. */
export function eventually<A, E, R>(label: string, observe: Effect.Effect<A, E, R>, until: (a: A) => boolean, options?: WaitOptions): Effect.Effect<A, never, R>
export function eventually<A, E, R>(
  label: string,
  observe: Effect.Effect<A, E, R> | (() => Promise<A | undefined>),
  untilOrOptions?: ((a: A) => boolean) | WaitOptions,
  maybeOptions?: WaitOptions
): Effect.Effect<A, never, R> {
  const effect: Effect.Effect<A | undefined, unknown, R> = typeof observe === "function" ? Effect.tryPromise(observe) : observe
  const until: (a: A | undefined) => boolean = typeof untilOrOptions === "function" ? (a) => untilOrOptions(a as A) : (a) => a !== undefined
  const options = (typeof untilOrOptions === "function" ? maybeOptions : untilOrOptions) ?? {}
  const timeoutMs = options.timeoutMs ?? 60_000
  const intervalMs = options.intervalMs ?? 250
  return Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    let last: unknown = "nothing yet"
    while (true) {
      const exit = yield* Effect.exit(effect)
      if (Exit.isSuccess(exit)) {
        if (until(exit.value)) return exit.value as A
        last = exit.value
      } else {
        last = exit.cause
      }
      if (Date.now() >= deadline) return yield* Effect.die(new Error(`timed out after ${timeoutMs} ms waiting for ${label}; last: ${describe(last)}`))
      yield* pause(intervalMs)
    }
  })
}

const MAX_YIELDS = 10_000

/** Yields until `condition` holds, failing (as a defect) if it never does within a bounded number of yields. */
export const yieldUntil = (description: string, condition: () => boolean | Effect.Effect<boolean>): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let i = 0; i < MAX_YIELDS; i++) {
      const result = condition()
      const ok = typeof result === "boolean" ? result : yield* result
      if (ok) return
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error(`never happened: ${description}`))
  })

/** Lets every runnable fibre run for a while; used before asserting that something did NOT happen. */
export const settle: Effect.Effect<void> = Effect.gen(function*() {
  for (let i = 0; i < 200; i++) yield* Effect.yieldNow
})
