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
import { Cause, Clock, type Deferred, Duration, Effect, Latch } from "effect"
import type { Scope } from "effect"
import * as Actor from "./Actor.js"
import { type ActorCrashed, ActorStopped, type Behaviour, Cell, cellContext, type CellOwner } from "./internal/cell.js"
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
  /** Whether the idle entity `key` may be passivated now (default: always). One that may not
   * stays, and is asked again at the next sweep: e.g. its state is not saved anywhere yet. */
  readonly mayPassivate?: ((key: string) => boolean) | undefined
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

type AnyCell<M> = Cell<M, any, any, any>

/**
 * Creates an (empty) set of entities. Closing the scope stops them all,
 * running their `onStop`.
 */
export const make = <M, S, E = never, R = never>(
  name: string,
  options: Options<M, S, E, R>
): Effect.Effect<Entities<M>, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const context = cellContext(yield* Effect.context<R>())
    const supervisorHandle = yield* Supervisor.make(
      name,
      options.strategy ?? Supervisor.defaultStrategy,
      { parent: options.supervisor }
    )
    const supervisor = Supervisor.internals(supervisorHandle)
    const capacity = options.capacity ?? Actor.defaultCapacity
    if (!(Number.isInteger(capacity) && capacity >= 1)) {
      return yield* Effect.die(new Cause.IllegalArgumentError(`Mailbox capacity must be a positive integer, got ${capacity}`))
    }
    const kind = options.kind ?? name
    const maxIdleMillis = options.maxIdleTime === undefined ? undefined : Duration.toMillis(options.maxIdleTime)
    const idle = maxIdleMillis !== undefined && Number.isFinite(maxIdleMillis) ? Math.max(0, maxIdleMillis) : undefined
    const onCrash = options.onCrash
    const mayPassivate = options.mayPassivate
    // The live incarnation of each key. A cell's `stopping` latch is set while
    // it is stopping or passivating, and opened when it is gone.
    const entries = new Map<string, AnyCell<M>>()
    let closed = false

    const isDead = () => closed || supervisor.terminated
    const stopped = (key: string) => Effect.fail(new ActorStopped({ actor: key }))

    // Forgets an incarnation that ended on its own (it will not be back).
    const forget = (key: string, cell: AnyCell<M>) => {
      if (entries.get(key) === cell && cell.stopping === undefined && cell.terminated) entries.delete(key)
    }

    const release = (cell: AnyCell<M>) => {
      if (entries.get(cell.name) === cell) entries.delete(cell.name)
      cell.stopping?.openUnsafe()
    }

    // One object for every cell (no closures per entity: a node has thousands).
    const owner: CellOwner<M, E, R> = {
      kind,
      onCrash: onCrash === undefined ? undefined : (cell, message, cause) => onCrash(cell.name, message, cause),
      tracksIdle: idle !== undefined,
      canPassivate: (cell) => {
        if (entries.get(cell.name) !== cell || cell.stopping !== undefined) return false
        if (mayPassivate !== undefined && !mayPassivate(cell.name)) return false
        cell.stopping = Latch.makeUnsafe()
        return true
      },
      onPassivated: release
    }

    // Uninterruptible: a cell in `entries` must also be in the supervisor, or
    // messages would reach a mailbox nobody drains.
    const spawn = (key: string): Effect.Effect<AnyCell<M>, ActorStopped> =>
      Effect.uninterruptible(Effect.suspend(() => {
        if (isDead()) return stopped(key)
        const cell: AnyCell<M> = new Cell<M, S, E, R>(
          key,
          Mailbox.makeUnsafe<M>(capacity),
          options.behaviour(key),
          context,
          owner
        )
        entries.set(key, cell)
        return Effect.as(supervisor.add(cell), cell)
      }))

    // The live incarnation of `key`, waiting out one that is still stopping.
    const live = (key: string): Effect.Effect<AnyCell<M>, ActorStopped> =>
      Effect.suspend(() => {
        const cell = entries.get(key)
        if (cell === undefined) return spawn(key)
        if (cell.stopping !== undefined) return Effect.andThen(cell.stopping.await, live(key))
        return Effect.succeed(cell)
      })

    // A closed mailbox means the incarnation went away after we found it.
    const retry = <A, E2>(key: string, cell: AnyCell<M>, again: () => Effect.Effect<A, E2 | ActorStopped>) =>
      Effect.suspend(() => {
        if (isDead()) return stopped(key)
        forget(key, cell)
        return again()
      })

    const offerTo = (key: string, cell: AnyCell<M>, message: M): Effect.Effect<void, ActorStopped> =>
      Effect.catch(Mailbox.offer(cell.mailbox, message), () => retry(key, cell, () => tell(key, message)))

    const tell = (key: string, message: M): Effect.Effect<void, ActorStopped> =>
      Effect.suspend(() => {
        // The common case, a live entity, without going through `live`.
        const cell = entries.get(key)
        return cell !== undefined && cell.stopping === undefined
          ? offerTo(key, cell, message)
          : Effect.flatMap(live(key), (cell) => offerTo(key, cell, message))
      })

    const tellRemaining = (key: string, messages: ReadonlyArray<M>): Effect.Effect<void, ActorStopped> =>
      Effect.flatMap(live(key), (cell) =>
        // Only what was not delivered goes to the next incarnation.
        Effect.flatMap(
          Mailbox.offerAllPartial(cell.mailbox, messages),
          (rest) => rest.length === 0 ? Effect.void : retry(key, cell, () => tellRemaining(key, rest))
        ))

    const ask = <A, EA = never>(
      key: string,
      request: (reply: Deferred.Deferred<A, EA>) => M
    ): Effect.Effect<A, EA | ActorStopped | ActorCrashed> =>
      Effect.flatMap(
        live(key),
        (cell) => cell.ask(request, retry(key, cell, () => ask(key, request)))
      )

    const stop = (key: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        const cell = entries.get(key)
        if (cell === undefined) return Effect.void
        if (cell.stopping !== undefined) return cell.stopping.await
        cell.stopping = Latch.makeUnsafe()
        // Uninterruptible: the next incarnation must not start before onStop is done.
        return Effect.uninterruptible(
          Effect.ensuring(supervisor.remove(cell), Effect.sync(() => release(cell)))
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
        entries.get(key)?.stats() ?? {
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

    // One sweeper for all entities, instead of a sleeping fibre and a timer
    // per entity: it wakes when the earliest parked entity is due (but at most
    // four times per maxIdleTime), and passivates every entity that has been
    // parked for maxIdleTime. An entity thus goes between maxIdleTime and
    // 1.25 × maxIdleTime after its last message.
    if (idle !== undefined) {
      const minimumWait = Math.max(1, idle / 4)
      const sweep = (now: number): Effect.Effect<number> =>
        Effect.suspend(() => {
          let next = Number.POSITIVE_INFINITY
          let wakes: Array<Effect.Effect<void>> | undefined
          for (const cell of entries.values()) {
            if (!cell.parked || cell.stopping !== undefined) continue
            const due = cell.idleSince + idle
            if (due > now) {
              if (due < next) next = due
              continue
            }
            const wake = cell.tryPassivateUnsafe()
            if (wake !== undefined) (wakes ??= []).push(wake)
          }
          const wait = Math.max(minimumWait, next === Number.POSITIVE_INFINITY ? idle : next - now)
          if (wakes === undefined) return Effect.succeed(wait)
          // Each wake-up forks the fibre that ends one incarnation. When thousands
          // of devices went quiet together, let them finish a batch at a time
          // rather than hold thousands of fibres at once.
          return Effect.as(
            Effect.forEach(wakes, (wake, i) => i > 0 && i % 256 === 0 ? Effect.andThen(Effect.yieldNow, wake) : wake, {
              discard: true
            }),
            wait
          )
        })
      yield* Effect.forkScoped(Effect.gen(function*() {
        let wait = Math.max(minimumWait, idle)
        for (;;) {
          yield* Effect.sleep(wait)
          // Uninterruptible: an entity committed to passivating must be woken to
          // end, or a stop waiting for it (closing the entities) would wait forever.
          wait = yield* Effect.uninterruptible(Effect.flatMap(Clock.currentTimeMillis, sweep))
        }
      }))
    }

    return {
      name,
      supervisor: supervisorHandle,
      tell,
      tellAll: (key, messages) => tellRemaining(key, Array.from(messages)),
      ask,
      getOrSpawn: (key) => Effect.as(live(key), refFor(key)),
      list: Effect.sync(() => Array.from(entries.values(), (cell) => cell.stats())),
      size: Effect.sync(() => entries.size),
      stop,
      stopAll
    }
  })
