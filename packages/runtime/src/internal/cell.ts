/**
 * The running part of an actor: its mailbox, its behaviour, the loop that
 * drains one into the other, and the counters its stats are made of.
 *
 * The cell outlives incarnations. A supervisor calls `run` once per
 * incarnation; the mailbox, the counters and pending asks stay with the cell,
 * so a restart keeps every queued message. The per-message path is a
 * synchronous poll of the mailbox and one `receive`: no spans, logs or
 * allocations beyond what `receive` does, and (for entities) one clock read
 * only when the mailbox runs dry.
 */
import { type Cause, Clock, type Context, Data, Deferred, Effect, Exit } from "effect"
import * as Mailbox from "../Mailbox.js"
import type { ActorState, ActorStats, Child } from "./child.js"
import { isCrash } from "./child.js"

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

/** @internal */
export interface CellOptions<M, E, R> {
  readonly name: string
  readonly kind: string
  readonly onCrash?: ((message: M, cause: Cause.Cause<E>) => Effect.Effect<void, never, R>) | undefined
  /** Passivation: stop after this long with an empty mailbox. */
  readonly maxIdleMillis?: number | undefined
  /** Passivation: may this idle actor go? Called synchronously; true commits. */
  readonly canPassivate?: (() => boolean) | undefined
  /** Passivation: called once `onStop` has finished. */
  readonly onPassivated?: (() => void) | undefined
}

interface Activity {
  /** False once the incarnation is ending. */
  active: boolean
  /** Whether the loop is waiting on an empty mailbox. */
  waiting: boolean
  /** Clock time the current wait began (entities only). */
  idleSince: number
}

/** @internal */
export class Cell<M, S, E, R> implements Child {
  state: ActorState = "starting"
  restarts = 0
  processed = 0
  lastFailure: string | undefined = undefined
  terminated = false
  /** Set when this incarnation committed to passivating. */
  passivating = false
  readonly name: string
  readonly kind: string
  /** Outstanding asks by request message, so a crash or stop can answer them. */
  private readonly asks = new Map<M, Deferred.Deferred<any, any>>()
  private readonly maxIdleMillis: number | undefined
  /** Waits until the mailbox holds a message; false once it is closed. */
  private readonly awaitMessage: Effect.Effect<boolean>

  constructor(
    readonly mailbox: Mailbox.Mailbox<M>,
    readonly behaviour: Behaviour<M, S, E, R>,
    readonly context: Context.Context<R>,
    readonly options: CellOptions<M, E, R>
  ) {
    this.name = options.name
    this.kind = options.kind
    const idle = options.maxIdleMillis
    this.maxIdleMillis = idle !== undefined && Number.isFinite(idle) ? Math.max(0, idle) : undefined
    this.awaitMessage = Effect.match(Mailbox.awaitMessage(mailbox), { onFailure: () => false, onSuccess: () => true })
  }

  readonly run: Effect.Effect<void, E> = Effect.suspend(() => this.incarnation())

  private incarnation(): Effect.Effect<void, E> {
    const cell = this
    const { behaviour, mailbox } = this
    const idle = this.maxIdleMillis
    // Per incarnation: the latest state and the message being handled, read
    // by the exit handler below; and, for entities, since when the actor has
    // been waiting on an empty mailbox.
    let state: S
    let initialised = false
    let busy = false
    let current: M | undefined
    const activity: Activity = { active: true, waiting: false, idleSince: 0 }
    cell.passivating = false
    const loop = Effect.gen(function*() {
      cell.state = "starting"
      state = yield* behaviour.init
      initialised = true
      cell.state = "running"
      const clock = yield* Clock.Clock
      if (idle !== undefined) yield* Effect.forkScoped(cell.idleTimer(idle, clock, activity))
      for (;;) {
        const polled = Mailbox.pollUnsafe(mailbox)
        if (polled === undefined) {
          // Only on the way to sleep, not per message: one clock read per burst.
          if (idle !== undefined) activity.idleSince = clock.currentTimeMillisUnsafe()
          activity.waiting = true
          const open = yield* cell.awaitMessage
          activity.waiting = false
          if (!open) return
          continue
        }
        if (polled === Mailbox.Closed) return
        current = polled.value
        busy = true
        state = yield* behaviour.receive(state, current)
        busy = false
        current = undefined
        cell.processed++
      }
    })
    const onExit = (exit: Exit.Exit<void, E>): Effect.Effect<void, never, R> => {
      activity.active = false
      if (Exit.isFailure(exit) && isCrash(exit.cause)) {
        if (!busy) return Effect.void
        const message = current as M
        busy = false
        current = undefined
        return cell.crashed(message, exit.cause)
      }
      if (busy) {
        // Interrupted mid-message: the message is abandoned, so a pending ask
        // for it must not wait for a reply that will never come.
        const reply = cell.asks.get(current as M)
        if (reply !== undefined) {
          cell.asks.delete(current as M)
          Deferred.doneUnsafe(reply, Exit.fail(cell.stoppedError()))
        }
        busy = false
        current = undefined
      }
      if (!initialised) return Effect.void
      // Read from the cell: passivation is committed synchronously together
      // with closing the mailbox, so it holds even if we were interrupted
      // right after.
      const passivated = cell.passivating
      const reason: StopReason = passivated ? "passivated" : "stopped"
      const stopped = behaviour.onStop === undefined
        ? Effect.void
        : behaviour.onStop(state, reason).pipe(
          Effect.catchCause((cause) => Effect.logWarning(`onStop of actor ${cell.name} failed`, cause))
        )
      return passivated && cell.options.onPassivated !== undefined
        ? Effect.ensuring(stopped, Effect.sync(cell.options.onPassivated))
        : stopped
    }
    return loop.pipe(Effect.onExit(onExit), Effect.scoped, Effect.provideContext(this.context))
  }

  /**
   * Passivates the actor once it has waited on an empty mailbox for `idle`
   * ms. One sleeping fibre per incarnation, waking at most once per `idle`
   * (not a timer per message): each time it sleeps until the earliest moment
   * the actor could have been idle long enough.
   */
  private idleTimer(idle: number, clock: Clock.Clock, activity: Activity): Effect.Effect<void> {
    const cell = this
    return Effect.gen(function*() {
      for (;;) {
        if (!activity.active) return
        let wait = idle
        if (activity.waiting) {
          const idleFor = clock.currentTimeMillisUnsafe() - activity.idleSince
          if (idleFor < idle) wait = idle - idleFor
          else if (cell.tryPassivateUnsafe()) return
        }
        yield* Effect.sleep(wait)
      }
    })
  }

  // Synchronous, so no message can slip in between the emptiness check and
  // closing the mailbox: later senders see it closed and go to the next
  // incarnation, and the waiting loop sees it closed and ends.
  private tryPassivateUnsafe(): boolean {
    if (Mailbox.sizeUnsafe(this.mailbox) > 0) return false
    if (this.options.canPassivate !== undefined && !this.options.canPassivate()) return false
    this.passivating = true
    Mailbox.closeUnsafe(this.mailbox)
    return true
  }

  private crashed(message: M, cause: Cause.Cause<E>): Effect.Effect<void, never, R> {
    const reply = this.asks.get(message)
    if (reply !== undefined) {
      this.asks.delete(message)
      Deferred.doneUnsafe(reply, Exit.fail(new ActorCrashed({ actor: this.name, cause })))
    }
    const onCrash = this.options.onCrash
    return onCrash === undefined ? Effect.void : onCrash(message, cause).pipe(
      Effect.catchCause((hookCause) => Effect.logWarning(`onCrash of actor ${this.name} failed`, hookCause))
    )
  }

  terminate(failed: boolean): Effect.Effect<void> {
    return Effect.sync(() => {
      if (this.terminated) return
      this.terminated = true
      this.state = failed ? "failed" : "stopped"
      Mailbox.closeUnsafe(this.mailbox)
      if (this.asks.size > 0) {
        const stopped = Exit.fail(new ActorStopped({ actor: this.name }))
        for (const reply of this.asks.values()) Deferred.doneUnsafe(reply, stopped)
        this.asks.clear()
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
      this.asks.set(message, reply)
      return Mailbox.offer(this.mailbox, message).pipe(
        Effect.matchEffect({
          onFailure: (): Effect.Effect<A, EA | ActorStopped | ActorCrashed | E2> => {
            this.asks.delete(message)
            return whenClosed ?? Effect.fail(this.stoppedError())
          },
          onSuccess: () =>
            Deferred.await(reply).pipe(
              Effect.ensuring(Effect.sync(() => this.asks.delete(message)))
            )
        })
      )
    })
  }
}
