import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { countEdges, type GpioEdgeEvent, GpioDriver, type GpioInput, SimulatedGpio } from "@bramble/hardware"

const simulated = GpioDriver.layerSimulated()

/** Lets forked watchers subscribe before the test injects edges. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 10; i++) yield* Effect.yieldNow
})

/** Collects an input's edges in the background; `stop` interrupts and returns them. */
const collect = (input: GpioInput) =>
  Effect.gen(function*() {
    const events: Array<GpioEdgeEvent> = []
    const fiber = yield* Effect.forkChild(
      Stream.runForEach(input.watch, (event) =>
        Effect.sync(() => {
          events.push(event)
        }))
    )
    yield* settle
    return { events, fiber }
  })

describe("simulated GPIO input", () => {
  it.effect("gpio - debounce collapses a bouncing press and release into one edge each", () =>
    Effect.gen(function*() {
      const driver = yield* GpioDriver
      const world = yield* SimulatedGpio
      const button = yield* driver.openInput({ pin: 17, edge: "both", debounceMs: 20 })
      const { events } = yield* collect(button)

      yield* TestClock.adjust(1_000)
      yield* Effect.forkChild(world.press(17, { bounces: 4, bounceGapMs: 1, holdMs: 200 }))
      yield* TestClock.adjust(2_000)

      // Press: edges at 1000..1008, settled at 1; release: edges from 1208, settled at 0.
      assert.deepStrictEqual(events, [{ value: 1, atMs: 1_000 }, { value: 0, atMs: 1_208 }])
      assert.strictEqual(yield* button.read, 0)
    }).pipe(Effect.provide(simulated)))

  it.effect("gpio - a rising-edge input reports each press once, stamped with its first edge", () =>
    Effect.gen(function*() {
      const driver = yield* GpioDriver
      const world = yield* SimulatedGpio
      const button = yield* driver.openInput({ pin: 5, edge: "rising", debounceMs: 30, activeLow: true })
      const { events } = yield* collect(button)
      for (const at of [100, 600, 1_100]) {
        yield* TestClock.setTime(at)
        yield* Effect.forkChild(world.press(5, { bounces: 5, bounceGapMs: 2, holdMs: 150 }))
        yield* TestClock.adjust(400)
      }
      assert.deepStrictEqual(events, [{ value: 1, atMs: 100 }, { value: 1, atMs: 600 }, { value: 1, atMs: 1_100 }])
    }).pipe(Effect.provide(simulated)))

  it.effect("gpio - a glitch that returns to idle within the debounce reports nothing", () =>
    Effect.gen(function*() {
      const driver = yield* GpioDriver
      const world = yield* SimulatedGpio
      const input = yield* driver.openInput({ pin: 6, edge: "rising", debounceMs: 25 })
      const both = yield* driver.openInput({ pin: 7, edge: "both", debounceMs: 25 })
      const rising = yield* collect(input)
      const changes = yield* collect(both)
      for (const pin of [6, 7]) {
        yield* world.setValue(pin, 1)
        yield* TestClock.adjust(3)
        yield* world.setValue(pin, 0)
      }
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(rising.events, [])
      assert.deepStrictEqual(changes.events, [])
    }).pipe(Effect.provide(simulated)))

  it.effect("gpio - without debounce every edge is reported", () =>
    Effect.gen(function*() {
      const driver = yield* GpioDriver
      const world = yield* SimulatedGpio
      const input = yield* driver.openInput({ pin: 8, edge: "both", debounceMs: 0 })
      const { events } = yield* collect(input)
      yield* Effect.forkChild(world.press(8, { bounces: 2, bounceGapMs: 1, holdMs: 10 }))
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(events.map((e) => e.value), [1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    }).pipe(Effect.provide(simulated)))

  it.effect("gpio - an active-low input reads 1 while the line is pulled low", () =>
    Effect.gen(function*() {
      const driver = yield* GpioDriver
      const world = yield* SimulatedGpio
      const button = yield* driver.openInput({ pin: 9, edge: "both", debounceMs: 10, activeLow: true })
      assert.strictEqual(yield* button.read, 0)
      assert.strictEqual(yield* world.level(9), 1)
      yield* world.setValue(9, 1)
      assert.strictEqual(yield* button.read, 1)
      assert.strictEqual(yield* world.level(9), 0)
    }).pipe(Effect.provide(simulated)))

  it.effect("gpio - countEdges counts presses and take resets the count", () =>
    Effect.gen(function*() {
      const driver = yield* GpioDriver
      const world = yield* SimulatedGpio
      const gauge = yield* driver.openInput({ pin: 23, edge: "falling", debounceMs: 15 })
      const counter = yield* countEdges(gauge)
      yield* settle
      const tips = Effect.forkChild(Effect.forEach(Array.from({ length: 5 }), () =>
        Effect.andThen(world.press(23, { holdMs: 50 }), Effect.sleep(100))))
      yield* tips
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* counter.take, 5)
      assert.strictEqual(yield* counter.count, 0)
      yield* tips
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* counter.count, 5)
    }).pipe(Effect.provide(simulated)))

  it.effect("gpio - the random press generator is deterministic per seed and near its mean rate", () =>
    Effect.gen(function*() {
      const run = Effect.gen(function*() {
        const driver = yield* GpioDriver
        const button = yield* driver.openInput({ pin: 12, edge: "rising", debounceMs: 20 })
        const { events } = yield* collect(button)
        yield* TestClock.adjust("200 seconds")
        return events
      }).pipe(Effect.scoped, Effect.provide(GpioDriver.layerSimulated({ randomPresses: { meanIntervalMs: 2_000, seed: 9 } })))
      const first = yield* run
      yield* TestClock.setTime(0)
      const again = yield* run
      assert.deepStrictEqual(again, first)
      assert.isTrue(first.length > 50 && first.length < 150, `${first.length} presses in 200 s`)
    }))
})

describe("simulated GPIO output", () => {
  it.effect("gpio - an output records every write and reads back what it drives", () =>
    Effect.gen(function*() {
      const driver = yield* GpioDriver
      const world = yield* SimulatedGpio
      const relay = yield* driver.openOutput({ pin: 18, initial: 1 })
      assert.strictEqual(yield* relay.read, 1)
      yield* TestClock.adjust(10)
      yield* relay.write(0)
      yield* TestClock.adjust(10)
      yield* relay.write(1)
      assert.strictEqual(yield* relay.read, 1)
      assert.deepStrictEqual(yield* world.writes(18), [
        { value: 0, level: 0, atMs: 10 },
        { value: 1, level: 1, atMs: 20 }
      ])

      const led = yield* driver.openOutput({ pin: 24, activeLow: true })
      assert.strictEqual(yield* world.level(24), 1)
      yield* led.write(1)
      assert.strictEqual(yield* world.level(24), 0)
    }).pipe(Effect.provide(simulated)))
})

describe("simulated GPIO scopes", () => {
  it.effect("gpio - closing the scope releases pins, which can then be opened again", () =>
    Effect.gen(function*() {
      const driver = yield* GpioDriver
      const world = yield* SimulatedGpio
      const [input, output] = yield* Effect.scoped(Effect.gen(function*() {
        const input = yield* driver.openInput({ pin: 17, edge: "both", debounceMs: 10 })
        const output = yield* driver.openOutput({ pin: 18, safeValue: 0 })
        yield* output.write(1)
        assert.deepStrictEqual(yield* world.openPins, [17, 18])
        const busy = yield* Effect.flip(driver.openOutput({ pin: 17 }))
        assert.strictEqual(busy._tag === "GpioError" ? busy.reason : busy._tag, "Busy")
        return [input, output] as const
      }))
      assert.deepStrictEqual(yield* world.openPins, [])
      // The safe value was driven on release.
      assert.deepStrictEqual((yield* world.writes(18)).map((w) => w.value), [1, 0])
      // Stale handles are bugs, reported as defects.
      assert.isTrue(Exit.hasDies(yield* Effect.exit(input.read)))
      assert.isTrue(Exit.hasDies(yield* Effect.exit(output.write(1))))
      // Released pins open again.
      yield* Effect.scoped(driver.openOutput({ pin: 17 }))
    }).pipe(Effect.provide(simulated)))

  it.effect("gpio - a running watch ends when its input's scope closes", () =>
    Effect.gen(function*() {
      const driver = yield* GpioDriver
      const watcher = yield* Effect.scoped(Effect.gen(function*() {
        const input = yield* driver.openInput({ pin: 4, edge: "both", debounceMs: 5 })
        const { fiber } = yield* collect(input)
        return fiber
      }))
      yield* TestClock.adjust(100)
      // Fiber.await would hang here if the watch outlived its pin.
      const exit = yield* Fiber.await(watcher)
      assert.isTrue(Exit.isSuccess(exit), String(exit))
    }).pipe(Effect.provide(simulated)))

  it.effect("gpio - pins outside the header are refused", () =>
    Effect.gen(function*() {
      const driver = yield* GpioDriver
      const error = yield* Effect.flip(driver.openInput({ pin: 40, edge: "both", debounceMs: 0 }))
      assert.strictEqual(error._tag === "GpioError" ? error.reason : error._tag, "InvalidPin")
    }).pipe(Effect.provide(simulated)))
})
