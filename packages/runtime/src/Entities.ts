/**
 * Entities: actors addressed by key, created on first use, unloaded when idle.
 *
 * One per device, say. The first message for a key spawns its actor under the
 * entities' supervisor; an actor whose mailbox stays empty for `maxIdleTime`
 * is passivated — its `onStop(state, "passivated")` runs so the owner can
 * persist the state — and the next message for the key starts a fresh
 * incarnation whose `init` restores it.
 *
 * At most one incarnation per key is ever live: a message arriving while the
 * previous incarnation is still passivating waits until its `onStop` has
 * finished before the next `init` runs, so a restore never reads a checkpoint
 * that is about to be overwritten.
 */
import { type Cause, type Deferred, Duration, Effect, Latch } from "effect"
import type { Scope } from "effect"
import * as Actor from "./Actor.js"
import { type ActorCrashed, ActorStopped, type Behaviour, Cell } from "./internal/cell.js"
import type { ActorStats } from "./internal/child.js"
import * as Mailbox from "./Mailbox.js"
import * as Supervisor from "./Supervisor.js"

/**
 * Options of `make`.
 */
export interface Options<M, S, E = never, R = never> {
  /** The behaviour of the entity with this key. */
  readonly behaviour: (key: string) => Behaviour<M, S, E, R>
  /** Passivate an entity after its mailbox has been empty this long (default: never). */
  readonly maxIdleTime?: Duration.Input | undefined
  /** Mailbox capacity of each entity (default 1024). */
  readonly capacity?: number | undefined
  /** Shown in stats (default: the entities' name). */
  readonly kind?: string | undefined
  /** Strategy of the entities' supervisor (default `Supervisor.defaultStrategy`). */
  readonly strategy?: Supervisor.Strategy | undefined
  /** Run the entities' supervisor as a child of this one. */
  readonly supervisor?: Supervisor.Supervisor | undefined
  /** Receives the message an entity crashed on (see `Actor.Options.onCrash`). */
  readonly onCrash?: ((key: string, message: M, cause: Cause.Cause<E>) => Effect.Effect<void, never, R>) | undefined
}

/**
 * A set of keyed actors.
 */
export interface Entities<M> {
  readonly name: string
  /** The supervisor the entities run under. */
  readonly supervisor: Supervisor.Supervisor
  /**
   * Sends to the entity `key`, creating (or re-creating) it if needed, and
   * suspending while its mailbox is full. Fails with `ActorStopped` only once
   * the entities themselves are stopped.
   */
  tell(key: string, message: M): Effect.Effect<void, ActorStopped>
  /** Sends messages in order to the entity `key`. */
  tellAll(key: string, messages: Iterable<M>): Effect.Effect<void, ActorStopped>
  /** Request/reply with the entity `key` (see `ActorRef.ask`). */
  ask<A, E = never>(
    key: string,
    request: (reply: Deferred.Deferred<A, E>) => M
  ): Effect.Effect<A, E | ActorStopped | ActorCrashed>
  /**
   * Creates the entity now if it is not live, and returns a handle that
   * always reaches the live incarnation (re-creating it after passivation).
   */
  getOrSpawn(key: string): Effect.Effect<Actor.ActorRef<M>, ActorStopped>
  /** Stats of every live entity. */
  readonly list: Effect.Effect<ReadonlyArray<ActorStats>>
  /** Number of live entities. */
  readonly size: Effect.Effect<number>
  /**
   * Stops the entity `key` (its `onStop(state, "stopped")` runs); queued
   * messages are discarded. A later message creates it again.
   */
  stop(key: string): Effect.Effect<void>
  /** Stops every live entity, e.g. when the partition they belong to moves away. */
  readonly stopAll: Effect.Effect<void>
}

interface Entry<M> {
  readonly cell: Cell<M, any, any, any>
  /** Set while the incarnation is stopping or passivating; opened when it is gone. */
  stopping: Latch.Latch | undefined
}

/**
 * Creates an (empty) set of entities. Closing the scope stops them all,
 * running their `onStop`.
 */
export const make = <M, S, E = never, R = never>(
  name: string,
  options: Options<M, S, E, R>
): Effect.Effect<Entities<M>, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<R>()
    const supervisorHandle = yield* Supervisor.make(
      name,
      options.strategy ?? Supervisor.defaultStrategy,
      { parent: options.supervisor }
    )
    const supervisor = Supervisor.internals(supervisorHandle)
    const capacity = options.capacity ?? Actor.defaultCapacity
    const kind = options.kind ?? name
    const maxIdleMillis = options.maxIdleTime === undefined ? undefined : Duration.toMillis(options.maxIdleTime)
    const onCrash = options.onCrash
    const entries = new Map<string, Entry<M>>()
    let closed = false

    const isDead = () => closed || supervisor.terminated
    const stopped = (key: string) => Effect.fail(new ActorStopped({ actor: key }))

    // Forgets an incarnation that ended on its own (it will not be back).
    const forget = (key: string, entry: Entry<M>) => {
      if (entries.get(key) === entry && entry.stopping === undefined && entry.cell.terminated) entries.delete(key)
    }

    const release = (key: string, entry: Entry<M>) => {
      if (entries.get(key) === entry) entries.delete(key)
      entry.stopping?.openUnsafe()
    }

    const spawn = (key: string): Effect.Effect<Entry<M>, ActorStopped> =>
      Effect.flatMap(Mailbox.make<M>(capacity), (mailbox) => {
        // Another fibre may have spawned the key while the mailbox was made.
        const existing = entries.get(key)
        if (existing !== undefined) return live(key)
        if (isDead()) return stopped(key)
        const entry: Entry<M> = {
          cell: new Cell<M, S, E, R>(mailbox, options.behaviour(key), context, {
            name: key,
            kind,
            onCrash: onCrash === undefined ? undefined : (message, cause) => onCrash(key, message, cause),
            maxIdleMillis,
            canPassivate: () => {
              if (entries.get(key) !== entry || entry.stopping !== undefined) return false
              entry.stopping = Latch.makeUnsafe()
              return true
            },
            onPassivated: () => release(key, entry)
          }),
          stopping: undefined
        }
        entries.set(key, entry)
        return Effect.as(supervisor.add(entry.cell), entry)
      })

    // The live incarnation of `key`, waiting out one that is still stopping.
    const live = (key: string): Effect.Effect<Entry<M>, ActorStopped> =>
      Effect.suspend(() => {
        const entry = entries.get(key)
        if (entry === undefined) return spawn(key)
        if (entry.stopping !== undefined) return Effect.andThen(entry.stopping.await, live(key))
        return Effect.succeed(entry)
      })

    // A closed mailbox means the incarnation went away after we found it.
    const retry = <A, E2>(key: string, entry: Entry<M>, again: () => Effect.Effect<A, E2 | ActorStopped>) =>
      Effect.suspend(() => {
        if (isDead()) return stopped(key)
        forget(key, entry)
        return again()
      })

    const tell = (key: string, message: M): Effect.Effect<void, ActorStopped> =>
      Effect.flatMap(live(key), (entry) =>
        Effect.catch(Mailbox.offer(entry.cell.mailbox, message), () => retry(key, entry, () => tell(key, message))))

    const tellRemaining = (key: string, messages: ReadonlyArray<M>): Effect.Effect<void, ActorStopped> =>
      Effect.flatMap(live(key), (entry) =>
        // Only what was not delivered goes to the next incarnation.
        Effect.flatMap(
          Mailbox.offerAllPartial(entry.cell.mailbox, messages),
          (rest) => rest.length === 0 ? Effect.void : retry(key, entry, () => tellRemaining(key, rest))
        ))

    const ask = <A, EA = never>(
      key: string,
      request: (reply: Deferred.Deferred<A, EA>) => M
    ): Effect.Effect<A, EA | ActorStopped | ActorCrashed> =>
      Effect.flatMap(
        live(key),
        (entry) => entry.cell.ask(request, retry(key, entry, () => ask(key, request)))
      )

    const stop = (key: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        const entry = entries.get(key)
        if (entry === undefined) return Effect.void
        if (entry.stopping !== undefined) return entry.stopping.await
        entry.stopping = Latch.makeUnsafe()
        // Uninterruptible: the next incarnation must not start before onStop is done.
        return Effect.uninterruptible(
          Effect.ensuring(supervisor.remove(entry.cell), Effect.sync(() => release(key, entry)))
        )
      })

    const stopAll = Effect.suspend(() =>
      Effect.forEach(Array.from(entries.keys()), stop, { concurrency: "unbounded", discard: true })
    )

    const refFor = (key: string): Actor.ActorRef<M> => ({
      name: key,
      kind,
      tell: (message) => tell(key, message),
      tellAll: (messages) => tellRemaining(key, Array.from(messages)),
      ask: (request) => ask(key, request),
      stats: Effect.sync(() =>
        entries.get(key)?.cell.stats() ?? {
          name: key,
          kind,
          state: "stopped",
          mailboxSize: 0,
          mailboxCapacity: capacity,
          processed: 0,
          restarts: 0
        }
      ),
      stop: stop(key)
    })

    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        return stopAll
      })
    )

    return {
      name,
      supervisor: supervisorHandle,
      tell,
      tellAll: (key, messages) => tellRemaining(key, Array.from(messages)),
      ask,
      getOrSpawn: (key) => Effect.as(live(key), refFor(key)),
      list: Effect.sync(() => Array.from(entries.values(), (entry) => entry.cell.stats())),
      size: Effect.sync(() => entries.size),
      stop,
      stopAll
    }
  })
