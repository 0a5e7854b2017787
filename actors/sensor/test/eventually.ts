/** Waiting in tests of actors that run on the real clock (their drivers read real files or timers). */
import { assert } from "@effect/vitest"
import { Effect } from "effect"

/** Polls (real time) until `check` holds; the test fails with `what` if it never does (10 s). */
export const eventually = (what: string, check: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      if (check()) return
      yield* Effect.sleep(20)
    }
    assert.fail(`never: ${what}`)
  })
