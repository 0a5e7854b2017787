import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Queue, Stream } from "effect"
import { alarmFilters, AlarmSet, makeActuatorStats, runActuator } from "@bramble/actor-actuator"
import { GpioDriver, SimulatedGpio } from "@bramble/hardware"
import type { Alarm } from "@bramble/protocol"

const alarm = (device: string, rule: string, state: Alarm["state"], at: number): Alarm => ({ device, rule, state, message: `${rule} ${state}`, at })

const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("actuator", () => {
  it("alarm set - on while any watched alarm is raised, off when all are cleared; other alarms and stale events change nothing", () => {
    const set = new AlarmSet([{ rule: "refuel" }, { rule: "sensor-fault", device: "gh-1" }])
    assert.isFalse(set.apply(alarm("gen-1", "stale", "raised", 1)), "not watched")
    assert.isFalse(set.apply(alarm("gh-2", "sensor-fault", "raised", 1)), "another device")
    assert.isTrue(set.apply(alarm("gen-1", "refuel", "raised", 10)))
    assert.isFalse(set.apply(alarm("gh-1", "sensor-fault", "raised", 11)), "already on")
    assert.deepStrictEqual(set.raised, ["gen-1.refuel", "gh-1.sensor-fault"])
    assert.isFalse(set.apply(alarm("gen-1", "refuel", "cleared", 12)), "gh-1 still raised")
    assert.isFalse(set.apply(alarm("gh-1", "sensor-fault", "cleared", 5)), "older than the raise: ignored")
    assert.isTrue(set.on)
    assert.isTrue(set.apply(alarm("gh-1", "sensor-fault", "cleared", 13)))
    assert.isFalse(set.on)
  })

  it("alarm filters - one ALARMS subject per matcher, with a wildcard for every device", () => {
    assert.deepStrictEqual(alarmFilters([{ rule: "refuel" }, { rule: "sensor-fault", device: "gh-1" }, { rule: "refuel" }]), [
      "alarms.*.refuel",
      "alarms.gh-1.sensor-fault"
    ])
  })

  it.effect("actuator - drives the output from alarm events and writes it off (safe value) when it stops", () =>
    Effect.gen(function*() {
      const world = yield* SimulatedGpio
      const events = yield* Queue.unbounded<Alarm>()
      const stats = makeActuatorStats({ name: "lamp", pin: 18 })
      const actor = yield* Effect.forkChild(Effect.scoped(runActuator({
        spec: { name: "lamp", pin: 18, activeLow: true, on: [{ rule: "refuel" }] },
        alarms: Stream.fromQueue(events),
        stats
      })))
      yield* settle
      assert.deepStrictEqual(yield* world.openPins, [18])
      for (const event of [alarm("gen-1", "refuel", "raised", 1), alarm("gen-2", "refuel", "raised", 2), alarm("gen-1", "refuel", "cleared", 3), alarm("gen-2", "refuel", "cleared", 4), alarm("gen-2", "refuel", "raised", 5)]) {
        yield* Queue.offer(events, event)
        yield* settle
      }
      assert.deepStrictEqual(stats.raised, ["gen-2.refuel"])
      assert.strictEqual(stats.value, 1)
      assert.strictEqual(stats.events, 5)
      // Active low: on drives the pin low.
      assert.strictEqual(yield* world.level(18), 0)
      yield* Fiber.interrupt(actor)
      const writes = yield* world.writes(18)
      assert.deepStrictEqual(writes.map((w) => w.value), [1, 0, 1, 0], "on, off, on, then the safe value on release")
      assert.deepStrictEqual(writes.map((w) => w.level), [0, 1, 0, 1])
      assert.deepStrictEqual(yield* world.openPins, [], "the pin is released")
    }).pipe(Effect.provide(GpioDriver.layerSimulated())))

  it.effect("actuator - a failing alarm feed fails the actor (for its supervisor) and still leaves the output off", () =>
    Effect.gen(function*() {
      const world = yield* SimulatedGpio
      const feed = Stream.make(alarm("gen-1", "refuel", "raised", 1)).pipe(Stream.concat(Stream.fail("feed lost" as const)))
      const exit = yield* Effect.exit(Effect.scoped(runActuator({ spec: { name: "lamp", pin: 23, activeLow: false, on: [{ rule: "refuel" }] }, alarms: feed })))
      assert.strictEqual(exit._tag, "Failure")
      assert.deepStrictEqual((yield* world.writes(23)).map((w) => w.value), [1, 0])
    }).pipe(Effect.provide(GpioDriver.layerSimulated())))
})
