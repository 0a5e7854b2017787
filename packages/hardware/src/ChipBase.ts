/**
 * Where BCM GPIO 0 lives in the sysfs GPIO numbering. Kernels before 6.6 numbered the
 * Pi's main controller from 0, so sysfs GPIO 17 was BCM 17; from 6.6 (and on every Pi 5)
 * dynamic numbering puts it at a chip base such as 512, and `echo 17 > export` fails
 * with EINVAL. The base is read from each gpiochip's `base`, `label` and `ngpio` files,
 * so users never have to know which kernel they run.
 */
import { Effect } from "effect"
import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { type HardwareUnavailable, hardwareUnavailable } from "./HardwareUnavailable.js"

/** Where sysfs GPIO lives on Linux. */
export const DEFAULT_SYSFS_GPIO_ROOT = "/sys/class/gpio"

/**
 * Labels of the controllers that drive the 40-pin header, most specific first:
 * Pi 5 (RP1), Pi 4 (BCM2711), Pi 1-3 and Zero (BCM2835 driver).
 */
export const PI_GPIO_LABELS: ReadonlyArray<string> = ["pinctrl-rp1", "pinctrl-bcm2711", "pinctrl-bcm2835"]

/** A GPIO controller as sysfs describes it. */
export interface GpioChip {
  /** Directory name, e.g. `gpiochip512`. */
  readonly name: string
  readonly base: number
  readonly ngpio: number
  readonly label: string
}

const readText = (path: string) => readFile(path, "utf8").then((text) => text.trim())

/** Every `gpiochip*` under `sysfsRoot`; empty when there is no sysfs GPIO. */
export const listGpioChips = (sysfsRoot: string = DEFAULT_SYSFS_GPIO_ROOT): Effect.Effect<ReadonlyArray<GpioChip>> =>
  Effect.promise(async () => {
    let names: Array<string>
    try {
      names = (await readdir(sysfsRoot)).filter((name) => name.startsWith("gpiochip"))
    } catch {
      return []
    }
    const chips: Array<GpioChip> = []
    for (const name of names.sort()) {
      try {
        const [base, ngpio, label] = await Promise.all([
          readText(join(sysfsRoot, name, "base")),
          readText(join(sysfsRoot, name, "ngpio")),
          readText(join(sysfsRoot, name, "label"))
        ])
        const chip = { name, base: Number(base), ngpio: Number(ngpio), label }
        if (Number.isInteger(chip.base) && Number.isInteger(chip.ngpio)) chips.push(chip)
      } catch {
        // An unreadable or half-described chip cannot be the one we want.
      }
    }
    return chips
  })

/**
 * The chip that drives the header: the first whose label is a Pi controller, else the
 * lowest-based chip with at least 28 lines (BCM 0..27).
 */
export const pickHeaderChip = (chips: ReadonlyArray<GpioChip>): GpioChip | undefined => {
  for (const label of PI_GPIO_LABELS) {
    const chip = chips.find((candidate) => candidate.label === label)
    if (chip !== undefined) return chip
  }
  return [...chips].filter((chip) => chip.ngpio >= 28).sort((a, b) => a.base - b.base)[0]
}

/** The header's GPIO chip under `sysfsRoot`, or `HardwareUnavailable` when there is none. */
export const resolveChipBase = (
  options: { readonly sysfsRoot?: string } = {}
): Effect.Effect<GpioChip, HardwareUnavailable> => {
  const sysfsRoot = options.sysfsRoot ?? DEFAULT_SYSFS_GPIO_ROOT
  return Effect.flatMap(listGpioChips(sysfsRoot), (chips) => {
    const chip = pickHeaderChip(chips)
    return chip !== undefined
      ? Effect.succeed(chip)
      : Effect.fail(hardwareUnavailable(
        "NoSysfsGpio",
        chips.length === 0
          ? `No sysfs GPIO at ${sysfsRoot}: this is not a Raspberry Pi (or the kernel has no sysfs GPIO).`
          : `No GPIO controller for the 40-pin header under ${sysfsRoot} (found ` +
            `${chips.map((chip) => `${chip.name} "${chip.label}"`).join(", ")}): this does not look like a Raspberry Pi.`
      ))
  })
}

/** The sysfs GPIO number of a BCM pin on `chip`. */
export const sysfsGpioNumber = (chip: GpioChip, bcmPin: number): number => chip.base + bcmPin
