// Test helpers: waiting for fibres to reach a state without wall-clock time.
// Fibres under test run on the same scheduler as the test, so yielding lets
// them make progress; a bounded number of yields keeps a broken expectation
// from hanging the test.
import { Effect } from "effect"

const maxYields = 10_000

/**
 * Yields until `condition` holds, failing (as a defect) if it never does.
 */
export const eventually = (
  description: string,
  condition: () => boolean | Effect.Effect<boolean>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let i = 0; i < maxYields; i++) {
      const result = condition()
      const ok = typeof result === "boolean" ? result : yield* result
      if (ok) return
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error(`never happened: ${description}`))
  })

/**
 * Lets every runnable fibre run for a while; used before asserting that
 * something did NOT happen.
 */
export const settle: Effect.Effect<void> = Effect.gen(function*() {
  for (let i = 0; i < 200; i++) yield* Effect.yieldNow
})
