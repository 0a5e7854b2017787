/**
 * The registry behind `actors` and `restart`: workers are listed with their state and
 * restarts, `restart` interrupts a worker and runs it again at once, a device aggregator is
 * restarted through its partition, and the storage actor is refused.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Result } from "effect"
import type { DeviceMessage } from "@bramble/actor-aggregator"
import { Entities } from "@bramble/runtime"
import { makeActorRegistry } from "../src/admin/ActorRegistry.js"

const idleEntities = Entities.make<DeviceMessage, null>("aggregators-p2", {
  kind: "aggregator",
  behaviour: () => ({ init: Effect.succeed(null), receive: (state) => Effect.succeed(state) })
})

describe("actor registry", () => {
  it.effect("restart - a worker is interrupted and started again at once, and the restart is counted", () =>
    Effect.gen(function*() {
      const registry = makeActorRegistry()
      let starts = 0
      let stops = 0
      const worker = Effect.gen(function*() {
        starts += 1
        yield* Effect.addFinalizer(() => Effect.sync(() => void (stops += 1)))
        return yield* Effect.never
      }).pipe(Effect.scoped)
      const fiber = yield* Effect.forkChild(registry.restartable("partition-0", "partition", worker, { processed: () => 42 }))
      yield* Effect.yieldNow
      const listed = (yield* registry.list).find((a) => a.name === "partition-0")!
      assert.deepInclude(listed, { kind: "partition", state: "running", restarts: 0, processed: 42, restartable: true })
      assert.strictEqual(yield* registry.restart("partition-0"), "partition-0 restarted")
      yield* Effect.yieldNow
      assert.strictEqual(starts, 2)
      assert.strictEqual(stops, 1, "the first run's resources were released before the second started")
      assert.strictEqual((yield* registry.list).find((a) => a.name === "partition-0")!.restarts, 1)
      // Stopped from outside (the node closing): it leaves the list.
      yield* Fiber.interrupt(fiber)
      assert.isUndefined((yield* registry.list).find((a) => a.name === "partition-0"))
    }))

  it.effect("failures - a failed run is listed with its failure until the caller runs it again", () =>
    Effect.gen(function*() {
      const registry = makeActorRegistry()
      const gate = yield* Deferred.make<void>()
      const failing = registry.restartable("sensor-barn-env", "sensor", Effect.andThen(Deferred.await(gate), Effect.fail(new Error("no DHT on pin 4"))))
      const fiber = yield* Effect.forkChild(Effect.result(failing))
      yield* Effect.yieldNow
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(fiber)
      const listed = (yield* registry.list).find((a) => a.name === "sensor-barn-env")!
      assert.strictEqual(listed.state, "restarting")
      assert.include(listed.lastFailure ?? "", "no DHT on pin 4")
      const refused = yield* Effect.result(registry.restart("sensor-barn-env"))
      assert.isTrue(Result.isFailure(refused) && refused.failure.reason === "Unavailable")
    }))

  it.effect("aggregators and storage - listed; restarting an aggregator restarts its partition; storage is refused", () =>
    Effect.gen(function*() {
      const registry = makeActorRegistry()
      const devices = yield* idleEntities
      yield* registry.registerDevices(2, devices)
      yield* devices.getOrSpawn("greenhouse-1")
      yield* registry.registerActor("storage", Effect.succeed({
        name: "storage",
        kind: "storage",
        state: "running",
        mailboxSize: 3,
        mailboxCapacity: 64,
        processed: 9,
        restarts: 0
      }))
      let starts = 0
      yield* Effect.forkChild(registry.restartable("partition-2", "partition", Effect.andThen(Effect.sync(() => void (starts += 1)), Effect.never)))
      yield* Effect.yieldNow
      const list = yield* registry.list
      assert.deepStrictEqual(list.map((a) => [a.name, a.kind]), [
        ["partition-2", "partition"],
        ["storage", "storage"],
        ["aggregators-p2", "supervisor"],
        ["greenhouse-1", "aggregator"]
      ])
      assert.strictEqual(registry.devicesOf(2), devices)
      const message = yield* registry.restart("greenhouse-1")
      assert.include(message, "restarted partition-2")
      yield* Effect.yieldNow
      assert.strictEqual(starts, 2)
      const storage = yield* Effect.result(registry.restart("storage"))
      assert.isTrue(Result.isFailure(storage) && storage.failure.reason === "BadRequest")
      const nobody = yield* Effect.result(registry.restart("nobody"))
      assert.isTrue(Result.isFailure(nobody) && nobody.failure.reason === "NotFound")
    }))
})
