/**
 * GPIO on real hardware, through onoff (sysfs GPIO). The only place that touches onoff:
 * it is loaded on the first open, after the sysfs checks, and its exceptions become
 * typed errors here, once. BCM pin numbers are translated with the chip base, and every
 * pin is unexported when its scope closes, so a stopped node leaves no pins claimed.
 *
 * Debouncing is done by the shared edge pipeline, not by onoff's `debounceTimeout`, so
 * real and simulated inputs report identical edges for identical signals.
 */
import { Cause, Clock, Effect, Queue, Stream } from "effect"
import { constants } from "node:fs"
import { access } from "node:fs/promises"
import { createRequire } from "node:module"
import { join } from "node:path"
import type { Gpio as OnoffGpio } from "onoff"
import { DEFAULT_SYSFS_GPIO_ROOT, resolveChipBase, sysfsGpioNumber } from "../ChipBase.js"
import { checkGpioPin, type GpioEdgeEvent, GpioError, type GpioInput, type GpioOutput, type GpioValue } from "../Gpio.js"
import type { GpioDriverShape } from "../GpioDriver.js"
import { type HardwareUnavailable, hardwareUnavailable } from "../HardwareUnavailable.js"
import { debouncedEdges } from "./edges.js"

type OnoffGpioClass = typeof OnoffGpio

const GROUP_HINT = "Add the user to group `gpio` (`sudo usermod -aG gpio $USER`, then log in again)."

const errnoOf = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined

const describe = (cause: unknown) => cause instanceof Error ? cause.message : String(cause)

/** sysfs GPIO must exist and be writable before onoff is asked to export anything. */
const checkExportAccess = (sysfsRoot: string): Effect.Effect<void, HardwareUnavailable> =>
  Effect.flatMap(
    Effect.promise(() => access(join(sysfsRoot, "export"), constants.W_OK).then(() => undefined, errnoOf)),
    (code) =>
      code === undefined
        ? Effect.void
        : Effect.fail(
          code === "EACCES" || code === "EPERM"
            ? hardwareUnavailable(
              "PermissionDenied",
              `Cannot use GPIO: permission denied on ${sysfsRoot}/export. ${GROUP_HINT}`
            )
            : hardwareUnavailable(
              "NoSysfsGpio",
              `Cannot use GPIO: ${sysfsRoot}/export is missing (${code}): this is not a Raspberry Pi ` +
                "(or the kernel has no sysfs GPIO)."
            )
        )
  )

const loadOnoff: Effect.Effect<OnoffGpioClass, HardwareUnavailable> = Effect.try({
  try: () => (createRequire(import.meta.url)("onoff") as { readonly Gpio: OnoffGpioClass }).Gpio,
  catch: (cause) =>
    hardwareUnavailable(
      "NativeAddon",
      `Cannot use GPIO: onoff (or its native dependency epoll) did not load (${describe(cause)}). ` +
        "Build it on the Pi: `sudo apt install build-essential python3`, then `npm rebuild onoff epoll`.",
      cause
    )
})

/** Maps what `new Gpio(...)` throws: usually EBUSY, EINVAL or EACCES from sysfs. */
const toOpenError = (pin: number, sysfs: number) => (cause: unknown): GpioError | HardwareUnavailable => {
  switch (errnoOf(cause)) {
    case "EACCES":
    case "EPERM":
      return hardwareUnavailable(
        "PermissionDenied",
        `Cannot open GPIO ${pin} (sysfs ${sysfs}): permission denied. ${GROUP_HINT}`,
        cause
      )
    case "EBUSY":
      return new GpioError({
        reason: "Busy",
        pin,
        message: `GPIO ${pin} (sysfs ${sysfs}) is claimed by another process or a kernel driver ` +
          `(1-Wire, I2C, SPI overlays): ${describe(cause)}`,
        cause
      })
    case "EINVAL":
      return new GpioError({
        reason: "InvalidPin",
        pin,
        message: `the kernel refused sysfs GPIO ${sysfs} for BCM ${pin}: ${describe(cause)}`,
        cause
      })
    default:
      return new GpioError({ reason: "Io", pin, message: `cannot open GPIO ${pin}: ${describe(cause)}`, cause })
  }
}

const ioError = (pin: number, what: string) => (cause: unknown) =>
  new GpioError({ reason: "Io", pin, message: `${what} GPIO ${pin} failed: ${describe(cause)}`, cause })

/**
 * The real driver. Construction touches nothing; each open checks the machine first.
 * `loadGpio` is where the onoff class comes from; tests pass a fake, as there is no Pi
 * to run them on.
 */
export const makeOnoffGpioDriver = Effect.fn("GpioDriver.makeOnoffGpioDriver")(function*(
  sysfsRoot: string = DEFAULT_SYSFS_GPIO_ROOT,
  loadGpio: Effect.Effect<OnoffGpioClass, HardwareUnavailable> = loadOnoff
): Effect.fn.Return<GpioDriverShape> {
  const Gpio = yield* Effect.cached(loadGpio)
  const claimed = new Set<number>()

  /** Checks the machine and the pin, loads onoff; returns the class and the sysfs number. */
  const prepare = (pin: number) =>
    Effect.gen(function*() {
      yield* checkGpioPin(pin)
      const chip = yield* resolveChipBase({ sysfsRoot })
      if (pin >= chip.ngpio) {
        return yield* new GpioError({
          reason: "InvalidPin",
          pin,
          message: `GPIO ${pin} is beyond ${chip.name} "${chip.label}" (${chip.ngpio} lines)`
        })
      }
      yield* checkExportAccess(sysfsRoot)
      const GpioClass = yield* Gpio
      if (!GpioClass.accessible) {
        return yield* hardwareUnavailable(
          "PermissionDenied",
          `Cannot use GPIO: onoff cannot write ${DEFAULT_SYSFS_GPIO_ROOT}/export. ${GROUP_HINT}`
        )
      }
      return { GpioClass, sysfs: sysfsGpioNumber(chip, pin) }
    })

  /**
   * Claims the pin in this process and constructs the onoff Gpio in one synchronous
   * step, so two fibres opening the same pin cannot both get it.
   */
  const construct = (pin: number, sysfs: number, make: () => OnoffGpio) =>
    Effect.suspend((): Effect.Effect<OnoffGpio, GpioError | HardwareUnavailable> => {
      if (claimed.has(pin)) {
        return Effect.fail(new GpioError({ reason: "Busy", pin, message: `GPIO ${pin} is already open in this process` }))
      }
      try {
        const gpio = make()
        claimed.add(pin)
        return Effect.succeed(gpio)
      } catch (cause) {
        return Effect.fail(toOpenError(pin, sysfs)(cause))
      }
    })

  /** Unexports on release; failures are logged, never thrown from a finalizer. */
  const release = (pin: number, gpio: OnoffGpio) =>
    Effect.sync(() => {
      claimed.delete(pin)
      try {
        gpio.unexport()
        return undefined
      } catch (cause) {
        return cause
      }
    }).pipe(Effect.flatMap((cause) =>
      cause === undefined ? Effect.void : Effect.logWarning(`unexporting GPIO ${pin} failed`, cause)
    ))

  /**
   * Opens the pin for the current scope. On close the pin counts as closed before `onClose`
   * runs, so nothing new starts on it while it is wound down and unexported; `guard` turns
   * a use after that into a defect.
   */
  const open = (pin: number, sysfs: number, make: () => OnoffGpio, onClose: (gpio: OnoffGpio) => Effect.Effect<void>) =>
    Effect.gen(function*() {
      let isOpen = false
      const gpio = yield* Effect.acquireRelease(
        construct(pin, sysfs, make).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              isOpen = true
            })
          )
        ),
        (gpio) =>
          Effect.suspend(() => {
            isOpen = false
            return onClose(gpio)
          }).pipe(Effect.andThen(release(pin, gpio)))
      )
      const guard = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.suspend(() => isOpen ? effect : Effect.die(new Error(`GPIO ${pin} used after its scope closed`)))
      const read = guard(Effect.tryPromise({ try: () => gpio.read(), catch: ioError(pin, "reading") }))
      return { gpio, isOpen: () => isOpen, guard, read }
    })

  const openInput: GpioDriverShape["openInput"] = Effect.fnUntraced(function*(spec) {
    const { pin, edge, debounceMs } = spec
    const { GpioClass, sysfs } = yield* prepare(pin)
    const watchers = new Set<Queue.Queue<GpioEdgeEvent, GpioError | Cause.Done>>()
    const { gpio, guard, isOpen, read } = yield* open(
      pin,
      sysfs,
      () => new GpioClass(sysfs, "in", edge, { activeLow: spec.activeLow ?? false }),
      () =>
        Effect.sync(() => {
          // End running watchers: onoff will call them no more.
          for (const queue of watchers) Queue.endUnsafe(queue)
        })
    )
    const raw = Stream.callback<GpioEdgeEvent, GpioError>((queue) =>
      Effect.gen(function*() {
        const clock = yield* Clock.Clock
        const listener = (error: Error | null | undefined, value: GpioValue) => {
          if (error) Queue.failCauseUnsafe(queue, Cause.fail(ioError(pin, "watching")(error)))
          else Queue.offerUnsafe(queue, { value, atMs: clock.currentTimeMillisUnsafe() })
        }
        yield* Effect.acquireRelease(
          guard(Effect.sync(() => {
            watchers.add(queue)
            gpio.watch(listener)
          })),
          () =>
            Effect.sync(() => {
              watchers.delete(queue)
              if (isOpen()) gpio.unwatch(listener)
            })
        )
      })
    )
    const input: GpioInput = { pin, edge, debounceMs, read, watch: debouncedEdges({ raw, edge, debounceMs, read }) }
    return input
  })

  const openOutput: GpioDriverShape["openOutput"] = Effect.fnUntraced(function*(spec) {
    const { pin, safeValue } = spec
    const activeLow = spec.activeLow ?? false
    const { GpioClass, sysfs } = yield* prepare(pin)
    // "high"/"low" set the electrical level as the pin turns output, without a glitch.
    const initialLevel = (spec.initial ?? 0) === 1 ? !activeLow : activeLow
    const { gpio, guard, read } = yield* open(
      pin,
      sysfs,
      () => new GpioClass(sysfs, initialLevel ? "high" : "low", undefined, { activeLow }),
      (gpio) =>
        safeValue === undefined
          ? Effect.void
          : Effect.try({ try: () => gpio.writeSync(safeValue), catch: ioError(pin, "writing the safe value to") })
            .pipe(Effect.catch((error) => Effect.logWarning(error.message)))
    )
    const output: GpioOutput = {
      pin,
      write: (value) => guard(Effect.tryPromise({ try: () => gpio.write(value), catch: ioError(pin, "writing") })),
      read
    }
    return output
  })

  return { openInput, openOutput }
})
