/**
 * Writing a server's directory and config before it starts. A failure here (read-only disk,
 * bad path) is reported as the server failing to spawn, with the reason in the message.
 */
import { Effect } from "effect"
import { type ProcessError, processError } from "../ProcessError.js"

/** Runs the synchronous file work for `process`, turning a throw into `SpawnFailed`. */
export const setupFiles = (process: string, work: () => void): Effect.Effect<void, ProcessError> =>
  Effect.try({
    try: work,
    catch: (cause) =>
      processError({
        reason: "SpawnFailed",
        process,
        detail: `could not prepare its files: ${cause instanceof Error ? cause.message : String(cause)}`,
        logTail: [],
        logFile: undefined,
        cause
      })
  })
