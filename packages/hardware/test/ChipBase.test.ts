import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { resolveChipBase, sysfsGpioNumber } from "@bramble/hardware"

/** A fake /sys/class/gpio with the given chips, removed when the test's scope closes. */
const fakeSysfs = (chips: ReadonlyArray<{ name: string; base: number; ngpio: number; label: string }>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const root = mkdtempSync(join(tmpdir(), "bramble-sysfs-"))
      writeFileSync(join(root, "export"), "")
      writeFileSync(join(root, "unexport"), "")
      for (const chip of chips) {
        const dir = join(root, chip.name)
        mkdirSync(dir)
        writeFileSync(join(dir, "base"), `${chip.base}\n`)
        writeFileSync(join(dir, "ngpio"), `${chip.ngpio}\n`)
        writeFileSync(join(dir, "label"), `${chip.label}\n`)
      }
      return root
    }),
    (root) => Effect.sync(() => rmSync(root, { recursive: true, force: true }))
  )

describe("chip base", () => {
  it.effect("chip base - a 6.6 kernel's RP1 controller at base 512 is found among other chips", () =>
    Effect.gen(function*() {
      const root = yield* fakeSysfs([
        { name: "gpiochip512", base: 512, ngpio: 54, label: "pinctrl-rp1" },
        { name: "gpiochip566", base: 566, ngpio: 32, label: "gpio-brcmstb@107d508500" },
        { name: "gpiochip598", base: 598, ngpio: 4, label: "gpio-brcmstb@107d517c00" }
      ])
      const chip = yield* resolveChipBase({ sysfsRoot: root })
      assert.deepStrictEqual(chip, { name: "gpiochip512", base: 512, ngpio: 54, label: "pinctrl-rp1" })
      assert.strictEqual(sysfsGpioNumber(chip, 17), 529)
    }))

  it.effect("chip base - a Pi 4 on 6.6 uses pinctrl-bcm2711 at 512, not the firmware expander", () =>
    Effect.gen(function*() {
      const root = yield* fakeSysfs([
        { name: "gpiochip570", base: 570, ngpio: 8, label: "raspberrypi-exp-gpio" },
        { name: "gpiochip512", base: 512, ngpio: 58, label: "pinctrl-bcm2711" }
      ])
      assert.strictEqual((yield* resolveChipBase({ sysfsRoot: root })).base, 512)
    }))

  it.effect("chip base - an older kernel numbers the BCM2835 controller from 0", () =>
    Effect.gen(function*() {
      const root = yield* fakeSysfs([
        { name: "gpiochip0", base: 0, ngpio: 54, label: "pinctrl-bcm2835" },
        { name: "gpiochip504", base: 504, ngpio: 8, label: "raspberrypi-exp-gpio" }
      ])
      const chip = yield* resolveChipBase({ sysfsRoot: root })
      assert.strictEqual(chip.base, 0)
      assert.strictEqual(sysfsGpioNumber(chip, 17), 17)
    }))

  it.effect("chip base - an unknown label falls back to the lowest chip with at least 28 lines", () =>
    Effect.gen(function*() {
      const root = yield* fakeSysfs([
        { name: "gpiochip600", base: 600, ngpio: 8, label: "expander" },
        { name: "gpiochip540", base: 540, ngpio: 32, label: "some-other-gpio" },
        { name: "gpiochip500", base: 500, ngpio: 40, label: "future-pinctrl" }
      ])
      assert.strictEqual((yield* resolveChipBase({ sysfsRoot: root })).base, 500)
    }))

  it.effect("chip base - no gpiochip fails with HardwareUnavailable that suggests the simulator", () =>
    Effect.gen(function*() {
      const empty = yield* fakeSysfs([])
      const error = yield* Effect.flip(resolveChipBase({ sysfsRoot: empty }))
      assert.strictEqual(error._tag, "HardwareUnavailable")
      assert.strictEqual(error.reason, "NoSysfsGpio")
      assert.include(error.message, "not a Raspberry Pi")
      assert.include(error.message, "simulated-dht22")
      assert.include(error.message, "--simulate")

      const missing = yield* Effect.flip(resolveChipBase({ sysfsRoot: join(empty, "does-not-exist") }))
      assert.strictEqual(missing.reason, "NoSysfsGpio")

      const onlySmall = yield* fakeSysfs([{ name: "gpiochip0", base: 0, ngpio: 8, label: "expander" }])
      const small = yield* Effect.flip(resolveChipBase({ sysfsRoot: onlySmall }))
      assert.strictEqual(small.reason, "NoSysfsGpio")
      assert.include(small.message, "gpiochip0")
    }))
})
