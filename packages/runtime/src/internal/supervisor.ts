/**
 * The supervision engine behind `Supervisor`.
 *
 * Each running child gets a small fibre that runs it, watches how it ends and,
 * after a crash, records the crash in the child's sliding window, waits out the
 * backoff and runs it again (one-for-one), or hands the restart to the
 * supervisor's own fibre (one-for-all), which stops every sibling, waits and
 * starts them all. Too many crashes within the window escalate: the supervisor's
 * run fails with `SupervisorEscalated`, and as its run ends it interrupts every
 * child, so they all run their `onStop`.
 *
 * A child that parks (an idle actor, see `ParkHooks`) gives up its fibre until
 * a message wakes it; the supervisor then starts a new one. Parked children are
 * stopped explicitly wherever running ones are interrupted (removal, one-for-all,
 * the supervisor ending), so they run their `onStop` too.
 *
 * Crash windows are per child, so one poisoned entity among thousands does not
 * use up its siblings' restart budget.
 */
import { Cause, Clock, Data, Deferred, Duration, Effect, Exit, Fiber, Queue, Schedule } from "effect"
import type { Scope } from "effect"
import * as Backoff from "../Backoff.js"
import { type ActorState, type ActorStats, causeText, type Child, isCrash, type ParkHooks, Parked } from "./child.js"

/**
 * How a supervisor reacts to a crashed child (after Erlang/OTP).
 */
export interface Strategy {
  /**
   * `one-for-one` restarts only the crashed child; `one-for-all` stops and
   * restarts every child of the supervisor with it.
   */
  readonly kind: "one-for-one" | "one-for-all"
  /** Delay before each restart. */
  readonly backoff: Backoff.Backoff
  /** Crashes of one child tolerated within `within`; one more escalates. */
  readonly maxRestarts: number
  /** Length of the sliding window crashes are counted in. */
  readonly within: Duration.Input
}

/**
 * A supervisor gave up: one child crashed more than `maxRestarts` times within
 * the strategy's window. The supervisor has stopped all its children; its
 * parent (or the node) decides what happens next.
 */
export class SupervisorEscalated extends Data.TaggedError("SupervisorEscalated")<{
  readonly supervisor: string
  readonly child: string
  /** Crashes of `child` inside the window, the last one included. */
  readonly restarts: number
  /** The last crash of `child`. */
  readonly cause: Cause.Cause<unknown>
  readonly message: string
}> {}

type Step = (now: number, input: unknown) => Effect.Effect<[Duration.Duration, Duration.Duration], unknown>

// Shared by entries with no recent crash; never mutated (a crash replaces it).
const noCrashes: Array<number> = []

/**
 * One child as its supervisor sees it. Also the child's park hooks: a child
 * that parks (an idle actor) has no fibre until the waker runs it again.
 */
class Entry implements ParkHooks {
  /** The fibre supervising the child while it runs (or waits to restart). */
  fiber: Fiber.Fiber<void> | undefined = undefined
  /** A fibre for the child has been started and has not finished or parked. */
  running = false
  /** Bumped on every start and stop, so a fibre started earlier knows it is stale. */
  generation = 0
  /** Times of recent crashes, oldest first, all inside the window. */
  crashes: Array<number> = noCrashes
  /** Backoff stepper of the current burst of crashes. */
  step: Step | undefined = undefined

  constructor(readonly child: Child, readonly supervisor: SupervisorImpl) {}

  detach(): void {
    this.running = false
    this.fiber = undefined
  }

  wake(): Effect.Effect<void> {
    return this.supervisor.resume(this)
  }

  /** Forgets the fibre and makes a pending start of it a no-op. */
  release(): Fiber.Fiber<void> | undefined {
    const fiber = this.fiber
    this.fiber = undefined
    this.running = false
    this.generation++
    return fiber
  }
}

type Event =
  | { readonly _tag: "Escalate"; readonly entry: Entry; readonly cause: Cause.Cause<unknown> }
  | { readonly _tag: "RestartAll"; readonly entry: Entry; readonly delay: Duration.Duration }

interface Incarnation {
  readonly scope: Scope.Scope
  readonly events: Queue.Queue<Event>
  /** While one-for-all restarts everyone, new children wait to be started with them. */
  paused: boolean
}

/** @internal */
export const SupervisorTypeId: unique symbol = Symbol.for("@bramble/runtime/Supervisor")

/**
 * The engine. Also a `Child`, so supervisors nest.
 */
export class SupervisorImpl implements Child {
  readonly [SupervisorTypeId] = SupervisorTypeId
  readonly kind = "supervisor"
  state: ActorState = "starting"
  restarts = 0
  lastFailure: string | undefined = undefined
  terminated = false
  /** Completed when the supervisor will never run again. */
  readonly done = Deferred.makeUnsafe<void, SupervisorEscalated>()
  private readonly entries = new Map<Child, Entry>()
  private live: Incarnation | undefined = undefined
  private escalation: SupervisorEscalated | undefined = undefined
  private readonly withinMillis: number
  private readonly backoff: Schedule.Schedule<Duration.Duration>

  constructor(readonly name: string, readonly strategy: Strategy) {
    this.withinMillis = Duration.toMillis(strategy.within)
    this.backoff = Backoff.schedule(strategy.backoff)
  }

  readonly run: Effect.Effect<void, SupervisorEscalated> = Effect.suspend(() => {
    const self = this
    const scoped = Effect.scoped(
      Effect.gen(function*() {
        const live: Incarnation = { scope: yield* Effect.scope, events: yield* Queue.unbounded<Event>(), paused: false }
        self.live = live
        self.escalation = undefined
        self.state = "running"
        for (const entry of self.entries.values()) {
          // A restarted supervisor starts with clean counters, as in OTP.
          entry.crashes = noCrashes
          entry.step = undefined
          yield* self.start(entry, live)
        }
        for (;;) {
          const event = yield* Queue.take(live.events)
          if (event._tag === "Escalate") {
            const restarts = event.entry.crashes.length
            self.escalation = new SupervisorEscalated({
              supervisor: self.name,
              child: event.entry.child.name,
              restarts,
              cause: event.cause,
              message: `${self.name}: child ${event.entry.child.name} crashed ${restarts} times within ${
                Duration.format(Duration.fromInputUnsafe(self.strategy.within))
              }, last: ${causeText(event.cause)}`
            })
            yield* Effect.logError("supervisor escalated").pipe(
              Effect.annotateLogs({ supervisor: self.name, actor: event.entry.child.name, crashes: restarts })
            )
            return yield* self.escalation
          }
          yield* self.restartAll(event.entry, event.delay, live)
        }
      }).pipe(
        // Before the scope closes, so no child is forked into a closing scope.
        Effect.onExit(() => Effect.sync(() => self.live = undefined))
      )
    )
    return Effect.ensuring(scoped, Effect.suspend(() => self.stopChildren()))
  })

  // Stops every child when the supervisor's run ends: interrupts the running
  // ones (their fibres are not tied to a scope, see `start`), then ends the
  // parked ones, which have no fibre.
  private stopChildren(): Effect.Effect<void> {
    const fibers: Array<Fiber.Fiber<void>> = []
    for (const entry of this.entries.values()) {
      const fiber = entry.release()
      if (fiber !== undefined) fibers.push(fiber)
    }
    const haltParked = Effect.suspend(() => {
      const parked = Array.from(this.entries.values()).filter((entry) => entry.child.parked === true)
      return parked.length === 0 ? Effect.void : Effect.forEach(parked, (entry) => entry.child.halt?.() ?? Effect.void, {
        concurrency: "unbounded",
        discard: true
      })
    })
    return fibers.length === 0 ? haltParked : Effect.andThen(Fiber.interruptAll(fibers), haltParked)
  }

  /**
   * Runs a parked child again (its waker). Called by the sender that woke it,
   * which runs the returned effect uninterruptibly (see `Mailbox.Waker`).
   */
  resume(entry: Entry): Effect.Effect<void> {
    const live = this.live
    if (
      live === undefined || live.paused || entry.running || this.entries.get(entry.child) !== entry ||
      entry.child.parked !== true
    ) {
      // Not now: a stopped, restarting or paused supervisor deals with the child itself.
      return Effect.void
    }
    return this.launch(entry, live)
  }

  /** Registers a child and starts it if the supervisor is running. */
  add(child: Child): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.terminated) return child.terminate(false)
      const entry = new Entry(child, this)
      child.attach?.(entry)
      this.entries.set(child, entry)
      const live = this.live
      return live !== undefined && !live.paused ? this.start(entry, live) : Effect.void
    })
  }

  /** Stops a child for good: interrupts it (running its `onStop`) and terminates it. */
  remove(child: Child): Effect.Effect<void> {
    // Uninterruptible: a child taken out of the entries must still be stopped.
    return Effect.uninterruptible(Effect.suspend(() => {
      const entry = this.entries.get(child)
      if (entry === undefined) return child.terminate(false)
      this.entries.delete(child)
      const fiber = entry.release()
      return Effect.andThen(
        fiber === undefined ? Effect.void : Fiber.interrupt(fiber),
        Effect.andThen(child.halt?.() ?? Effect.void, child.terminate(false))
      )
    }))
  }

  terminate(failed: boolean): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.terminated) return Effect.void
      this.terminated = true
      this.state = failed ? "failed" : "stopped"
      const entries = Array.from(this.entries.values())
      this.entries.clear()
      const done = failed && this.escalation !== undefined ? Exit.fail(this.escalation) : Exit.void
      return Effect.forEach(entries, (entry) => entry.child.terminate(entry.child.state === "failed"), {
        discard: true
      }).pipe(Effect.ensuring(Effect.sync(() => Deferred.doneUnsafe(this.done, done))))
    })
  }

  stats(): ActorStats {
    return {
      name: this.name,
      kind: this.kind,
      state: this.state,
      mailboxSize: 0,
      mailboxCapacity: 0,
      processed: 0,
      restarts: this.restarts,
      ...(this.lastFailure === undefined ? {} : { lastFailure: this.lastFailure })
    }
  }

  childStats(): Array<ActorStats> {
    return Array.from(this.entries.values(), (entry) => entry.child.stats())
  }

  private start(entry: Entry, live: Incarnation): Effect.Effect<void> {
    // Uninterruptible: once marked running, the child must get its fibre.
    return Effect.uninterruptible(Effect.suspend(() => this.launch(entry, live)))
  }

  // Marks the child running now and returns the fork of its fibre, which the
  // caller must run without a chance of interruption in between.
  private launch(entry: Entry, live: Incarnation): Effect.Effect<void> {
    const generation = ++entry.generation
    entry.running = true
    // The fibre records itself in the entry when it starts, so that there is
    // no moment when it runs the child and the entry does not know it. It is
    // not tied to the supervisor's scope (registering and unregistering it
    // there for every burst of messages costs more than the burst): the
    // supervisor interrupts it itself when it stops (`stopChildren`).
    return Effect.asVoid(Effect.forkDetach(
      Effect.withFiber((fiber) => {
        if (entry.generation !== generation) return Effect.void
        entry.fiber = fiber as Fiber.Fiber<void>
        return this.supervise(entry, live)
      })
    ))
  }

  // Runs the child until it parks, stops itself or (after crashes, backoff
  // and restarts) escalates. Not a generator: it runs once per burst.
  private supervise(entry: Entry, live: Incarnation): Effect.Effect<void> {
    const child = entry.child
    const step: Effect.Effect<void> = Effect.flatMap(Effect.exit(child.run), (exit) => {
      // Idle: the child detached itself; its waker starts a new fibre.
      if (Exit.isSuccess(exit) && exit.value === Parked) return Effect.void
      if (Exit.isSuccess(exit) || !isCrash(exit.cause)) {
        // The child stopped itself (passivation, or it interrupted itself).
        if (this.entries.get(child) === entry) this.entries.delete(child)
        entry.release()
        return child.terminate(false)
      }
      return Effect.flatMap(this.crashed(entry, live, exit.cause), (restart) => restart ? step : Effect.void)
    })
    return step
  }

  // After a crash: counts it, then either waits out the backoff (true: run the
  // child again) or hands the child to the supervisor's own fibre to escalate
  // or restart everyone (false).
  private crashed(entry: Entry, live: Incarnation, cause: Cause.Cause<unknown>): Effect.Effect<boolean> {
    const self = this
    const child = entry.child
    return Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const delay = yield* self.recordCrash(entry, cause, now)
      // Crashes are rare and operators need to see them: log each one.
      yield* Effect.logWarning(
        delay === undefined ? "actor crashed too often, escalating" : "actor crashed, restarting"
      ).pipe(Effect.annotateLogs({
        supervisor: self.name,
        actor: child.name,
        failure: child.lastFailure,
        crashes: entry.crashes.length,
        ...(delay === undefined ? {} : { restartInMillis: Math.round(Duration.toMillis(delay)) })
      }))
      if (delay === undefined) {
        child.state = "failed"
        entry.release()
        yield* Queue.offer(live.events, { _tag: "Escalate", entry, cause })
        return false
      }
      child.state = "restarting"
      if (self.strategy.kind === "one-for-all") {
        entry.release()
        yield* Queue.offer(live.events, { _tag: "RestartAll", entry, delay })
        return false
      }
      yield* Effect.sleep(delay)
      child.restarts++
      return true
    })
  }

  /** Counts a crash; returns the restart delay, or undefined to escalate. */
  private recordCrash(
    entry: Entry,
    cause: Cause.Cause<unknown>,
    now: number
  ): Effect.Effect<Duration.Duration | undefined> {
    const self = this
    return Effect.gen(function*() {
      entry.child.lastFailure = causeText(cause)
      entry.crashes = entry.crashes.filter((at) => now - at < self.withinMillis)
      // A child quiet for a whole window starts a fresh burst: backoff resets.
      if (entry.crashes.length === 0) entry.step = undefined
      entry.crashes.push(now)
      if (entry.crashes.length > self.strategy.maxRestarts) return undefined
      entry.step ??= (yield* Schedule.toStep(self.backoff)) as Step
      const [, delay] = yield* Effect.orDie(entry.step(now, cause))
      return delay
    })
  }

  private restartAll(culprit: Entry, delay: Duration.Duration, live: Incarnation): Effect.Effect<void> {
    const self = this
    return Effect.gen(function*() {
      live.paused = true
      // Stop siblings newest first, as OTP does, each running its onStop
      // (parked ones too: they are idle, not stopped).
      const running = Array.from(self.entries.values())
        .filter((entry) => entry.running || entry.child.parked === true)
        .reverse()
      for (const entry of running) {
        const fiber = entry.release()
        if (fiber !== undefined) yield* Fiber.interrupt(fiber)
        if (entry.child.halt !== undefined) yield* entry.child.halt()
        entry.child.state = "restarting"
      }
      yield* Effect.sleep(delay)
      live.paused = false
      culprit.child.restarts++
      for (const entry of running) entry.child.restarts++
      for (const entry of self.entries.values()) {
        if (!entry.running) yield* self.start(entry, live)
      }
    })
  }
}

/** @internal */
export const isSupervisorImpl = (u: unknown): u is SupervisorImpl =>
  typeof u === "object" && u !== null && SupervisorTypeId in u
