/**
 * The running part of an actor: its mailbox, its behaviour, the loop that
 * drains one into the other, and the counters its stats are made of.
 *
 * The cell outlives incarnations, and an incarnation outlives the fibres that
 * run it: when the mailbox runs dry the cell *parks* — its state and scope
 * stay, its fibre ends, and the next message wakes it on a new fibre (through
 * the supervisor, see `ParkHooks`). A node holds one cell per device, and most
 * are idle at any moment; a parked cell costs its state and a few small
 * objects instead of a fibre with its stack.
 *
 * A supervisor calls `run` to start an incarnation and to resume a parked
 * one; the mailbox, the counters and pending asks stay with the cell, so a
 * restart keeps every queued message. The per-message path is a synchronous
 * poll of the mailbox and one `receive`: no spans, logs or allocations beyond
 * what `receive` does; a burst costs one fibre, and (for entities) one clock
 * read when the mailbox runs dry.
 */
import { type Cause, Clock, Context, Data, Deferred, Effect, Exit, type Latch, Scope } from "effect"
import * as Mailbox from "../Mailbox.js"
import type { ActorState, ActorStats, Child, ParkHooks } from "./child.js"
import { isCrash, Parked } from "./child.js"

/**
 * The actor is stopped (or was stopped before it handled the message): the
 * message was not, and will not be, processed.
 */
export class ActorStopped extends Data.TaggedError("ActorStopped")<{
  readonly actor: string
}> {}

/**
 * The actor crashed while handling an `ask`; the request is not retried.
 */
export class ActorCrashed extends Data.TaggedError("ActorCrashed")<{
  readonly actor: string
  readonly cause: Cause.Cause<unknown>
}> {}

/**
 * Why `onStop` is called.
 *
 * - `"stopped"`: the actor was stopped (scope closed, `stop`, its supervisor
 *   stopping it to escalate or to restart all children).
 * - `"passivated"`: an idle entity is being unloaded; it comes back on its
 *   next message.
 */
export type StopReason = "stopped" | "passivated"

/**
 * What an actor does.
 */
export interface Behaviour<in out M, in out S, out E = never, out R = never> {
  /**
   * Builds the state, on start and again on every restart (so it can restore
   * it, e.g. from a checkpoint). Runs in a scope that closes when the
   * incarnation ends, so resources acquired here are released on stop and
   * crash alike.
   */
  readonly init: Effect.Effect<S, E, R>
  /** Handles one message, returning the next state. Failing (or dying) crashes the actor. */
  readonly receive: (state: S, message: M) => Effect.Effect<S, E, R>
  /**
   * Called with the last state when the actor is stopped or passivated, not
   * when it crashes (its state is suspect then). Must not fail.
   */
  readonly onStop?: ((state: S, reason: StopReason) => Effect.Effect<void, never, R>) | undefined
}

/**
 * @internal What the owner of cells provides: shared by every cell of an
 * entity set (one object, not closures per cell).
 */
export interface CellOwner<M, E, R> {
  readonly kind: string
  readonly onCrash?: ((cell: Cell<M, any, E, R>, message: M, cause: Cause.Cause<E>) => Effect.Effect<void, never, R>) | undefined
  /** Passivation: note when each cell parks (the idle sweep reads `idleSince`). */
  readonly tracksIdle?: boolean | undefined
  /** Passivation: may this idle cell go? Called synchronously; true commits. */
  readonly canPassivate?: ((cell: Cell<M, any, E, R>) => boolean) | undefined
  /** Passivation: called once `onStop` has finished and the scope is closed. */
  readonly onPassivated?: ((cell: Cell<M, any, E, R>) => void) | undefined
}

const parkedExit: Effect.Effect<typeof Parked> = Effect.succeed(Parked)

/**
 * @internal A context of its own for cells to run with: flat, so adding each
 * incarnation's scope to it stays cheap.
 */
export const cellContext = <R>(context: Context.Context<R>): Context.Context<R> =>
  Context.makeUnsafe(new Map(context.mapUnsafe))

/** @internal */
export class Cell<M, S, E, R> implements Child {
  state: ActorState = "starting"
  restarts = 0
  processed = 0
  lastFailure: string | undefined = undefined
  terminated = false
  /** Set when this incarnation committed to passivating. */
  passivating = false
  /** Entities: set while the incarnation is stopping or passivating; opened when it is gone. */
  stopping: Latch.Latch | undefined = undefined
  /** Clock time the cell last parked (only kept up when the owner tracks idleness). */
  idleSince = 0
  /** The live incarnation's state. */
  private current: S | undefined = undefined
  /** The live incarnation's scope. */
  private scope: Scope.Closeable | undefined = undefined
  /** An incarnation has been initialised and has not ended. */
  private live = false
  /** A fibre is running the cell. */
  private active = false
  private hooks: ParkHooks | undefined = undefined
  /** Outstanding asks by request message, so a crash or stop can answer them. */
  private asks: Map<M, Deferred.Deferred<any, any>> | undefined = undefined

  constructor(
    readonly name: string,
    readonly mailbox: Mailbox.Mailbox<M>,
    readonly behaviour: Behaviour<M, S, E, R>,
    readonly context: Context.Context<R>,
    readonly owner: CellOwner<M, E, R>
  ) {}

  get kind(): string {
    return this.owner.kind
  }

  get parked(): boolean {
    return this.live && !this.active
  }

  attach(hooks: ParkHooks): void {
    this.hooks = hooks
  }

  get run(): Effect.Effect<void | typeof Parked, E> {
    return Effect.suspend(() => this.activate())
  }

  // Starts an incarnation if none is live, then handles messages until the
  // mailbox runs dry (park) or closes (the incarnation ends). Written with
  // plain closures rather than a generator: this runs once per burst of
  // messages for every device, and a generator costs several times more.
  private activate(): Effect.Effect<void | typeof Parked, E> {
    // A closed mailbox brings no more messages: nothing to start.
    if (this.terminated || (!this.live && Mailbox.isClosedUnsafe(this.mailbox))) return Effect.void
    const cell = this
    const { behaviour, mailbox } = this
    const tracksIdle = this.owner.tracksIdle === true
    // Per activation: whether it got going, the message being handled, and
    // whether it parked; read by the exit handler.
    let started = false
    let busy = false
    let current: M | undefined
    let parked = false
    // (An activation interrupted before it starts leaves this unused scope
    // behind, with nothing in it; the next one replaces it.)
    if (!this.live) this.scope = Scope.makeUnsafe()
    const scope = this.scope!

    const handled = (state: S): Effect.Effect<void | typeof Parked, E, R> => {
      cell.current = state
      busy = false
      current = undefined
      cell.processed++
      return drain
    }
    // Synchronous with the poll that found the mailbox empty: no message can
    // slip in between.
    const park = (): Effect.Effect<void | typeof Parked, E, R> => {
      const hooks = cell.hooks
      if (hooks === undefined) {
        // Not adopted by a supervisor that resumes it: wait in this fibre.
        return Effect.flatMap(
          Effect.match(Mailbox.awaitMessage(mailbox), { onFailure: () => false, onSuccess: () => true }),
          (open) => open ? drain : Effect.void
        )
      }
      if (!Mailbox.parkUnsafe(mailbox, hooks)) return drain
      parked = true
      cell.active = false
      hooks.detach()
      return parkedExit
    }
    const parkAt = (now: number): Effect.Effect<void | typeof Parked, E, R> => {
      // Only on the way to park, not per message: one clock read per burst.
      cell.idleSince = now
      return park()
    }
    const drain: Effect.Effect<void | typeof Parked, E, R> = Effect.suspend(() => {
      const polled = Mailbox.pollUnsafe(mailbox)
      if (polled === Mailbox.Empty) return tracksIdle ? Effect.flatMap(Clock.currentTimeMillis, parkAt) : park()
      if (polled === Mailbox.Closed) return Effect.void
      current = polled
      busy = true
      return Effect.flatMap(behaviour.receive(cell.current as S, polled), handled)
    })
    const run: Effect.Effect<void | typeof Parked, E, R> = Effect.suspend(() => {
      started = true
      cell.active = true
      if (cell.live) return drain
      cell.passivating = false
      cell.state = "starting"
      return Effect.flatMap(behaviour.init, (state) => {
        cell.current = state
        cell.live = true
        cell.state = "running"
        return drain
      })
    })
    const onExit = (exit: Exit.Exit<void | typeof Parked, E>): Effect.Effect<void, never, R> => {
      if (parked || !started) return Effect.void
      cell.active = false
      if (Exit.isFailure(exit) && isCrash(exit.cause)) {
        // The state is suspect: no onStop, the incarnation is over.
        const close = cell.closeIncarnation(exit)
        if (!busy) return close
        const message = current as M
        busy = false
        current = undefined
        return Effect.andThen(cell.crashed(message, exit.cause), close)
      }
      if (busy) {
        // Interrupted mid-message: the message is abandoned, so a pending ask
        // for it must not wait for a reply that will never come.
        cell.failAsk(current as M)
        busy = false
        current = undefined
      }
      // Interrupted before init finished: nothing to stop.
      if (!cell.live) return cell.closeIncarnation(exit)
      return cell.endIncarnation(exit)
    }
    return this.provide(Effect.onExit(run, onExit), scope)
  }

  // Runs `effect` with the owner's context and the incarnation's scope. The
  // context replaces the running fibre's (it was forked by whichever sender
  // woke the cell); adding the scope is cheap, merging contexts is not.
  private provide<A, E2>(effect: Effect.Effect<A, E2, R | Scope.Scope>, scope: Scope.Scope): Effect.Effect<A, E2> {
    return Effect.updateContext(effect, () => Context.add(this.context, Scope.Scope, scope)) as Effect.Effect<A, E2>
  }

  // Ends the incarnation without onStop (a crash, or an interrupted init).
  private closeIncarnation(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    const scope = this.scope
    this.live = false
    this.current = undefined
    this.scope = undefined
    return scope === undefined ? Effect.void : Scope.close(scope, exit)
  }

  // Ends a live incarnation that was stopped or passivated: onStop with its
  // last state, then its scope closes, then (passivation) the owner is told.
  private endIncarnation(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void, never, R> {
    const state = this.current as S
    // Read from the cell: passivation is committed synchronously together
    // with closing the mailbox, so it holds even if we were interrupted
    // right after.
    const passivated = this.passivating
    const reason: StopReason = passivated ? "passivated" : "stopped"
    const onStop = this.behaviour.onStop
    const stopped = onStop === undefined ? Effect.void : onStop(state, reason).pipe(
      Effect.catchCause((cause) => Effect.logWarning(`onStop of actor ${this.name} failed`, cause))
    )
    const close = this.closeIncarnation(exit)
    const ended = Effect.andThen(stopped, close)
    const onPassivated = this.owner.onPassivated
    return passivated && onPassivated !== undefined
      ? Effect.ensuring(ended, Effect.sync(() => onPassivated(this)))
      : ended
  }

  halt(): Effect.Effect<void> {
    return Effect.uninterruptible(Effect.suspend(() => {
      if (!this.parked) return Effect.void
      Mailbox.unparkUnsafe(this.mailbox)
      const scope = this.scope!
      return this.provide(this.endIncarnation(Exit.interrupt()), scope)
    }))
  }

  /**
   * Commits an idle (parked) cell to passivating, synchronously, so no message
   * can slip in between the emptiness check and closing the mailbox: later
   * senders see it closed and go to the next incarnation. Returns the wake-up
   * that lets the incarnation end (run it), or undefined if the cell cannot go.
   */
  tryPassivateUnsafe(): Effect.Effect<void> | undefined {
    if (!this.parked || this.terminated || !Mailbox.isParkedUnsafe(this.mailbox)) return undefined
    const canPassivate = this.owner.canPassivate
    if (canPassivate !== undefined && !canPassivate(this)) return undefined
    this.passivating = true
    const waker = Mailbox.unparkUnsafe(this.mailbox)
    Mailbox.closeUnsafe(this.mailbox)
    return waker === undefined ? Effect.void : waker.wake()
  }

  private failAsk(message: M): void {
    const reply = this.asks?.get(message)
    if (reply === undefined) return
    this.asks!.delete(message)
    Deferred.doneUnsafe(reply, Exit.fail(this.stoppedError()))
  }

  private crashed(message: M, cause: Cause.Cause<E>): Effect.Effect<void, never, R> {
    const reply = this.asks?.get(message)
    if (reply !== undefined) {
      this.asks!.delete(message)
      Deferred.doneUnsafe(reply, Exit.fail(new ActorCrashed({ actor: this.name, cause })))
    }
    const onCrash = this.owner.onCrash
    return onCrash === undefined ? Effect.void : onCrash(this, message, cause).pipe(
      Effect.catchCause((hookCause) => Effect.logWarning(`onCrash of actor ${this.name} failed`, hookCause))
    )
  }

  terminate(failed: boolean): Effect.Effect<void> {
    return Effect.sync(() => {
      if (this.terminated) return
      this.terminated = true
      this.state = failed ? "failed" : "stopped"
      Mailbox.closeUnsafe(this.mailbox)
      const asks = this.asks
      if (asks !== undefined && asks.size > 0) {
        const stopped = Exit.fail(new ActorStopped({ actor: this.name }))
        for (const reply of asks.values()) Deferred.doneUnsafe(reply, stopped)
        asks.clear()
      }
    })
  }

  stats(): ActorStats {
    return {
      name: this.name,
      kind: this.kind,
      state: this.state,
      mailboxSize: Mailbox.sizeUnsafe(this.mailbox),
      mailboxCapacity: this.mailbox.capacity,
      processed: this.processed,
      restarts: this.restarts,
      ...(this.lastFailure === undefined ? {} : { lastFailure: this.lastFailure })
    }
  }

  private stoppedError(): ActorStopped {
    return new ActorStopped({ actor: this.name })
  }

  tell(message: M): Effect.Effect<void, ActorStopped> {
    return Effect.mapError(Mailbox.offer(this.mailbox, message), () => this.stoppedError())
  }

  tellAll(messages: Iterable<M>): Effect.Effect<void, ActorStopped> {
    return Effect.mapError(Mailbox.offerAll(this.mailbox, messages), () => this.stoppedError())
  }

  /**
   * Sends a request carrying a fresh reply `Deferred` and waits for the reply.
   * `whenClosed` runs instead when the mailbox is already closed (entities
   * use it to retry on the next incarnation).
   */
  ask<A, EA, E2 = never>(
    request: (reply: Deferred.Deferred<A, EA>) => M,
    whenClosed?: Effect.Effect<A, EA | ActorStopped | ActorCrashed | E2>
  ): Effect.Effect<A, EA | ActorStopped | ActorCrashed | E2> {
    return Effect.suspend(() => {
      // The actor completes it with A or EA; the cell may fail it with
      // ActorStopped or ActorCrashed.
      const reply = Deferred.makeUnsafe<A, EA | ActorStopped | ActorCrashed>()
      const message = request(reply as Deferred.Deferred<A, EA>)
      const asks = this.asks ??= new Map()
      asks.set(message, reply)
      return Mailbox.offer(this.mailbox, message).pipe(
        Effect.matchEffect({
          onFailure: (): Effect.Effect<A, EA | ActorStopped | ActorCrashed | E2> => {
            asks.delete(message)
            return whenClosed ?? Effect.fail(this.stoppedError())
          },
          onSuccess: () =>
            Deferred.await(reply).pipe(
              Effect.ensuring(Effect.sync(() => {
                asks.delete(message)
                // An idle actor should not keep an empty map per request kind.
                if (asks.size === 0 && this.asks === asks) this.asks = undefined
              }))
            )
        })
      )
    })
  }
}
