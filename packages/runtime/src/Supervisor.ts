/**
 * Supervisors: restart what crashes, give up on what keeps crashing.
 *
 * After Erlang/OTP. A supervisor runs its children (actors, entities, other
 * supervisors) and restarts a crashed child after a capped, jittered
 * exponential backoff — only that child (`one-for-one`) or all of them
 * (`one-for-all`, for children that only make sense together). A child that
 * crashes more than `maxRestarts` times within `within` makes the supervisor
 * escalate: it stops every child and fails with `SupervisorEscalated`, for its
 * parent supervisor (which restarts it like any other child) or the node to
 * handle.
 *
 * Failures and defects are crashes; interruption is not. A supervisor lives in
 * a `Scope`: closing it stops every child, running their `onStop`.
 */
import { Cause, Deferred, Duration, Effect, Exit } from "effect"
import type { Scope } from "effect"
import * as Backoff from "./Backoff.js"
import type { ActorStats } from "./internal/child.js"
import { isCrash } from "./internal/child.js"
import {
  isSupervisorImpl,
  type Strategy,
  type SupervisorEscalated,
  SupervisorImpl,
  SupervisorTypeId
} from "./internal/supervisor.js"

// The strategy and the escalation error live with the engine; they are part
// of this module's API.
export { type Strategy, SupervisorEscalated } from "./internal/supervisor.js"

/**
 * A running supervisor.
 */
export interface Supervisor {
  readonly [SupervisorTypeId]: typeof SupervisorTypeId
  readonly name: string
  readonly strategy: Strategy
  /** The supervisor itself (kind `"supervisor"`). */
  readonly stats: Effect.Effect<ActorStats>
  /** Its direct children, in the order they were added. */
  readonly children: Effect.Effect<ReadonlyArray<ActorStats>>
  /**
   * Waits until the supervisor will never run again: succeeds when it was
   * stopped (its scope closed, or its parent stopped it), fails with
   * `SupervisorEscalated` when it (finally) gave up.
   */
  readonly join: Effect.Effect<void, SupervisorEscalated>
}

/**
 * One-for-one, 100 ms doubling to 30 s with 20 % jitter, escalating after 5
 * crashes of one child within a minute.
 */
export const defaultStrategy: Strategy = {
  kind: "one-for-one",
  backoff: { initial: "100 millis", max: "30 seconds", factor: 2, jitter: 0.2 },
  maxRestarts: 5,
  within: "1 minute"
}

/**
 * Options of `make`.
 */
export interface Options {
  /**
   * Run as a child of this supervisor: its crashes (escalations) are restarted
   * by the parent under the parent's strategy. Without a parent, the
   * supervisor runs on its own fibre in the current scope.
   */
  readonly parent?: Supervisor | undefined
}

/**
 * Checks a strategy; a wrong one is a programming (or unvalidated
 * configuration) error, reported as an `IllegalArgumentError` defect.
 */
export const validate = (strategy: Strategy): Effect.Effect<void> => {
  const problem = !(Number.isInteger(strategy.maxRestarts) && strategy.maxRestarts >= 0)
    ? "maxRestarts must be a non-negative integer"
    : !(Duration.toMillis(strategy.within) > 0)
    ? "within must be a positive duration"
    : undefined
  return problem === undefined
    ? Backoff.validate(strategy.backoff)
    : Effect.die(new Cause.IllegalArgumentError(`Invalid strategy: ${problem}`))
}

const toPublic = (impl: SupervisorImpl): Supervisor => {
  const supervisor: Supervisor & { readonly impl: SupervisorImpl } = {
    [SupervisorTypeId]: SupervisorTypeId,
    impl,
    name: impl.name,
    strategy: impl.strategy,
    stats: Effect.sync(() => impl.stats()),
    children: Effect.sync(() => impl.childStats()),
    join: Deferred.await(impl.done)
  }
  return supervisor
}

/** @internal the engine behind a public `Supervisor`. */
export const internals = (supervisor: Supervisor): SupervisorImpl => {
  const impl = (supervisor as Supervisor & { readonly impl?: unknown }).impl
  if (!isSupervisorImpl(impl)) throw new Error(`Not a Bramble supervisor: ${String(supervisor.name)}`)
  return impl
}

/**
 * Starts a supervisor with no children yet. Add children with `Actor.make`,
 * `Entities.make` or another `Supervisor.make`, passing this one as their
 * supervisor (parent).
 *
 * Closing the scope stops the supervisor and all its children.
 */
export const make = (
  name: string,
  strategy: Strategy = defaultStrategy,
  options?: Options
): Effect.Effect<Supervisor, never, Scope.Scope> =>
  Effect.gen(function*() {
    yield* validate(strategy)
    const impl = new SupervisorImpl(name, strategy)
    const parent = options?.parent
    if (parent === undefined) {
      yield* Effect.forkScoped(
        impl.run.pipe(Effect.onExit((exit) => impl.terminate(Exit.isFailure(exit) && isCrash(exit.cause))))
      )
    } else {
      const parentImpl = internals(parent)
      yield* parentImpl.add(impl)
      yield* Effect.addFinalizer(() => parentImpl.remove(impl))
    }
    return toPublic(impl)
  })
