/**
 * The one error a managed child process can raise. A server that does not come up is the
 * commonest failure of a fresh install (missing binary, port taken, bad config), so every
 * error carries the last lines the process printed: the message alone says what went wrong.
 */
import { Data } from "effect"

/**
 * Why a process operation failed:
 * - `SpawnFailed`: the executable is missing or the OS refused to start it.
 * - `NotReady`: it started but its readiness probe did not pass within the timeout.
 * - `ExitedEarly`: it exited before it became ready.
 * - `NotRunning`: a signal was sent while no process was running.
 * - `SignalFailed`: the OS refused to deliver a signal.
 */
export type ProcessErrorReason = "SpawnFailed" | "NotReady" | "ExitedEarly" | "NotRunning" | "SignalFailed"

/** A managed process failed to start, become ready, or take a signal. */
export class ProcessError extends Data.TaggedError("ProcessError")<{
  readonly reason: ProcessErrorReason
  /** The managed process's name (e.g. `nats-server`). */
  readonly process: string
  /** What happened, in one line. */
  readonly detail: string
  /** The last lines of the process's stdout/stderr (oldest first). */
  readonly logTail: ReadonlyArray<string>
  /** Where the full output is, when it goes to a file. */
  readonly logFile: string | undefined
  readonly message: string
  readonly cause?: unknown
}> {}

/** How many tail lines go into an error message; the full tail stays on the error. */
const MESSAGE_TAIL_LINES = 25

/** Builds a `ProcessError` whose message includes the reason, detail and the log tail. */
export const processError = (fields: {
  readonly reason: ProcessErrorReason
  readonly process: string
  readonly detail: string
  readonly logTail: ReadonlyArray<string>
  readonly logFile: string | undefined
  readonly cause?: unknown
}): ProcessError => {
  const tail = fields.logTail.slice(-MESSAGE_TAIL_LINES)
  const lines = [`${fields.process}: ${fields.reason}: ${fields.detail}`]
  if (fields.logFile !== undefined) lines.push(`log file: ${fields.logFile}`)
  lines.push(
    tail.length === 0
      ? "(the process printed nothing)"
      : `last ${tail.length} line(s) of output:\n${tail.map((line) => `  | ${line}`).join("\n")}`
  )
  return new ProcessError({ ...fields, message: lines.join("\n") })
}
