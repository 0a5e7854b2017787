/**
 * Retry a launch whose server lost a race for a port. `freePort` can only say a port was
 * free a moment ago; when another process binds it first, the server exits with "address
 * already in use" and the launch is tried again with new ports.
 */
import { Effect } from "effect"
import { START_MARKER } from "../ManagedProcess.js"
import type { ProcessError } from "../ProcessError.js"

const ATTEMPTS = 3

/** Looks only at the output of the last start (a log file holds every start's output). */
const lostPortRace = (error: ProcessError): boolean => {
  if (error.reason !== "ExitedEarly") return false
  let lastStart = -1
  error.logTail.forEach((line, index) => {
    if (line.startsWith(START_MARKER)) lastStart = index
  })
  return error.logTail.slice(lastStart + 1).some((line) => /address already in use/i.test(line))
}

/** Runs `launch` (which must choose its ports afresh each time) up to three times. */
export const retryOnPortClash = <A, R>(launch: Effect.Effect<A, ProcessError, R>): Effect.Effect<A, ProcessError, R> =>
  Effect.retry(launch, { times: ATTEMPTS - 1, while: lostPortRace })
