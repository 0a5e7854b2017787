// The real GPIO driver against a fake onoff class and a fake sysfs tree: what the driver
// asks of onoff (sysfs numbers, directions, the safe value before unexport) is otherwise
// only seen on a Pi, which CI is not.
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Gpio } from "onoff"
import type { GpioEdgeEvent, GpioValue } from "../src/Gpio.js"
import { makeOnoffGpioDriver } from "../src/internal/onoffGpio.js"

/** A Pi 5 on a 6.6 kernel: BCM 17 is sysfs 529. Removed when the test's scope closes. */
const fakeSysfs = Effect.acquireRelease(
  Effect.sync(() => {
    const root = mkdtempSync(join(tmpdir(), "bramble-onoff-"))
    writeFileSync(join(root, "export"), "")
    const chip = join(root, "gpiochip512")
    mkdirSync(chip)
    writeFileSync(join(chip, "base"), "512\n")
    writeFileSync(join(chip, "ngpio"), "54\n")
    writeFileSync(join(chip, "label"), "pinctrl-rp1\n")
    return root
  }),
  (root) => Effect.sync(() => rmSync(root, { recursive: true, force: true }))
)

type Listener = (error: Error | null | undefined, value: GpioValue) => void

/** A stand-in for onoff's Gpio that records what is asked of it, in order, in `log`. */
const fakeOnoff = () => {
  const log: Array<string> = []
  const pins: Array<FakeGpio> = []
  let throwOnConstruct: unknown = undefined
  class FakeGpio {
    static accessible = true
    value: GpioValue = 0
    readonly listeners = new Set<Listener>()
    readonly args: ReadonlyArray<unknown>
    constructor(sysfs: number, direction: string, edge?: string, options?: { readonly activeLow?: boolean }) {
      if (throwOnConstruct !== undefined) throw throwOnConstruct
      this.args = [sysfs, direction, edge, options]
      pins.push(this)
      log.push(`new ${sysfs} ${direction}`)
    }
    read() {
      return Promise.resolve(this.value)
    }
    write(value: GpioValue) {
      log.push(`write ${value}`)
      this.value = value
      return Promise.resolve()
    }
    writeSync(value: GpioValue) {
      log.push(`writeSync ${value}`)
      this.value = value
    }
    watch(listener: Listener) {
      this.listeners.add(listener)
    }
    unwatch(listener: Listener) {
      log.push("unwatch")
      this.listeners.delete(listener)
    }
    /** What onoff does on an interrupt: calls every watcher with the value it read. */
    fire(value: GpioValue) {
      this.value = value
      for (const listener of this.listeners) listener(null, value)
    }
    unexport() {
      log.push(`unexport ${this.args[0]}`)
    }
  }
  let loads = 0
  const load = Effect.sync(() => {
    loads += 1
    return FakeGpio as unknown as typeof Gpio
  })
  return {
    FakeGpio,
    log,
    pins,
    load,
    loads: () => loads,
    throwOnConstruct: (error: unknown) => {
      throwOnConstruct = error
    }
  }
}

/** The real driver over a fresh fake onoff and fake sysfs tree. */
const fakeDriver = Effect.gen(function*() {
  const onoff = fakeOnoff()
  return { onoff, driver: yield* makeOnoffGpioDriver(yield* fakeSysfs, onoff.load) }
})

const errno = (code: string) => Object.assign(new Error(`${code}: fake`), { code })

const usedAfterClose = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && Cause.hasDies(exit.cause) &&
  String((Cause.squash(exit.cause) as Error).message).includes("used after its scope closed")

describe("onoff GPIO driver", () => {
  it.effect("onoff gpio - an output starts at its electrical level and writes its safe value before unexport", () =>
    Effect.gen(function*() {
      const { driver, onoff } = yield* fakeDriver
      const scope = yield* Scope.make()
      const relay = yield* driver.openOutput({ pin: 17, initial: 1, activeLow: true, safeValue: 0 }).pipe(
        Scope.provide(scope)
      )
      // Logical 1 on an active-low pin is the low level, set as the pin becomes an output.
      assert.deepStrictEqual(onoff.pins[0]?.args, [529, "low", undefined, { activeLow: true }])
      yield* relay.write(0)
      assert.strictEqual(yield* relay.read, 0)
      yield* relay.write(1)
      yield* Scope.close(scope, Exit.void)

      assert.deepStrictEqual(onoff.log, ["new 529 low", "write 0", "write 1", "writeSync 0", "unexport 529"])
      assert.isTrue(usedAfterClose(yield* Effect.exit(relay.write(1))))
      assert.isTrue(usedAfterClose(yield* Effect.exit(relay.read)))
    }).pipe(Effect.scoped))

  it.effect("onoff gpio - an output with no safe value is only unexported", () =>
    Effect.gen(function*() {
      const { driver, onoff } = yield* fakeDriver
      yield* Effect.scoped(driver.openOutput({ pin: 4 }))
      assert.deepStrictEqual(onoff.pins[0]?.args, [516, "low", undefined, { activeLow: false }])
      assert.deepStrictEqual(onoff.log, ["new 516 low", "unexport 516"])
    }).pipe(Effect.scoped))

  it.effect("onoff gpio - an input reports onoff's interrupts, and closing its scope ends the watch", () =>
    Effect.gen(function*() {
      const { driver, onoff } = yield* fakeDriver
      const scope = yield* Scope.make()
      const button = yield* driver.openInput({ pin: 22, edge: "both", debounceMs: 0 }).pipe(Scope.provide(scope))
      assert.deepStrictEqual(onoff.pins[0]?.args, [534, "in", "both", { activeLow: false }])
      const pin = onoff.pins[0]!

      const events: Array<GpioEdgeEvent> = []
      const watching = yield* Effect.forkChild(Stream.runForEach(button.watch, (event) =>
        Effect.sync(() => {
          events.push(event)
        })))
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      assert.strictEqual(pin.listeners.size, 1)

      yield* TestClock.adjust(1_000)
      pin.fire(1)
      yield* TestClock.adjust(500)
      pin.fire(0)
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      assert.deepStrictEqual(events, [{ value: 1, atMs: 1_000 }, { value: 0, atMs: 1_500 }])
      assert.strictEqual(yield* button.read, 0)

      yield* Scope.close(scope, Exit.void)
      // The watch ends by itself, and does not unwatch a pin that is already unexported.
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(watching)))
      assert.deepStrictEqual(onoff.log, ["new 534 in", "unexport 534"])
      assert.isTrue(usedAfterClose(yield* Effect.exit(button.read)))
    }).pipe(Effect.scoped))

  it.effect("onoff gpio - a pin open in this process is Busy until its scope closes", () =>
    Effect.gen(function*() {
      const { driver, onoff } = yield* fakeDriver
      const scope = yield* Scope.make()
      yield* driver.openOutput({ pin: 17 }).pipe(Scope.provide(scope))
      const again = yield* Effect.flip(Effect.scoped(driver.openInput({ pin: 17, edge: "rising", debounceMs: 0 })))
      assert.strictEqual(again._tag === "GpioError" ? again.reason : again._tag, "Busy")
      assert.include(again.message, "already open in this process")
      yield* Scope.close(scope, Exit.void)
      yield* Effect.scoped(driver.openInput({ pin: 17, edge: "rising", debounceMs: 0 }))
      assert.deepStrictEqual(onoff.log, ["new 529 low", "unexport 529", "new 529 in", "unexport 529"])
      // onoff is loaded once, however many pins are opened.
      assert.strictEqual(onoff.loads(), 1)
    }).pipe(Effect.scoped))

  it.effect("onoff gpio - what onoff throws on open becomes a typed error and leaves the pin free", () =>
    Effect.gen(function*() {
      const { driver, onoff } = yield* fakeDriver
      const cases = [
        ["EBUSY", "GpioError", "Busy", "claimed by another process"],
        ["EINVAL", "GpioError", "InvalidPin", "refused sysfs GPIO 529"],
        ["EACCES", "HardwareUnavailable", "PermissionDenied", "permission denied"],
        ["EIO", "GpioError", "Io", "cannot open GPIO 17"]
      ] as const
      for (const [code, tag, reason, text] of cases) {
        onoff.throwOnConstruct(errno(code))
        const error = yield* Effect.flip(Effect.scoped(driver.openOutput({ pin: 17 })))
        assert.strictEqual(error._tag, tag)
        assert.strictEqual(error.reason, reason)
        assert.include(error.message, text)
      }
      onoff.throwOnConstruct(undefined)
      yield* Effect.scoped(driver.openOutput({ pin: 17 }))
      assert.deepStrictEqual(onoff.log, ["new 529 low", "unexport 529"])
    }).pipe(Effect.scoped))

  it.effect("onoff gpio - onoff finding sysfs not writable is PermissionDenied before any pin is made", () =>
    Effect.gen(function*() {
      const { driver, onoff } = yield* fakeDriver
      onoff.FakeGpio.accessible = false
      const error = yield* Effect.flip(Effect.scoped(driver.openInput({ pin: 17, edge: "both", debounceMs: 0 })))
      assert.strictEqual(error._tag === "HardwareUnavailable" ? error.reason : error._tag, "PermissionDenied")
      assert.deepStrictEqual(onoff.log, [])
    }).pipe(Effect.scoped))
})
