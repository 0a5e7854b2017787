// These run on the test machine, which is not a Raspberry Pi: the real drivers must fail
// with a typed, helpful error, and must not have loaded the native addons to find out.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { DhtDriver, GpioDriver } from "@bramble/hardware"

const isPi = existsSync("/proc/device-tree/model") || existsSync("/sys/class/gpio/export")
const loadedNative = () =>
  Object.keys(createRequire(import.meta.url).cache).filter((path) => /node-dht-sensor|[/\\]onoff[/\\]|[/\\]epoll[/\\]/.test(path))

describe.skipIf(isPi)("real drivers off a Pi", () => {
  it.effect("real dht - opening a sensor off a Pi fails with HardwareUnavailable, not a crash", () =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      const error = yield* Effect.flip(driver.open({ model: "dht22", pin: 4 }))
      assert.strictEqual(error._tag, "HardwareUnavailable")
      if (error._tag !== "HardwareUnavailable") return
      assert.strictEqual(error.reason, "NotRaspberryPi")
      assert.include(error.message, "not a Raspberry Pi")
      assert.include(error.message, "kind: simulated-dht22")
      assert.include(error.message, "--simulate")
      // Asking again gives the same answer.
      const again = yield* Effect.flip(driver.open({ model: "dht11", pin: 17 }))
      assert.strictEqual(again._tag, "HardwareUnavailable")
      assert.deepStrictEqual(loadedNative(), [])
    }).pipe(Effect.provide(DhtDriver.layerNodeDht)))

  it.effect("real gpio - opening pins off a Pi fails with HardwareUnavailable, not a crash", () =>
    Effect.gen(function*() {
      const driver = yield* GpioDriver
      const input = yield* Effect.flip(driver.openInput({ pin: 17, edge: "both", debounceMs: 20 }))
      const output = yield* Effect.flip(driver.openOutput({ pin: 18 }))
      for (const error of [input, output]) {
        assert.strictEqual(error._tag, "HardwareUnavailable")
        if (error._tag !== "HardwareUnavailable") return
        assert.strictEqual(error.reason, "NoSysfsGpio")
        assert.include(error.message, "not a Raspberry Pi")
        assert.include(error.message, "simulated")
      }
      assert.deepStrictEqual(loadedNative(), [])
    }).pipe(Effect.provide(GpioDriver.layerOnoff)))

  it.effect("real dht - a pin that is not a header GPIO is NoDevice before any hardware check", () =>
    Effect.gen(function*() {
      const driver = yield* DhtDriver
      const error = yield* Effect.flip(driver.open({ model: "dht22", pin: 40 }))
      assert.strictEqual(error._tag === "DhtReadError" ? error.reason : error._tag, "NoDevice")
    }).pipe(Effect.provide(DhtDriver.layerNodeDht)))
})
