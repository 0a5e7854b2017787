/**
 * Actors: a fibre draining a bounded mailbox into a state machine.
 *
 * An actor is a `Behaviour` (`init`, `receive`, optional `onStop`) run under a
 * supervisor. It handles one message at a time; senders are suspended while
 * its mailbox is full (backpressure, never loss). When `receive` fails or
 * dies, the message it was handling goes to `onCrash` (to be dead-lettered;
 * it is not retried), and the supervisor runs `init` again after a backoff,
 * with the mailbox — and every message still in it — intact.
 */
import type { Cause, Deferred } from "effect"
import { Effect } from "effect"
import type { Scope } from "effect"
import * as Mailbox from "./Mailbox.js"
import { type Behaviour, Cell, cellContext, type ActorCrashed, type ActorStopped } from "./internal/cell.js"
import type { ActorStats } from "./internal/child.js"
import * as Supervisor from "./Supervisor.js"

export { ActorCrashed, ActorStopped, type Behaviour, type StopReason } from "./internal/cell.js"
export type { ActorState, ActorStats } from "./internal/child.js"

/**
 * A handle to an actor: the only way to talk to it.
 */
export interface ActorRef<in M> {
  readonly name: string
  readonly kind: string
  /**
   * Queues a message, suspending while the mailbox is full. Fails with
   * `ActorStopped` if the actor is stopped for good.
   */
  tell(message: M): Effect.Effect<void, ActorStopped>
  /** Queues messages in order, suspending whenever the mailbox is full. */
  tellAll(messages: Iterable<M>): Effect.Effect<void, ActorStopped>
  /**
   * Request/reply: builds a message around a fresh reply `Deferred`, sends it
   * and waits for the actor to complete the deferred. Fails with
   * `ActorCrashed` if the actor crashes on this message and `ActorStopped` if
   * it stops before replying.
   */
  ask<A, E = never>(
    request: (reply: Deferred.Deferred<A, E>) => M
  ): Effect.Effect<A, E | ActorStopped | ActorCrashed>
  /** A snapshot for status views. */
  readonly stats: Effect.Effect<ActorStats>
  /** Stops the actor for good, running its `onStop`. Queued messages are discarded. */
  readonly stop: Effect.Effect<void>
}

/**
 * Options of `make`.
 */
export interface Options<M, E = never, R = never> {
  /** Mailbox capacity (default 1024). */
  readonly capacity?: number | undefined
  /** Shown in stats (default `"actor"`), e.g. `"aggregator"`. */
  readonly kind?: string | undefined
  /**
   * The supervisor to run under. Without one, the actor gets a private
   * one-for-one supervisor using `strategy`; if that escalates, the actor is
   * failed and further tells fail with `ActorStopped`.
   */
  readonly supervisor?: Supervisor.Supervisor | undefined
  /** Strategy of the private supervisor (ignored with `supervisor`). */
  readonly strategy?: Supervisor.Strategy | undefined
  /**
   * Receives the message the actor crashed on, e.g. to dead-letter it. The
   * message is not retried. Failures of the hook itself are logged.
   */
  readonly onCrash?: ((message: M, cause: Cause.Cause<E>) => Effect.Effect<void, never, R>) | undefined
}

/** Default mailbox capacity. */
export const defaultCapacity = 1024

/** @internal wraps a cell in the public handle. */
export const refOf = <M>(cell: Cell<M, any, any, any>, stop: Effect.Effect<void>): ActorRef<M> => ({
  name: cell.name,
  kind: cell.kind,
  tell: (message) => cell.tell(message),
  tellAll: (messages) => cell.tellAll(messages),
  ask: (request) => cell.ask(request),
  stats: Effect.sync(() => cell.stats()),
  stop
})

/**
 * Starts an actor. It is stopped (running `onStop`) when the scope closes,
 * when `stop` is called, or when its supervisor stops.
 *
 * `R` is captured here and provided to `init`, `receive`, `onStop` and
 * `onCrash`; each incarnation also gets its own `Scope`.
 */
export const make = <M, S, E = never, R = never>(
  name: string,
  behaviour: Behaviour<M, S, E, R>,
  options?: Options<M, E, R>
): Effect.Effect<ActorRef<M>, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const context = cellContext(yield* Effect.context<R>())
    const mailbox = yield* Mailbox.make<M>(options?.capacity ?? defaultCapacity)
    const onCrash = options?.onCrash
    const cell = new Cell<M, S, E, R>(name, mailbox, behaviour, context, {
      kind: options?.kind ?? "actor",
      onCrash: onCrash === undefined ? undefined : (_cell, message, cause) => onCrash(message, cause)
    })
    const supervisor = Supervisor.internals(
      options?.supervisor ?? (yield* Supervisor.make(name, options?.strategy ?? Supervisor.defaultStrategy))
    )
    const stop = supervisor.remove(cell)
    yield* supervisor.add(cell)
    yield* Effect.addFinalizer(() => stop)
    return refOf(cell, stop)
  })

/**
 * `ref.ask(request)` as a function, for pipelines.
 */
export const ask = <M, A, E = never>(
  ref: ActorRef<M>,
  request: (reply: Deferred.Deferred<A, E>) => M
): Effect.Effect<A, E | ActorStopped | ActorCrashed> => ref.ask(request)
