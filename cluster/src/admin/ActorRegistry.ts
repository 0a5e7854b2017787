/**
 * What runs on a node, for the admin actor: every partition worker, sensor actor, the
 * storage actor and each partition's device aggregators, with their state, mailbox depth
 * and restarts — and the handles `restart` and device queries need.
 *
 * Workers (partitions, sensors) register by running inside `restartable`, which lets an
 * operator restart them. A device aggregator is never restarted on its own: its window state
 * since the last checkpoint exists only in memory, and only a partition restart (restore the
 * checkpoint, replay the log after it) rebuilds it correctly. So `restart <device>` restarts
 * the device's partition, and says so.
 */
import type { DeviceMessage } from "@bramble/actor-aggregator"
import { Admin } from "@bramble/protocol"
import type { Actor, Entities, Restartable } from "@bramble/runtime"
import { Cause, Deferred, Effect, type Scope } from "effect"

type ActorInfo = Admin.ActorInfo

interface Worker {
  readonly name: string
  readonly kind: string
  state: ActorInfo["state"]
  runs: number
  /** Messages handled so far (readings for a partition, publishes for a sensor). */
  readonly processed: () => number
  lastFailure: string | undefined
  /** Completed to ask the current run to stop and start again. */
  restart: Deferred.Deferred<void> | undefined
}

/** The node's actors, as the admin actor sees them. */
export interface ActorRegistry extends Restartable {
  /** Lists an actor by its stats (e.g. the storage actor) while the scope is open. */
  readonly registerActor: (name: string, stats: Effect.Effect<Actor.ActorStats>) => Effect.Effect<void, never, Scope.Scope>
  /** Makes a partition's device aggregators reachable while the scope is open. */
  readonly registerDevices: (partition: number, devices: Entities.Entities<DeviceMessage>) => Effect.Effect<void, never, Scope.Scope>
  /** The device aggregators of a partition that runs here. */
  readonly devicesOf: (partition: number) => Entities.Entities<DeviceMessage> | undefined
  /** Every actor, workers first. */
  readonly list: Effect.Effect<ReadonlyArray<ActorInfo>>
  /** Restarts an actor by the name `list` gives it; the reply says what was restarted. */
  readonly restart: (name: string) => Effect.Effect<string, Admin.AdminError>
}

const RESTART = Symbol("restart")

const failureText = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.length > 300 ? `${text.slice(0, 300)}…` : text
}

/** An empty registry. */
export const makeActorRegistry = (): ActorRegistry => {
  const workers = new Map<string, Worker>()
  const actors = new Map<string, Effect.Effect<Actor.ActorStats>>()
  const devices = new Map<number, Entities.Entities<DeviceMessage>>()

  const restartable = <A, E, R>(
    name: string,
    kind: string,
    effect: Effect.Effect<A, E, R>,
    options?: { readonly processed?: () => number }
  ): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      let worker = workers.get(name)
      if (worker === undefined) {
        worker = { name, kind, state: "starting", runs: 0, processed: options?.processed ?? (() => 0), lastFailure: undefined, restart: undefined }
        workers.set(name, worker)
      }
      const w = worker
      const once: Effect.Effect<A | typeof RESTART, E, R> = Effect.gen(function*() {
        const signal = yield* Deferred.make<void>()
        w.restart = signal
        w.runs += 1
        w.state = "running"
        return yield* Effect.raceFirst(effect, Effect.as(Deferred.await(signal), RESTART))
      })
      const loop: Effect.Effect<A, E, R> = Effect.flatMap(once, (result) => result === RESTART ? loop : Effect.succeed(result as A))
      return loop.pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            w.restart = undefined
            if (exit._tag === "Success") {
              w.state = "stopped"
            } else if (Cause.hasInterruptsOnly(exit.cause)) {
              // Stopped from outside (the node closing, or the partition moving away).
              workers.delete(name)
            } else {
              w.state = "restarting"
              w.lastFailure = failureText(exit.cause)
            }
          })
        )
      )
    })

  const registerActor = (name: string, stats: Effect.Effect<Actor.ActorStats>) =>
    Effect.acquireRelease(Effect.sync(() => actors.set(name, stats)), () => Effect.sync(() => actors.delete(name))).pipe(Effect.asVoid)

  const registerDevices = (partition: number, entities: Entities.Entities<DeviceMessage>) =>
    Effect.acquireRelease(
      Effect.sync(() => devices.set(partition, entities)),
      () => Effect.sync(() => devices.get(partition) === entities ? devices.delete(partition) : undefined)
    ).pipe(Effect.asVoid)

  const fromStats = (s: Actor.ActorStats, restartable: boolean): ActorInfo => ({
    name: s.name,
    kind: s.kind,
    state: s.state,
    mailboxSize: s.mailboxSize,
    mailboxCapacity: s.mailboxCapacity,
    processed: s.processed,
    restarts: s.restarts,
    ...(s.lastFailure === undefined ? {} : { lastFailure: s.lastFailure }),
    restartable
  })

  const list = Effect.gen(function*() {
    const out: Array<ActorInfo> = []
    for (const w of workers.values()) {
      out.push({
        name: w.name,
        kind: w.kind,
        state: w.state,
        mailboxSize: 0,
        mailboxCapacity: 0,
        processed: w.processed(),
        restarts: Math.max(0, w.runs - 1),
        ...(w.lastFailure === undefined ? {} : { lastFailure: w.lastFailure }),
        restartable: true
      })
    }
    for (const stats of actors.values()) out.push(fromStats(yield* stats, false))
    for (const [, entities] of [...devices].sort(([a], [b]) => a - b)) {
      out.push(fromStats(yield* entities.supervisor.stats, false))
      const live = yield* entities.list
      for (const s of [...live].sort((a, b) => a.name.localeCompare(b.name))) out.push(fromStats(s, true))
    }
    return out
  })

  const restartWorker = (name: string) =>
    Effect.suspend(() => {
      const w = workers.get(name)
      if (w === undefined) return Effect.succeed(false)
      if (w.restart === undefined) {
        return Effect.fail(new Admin.AdminError({ reason: "Unavailable", message: `${name} is ${w.state} (not running); it restarts on its own` }))
      }
      return Effect.as(Deferred.succeed(w.restart, undefined), true)
    })

  const restart = (name: string): Effect.Effect<string, Admin.AdminError> =>
    Effect.gen(function*() {
      if (yield* restartWorker(name)) return `${name} restarted`
      for (const [partition, entities] of devices) {
        const live = yield* entities.list
        if (live.some((s) => s.name === name)) {
          const worker = `partition-${partition}`
          if (yield* restartWorker(worker)) {
            return `${name} is a device aggregator of partition ${partition}: restarted ${worker}, which restores its checkpoint and replays the log after it`
          }
        }
      }
      if (actors.has(name)) {
        return yield* Effect.fail(
          new Admin.AdminError({
            reason: "BadRequest",
            message: `${name} cannot be restarted on its own (it holds writes that are not durable yet); restart the node instead`
          })
        )
      }
      return yield* Effect.fail(new Admin.AdminError({ reason: "NotFound", message: `no actor named "${name}" on this node (see \`bramble actors\`)` }))
    })

  return { restartable, registerActor, registerDevices, devicesOf: (p) => devices.get(p), list, restart }
}
