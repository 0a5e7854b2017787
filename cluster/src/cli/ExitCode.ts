/**
 * Exit codes scripts can rely on: 0 success, 1 the request failed (invalid file,
 * unreachable cluster, failed node), 2 usage error, 130 interrupted (Ctrl-C).
 */
import { Data, Effect, Runtime } from "effect"

/** The command failed and has already said why on stderr. */
export class CliFailure extends Data.TaggedError("CliFailure")<{ readonly code: number }> {
  override get [Runtime.errorExitCode](): number {
    return this.code
  }

  // The message is on stderr already; runMain must not log the error again with a stack.
  override get [Runtime.errorReported](): boolean {
    return false
  }
}

export const ExitCode = {
  /** Finish the command with a non-zero exit code (the message was already printed). */
  fail: (code: number): Effect.Effect<never, CliFailure> => Effect.fail(new CliFailure({ code }))
}
