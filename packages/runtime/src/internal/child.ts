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
 * Returned by a child's `run` when it went idle and *parked*: its incarnation
 * (state, scope) lives on without a fibre until its supervisor runs it again.
 */
export const Parked: unique symbol = Symbol.for("@bramble/runtime/Parked")

/**
 * What a supervisor gives a child that can park: how to tell the supervisor
 * it parked, and the waker that runs it again.
 */
export interface ParkHooks {
  /**
   * Called synchronously by the child when it parks, before its `run`
   * returns `Parked`: from then on the fibre that ran it is no longer the
   * child's, and a wake-up starts a new one.
   */
  detach(): void
  /** Runs the parked child again (in the caller's fibre: it forks one). */
  wake(): Effect.Effect<void>
}

/**
 * A supervised child.
 *
 * `run` is one incarnation, or the next part of one: it fails when the child
 * crashes, succeeds when the child stopped itself (passivation), returns
 * `Parked` when the child is idle and keeps its incarnation without a fibre,
 * and otherwise runs until interrupted. The supervisor owns `state`,
 * `restarts` and `lastFailure` between runs.
 */
export interface Child {
  readonly name: string
  readonly kind: string
  readonly run: Effect.Effect<void | typeof Parked, unknown>
  /**
   * Called once, after the last incarnation ended, when the child will never
   * run again (removed, its supervisor gave up or was closed).
   */
  readonly terminate: (failed: boolean) => Effect.Effect<void>
  readonly stats: () => ActorStats
  /** Children that can park: called once, when the supervisor adopts the child. */
  readonly attach?: ((hooks: ParkHooks) => void) | undefined
  /** Whether the child is parked: an incarnation alive and no fibre running it. */
  readonly parked?: boolean | undefined
  /**
   * Ends a parked incarnation as a stop would (its `onStop` runs); does
   * nothing if the child is not parked. The supervisor calls it only when no
   * fibre of the child can still run.
   */
  readonly halt?: (() => Effect.Effect<void>) | undefined
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
