/**
 * What a supervisor supervises: anything with a restartable run (an actor, or
 * another supervisor), plus the stats every child reports to the admin view.
 */
import { Cause, Effect, Predicate } from "effect"

/**
 * Lifecycle state of an actor or supervisor.
 */
export type ActorState = "starting" | "running" | "restarting" | "stopped" | "failed"

/**
 * A snapshot of one actor (or supervisor) for status and admin views. Plain
 * data, so it can be encoded as-is.
 */
export interface ActorStats {
  readonly name: string
  /** What sort of actor this is ("aggregator", "storage", "supervisor" …). */
  readonly kind: string
  readonly state: ActorState
  /** Messages waiting in the mailbox (0 for supervisors). */
  readonly mailboxSize: number
  /** Mailbox capacity (0 for supervisors). */
  readonly mailboxCapacity: number
  /** Messages fully processed since the actor was created. */
  readonly processed: number
  /** Restarts since the actor was created. */
  readonly restarts: number
  /** Short text of the last crash, if it ever crashed. */
  readonly lastFailure?: string
}

/**
 * A supervised child.
 *
 * `run` is one incarnation: it fails when the child crashes, succeeds when the
 * child stopped itself (passivation), and otherwise runs until interrupted.
 * The supervisor owns `state`, `restarts` and `lastFailure` between runs.
 */
export interface Child {
  readonly name: string
  readonly kind: string
  readonly run: Effect.Effect<void, unknown>
  /**
   * Called once, after the last incarnation ended, when the child will never
   * run again (removed, its supervisor gave up or was closed).
   */
  readonly terminate: (failed: boolean) => Effect.Effect<void>
  readonly stats: () => ActorStats
  state: ActorState
  restarts: number
  lastFailure: string | undefined
}

/**
 * Whether an exit cause is a crash. Failures and defects are; interruption
 * alone is a stop.
 */
export const isCrash = (cause: Cause.Cause<unknown>): boolean => Cause.hasFails(cause) || Cause.hasDies(cause)

const maxFailureText = 500

/**
 * A one-line description of a crash for stats and logs: the error's tag or
 * name and message, without stack traces.
 */
export const causeText = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  let text: string
  if (error instanceof Error) {
    const tag = Predicate.hasProperty(error, "_tag") && Predicate.isString(error._tag) ? error._tag : error.name
    text = error.message.length > 0 ? `${tag}: ${error.message}` : tag
  } else if (Predicate.isString(error)) {
    text = error
  } else {
    try {
      text = JSON.stringify(error) ?? String(error)
    } catch {
      text = String(error)
    }
  }
  return text.length > maxFailureText ? `${text.slice(0, maxFailureText)}…` : text
}
