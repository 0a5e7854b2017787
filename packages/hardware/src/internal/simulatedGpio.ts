/**
 * The simulated GPIO world and the driver over it. Levels are electrical and persist
 * across opens (the world does not forget a switch's position when a program closes the
 * pin); edge interrupts are raised the way the kernel raises them, only for the edges an
 * input asked for, and go through the same debouncing as the real driver.
 */
import { Clock, Effect, PubSub, Stream } from "effect"
import {
  checkGpioPin,
  type GpioEdge,
  type GpioEdgeEvent,
  GpioError,
  type GpioInput,
  type GpioOutput,
  type GpioValue
} from "../Gpio.js"
import type { GpioDriverShape } from "../GpioDriver.js"
import type { GpioWrite, PressOptions, SimulatedGpio, SimulatedGpioOptions } from "../SimulatedGpio.js"
import { debouncedEdges } from "./edges.js"
import { mulberry32 } from "./prng.js"

const KEEP_WRITES = 10_000

interface OpenPin {
  readonly activeLow: boolean
  /** Only inputs: the edges the "kernel" raises interrupts for, and where they go. */
  readonly input?: { readonly edge: GpioEdge; readonly raw: PubSub.PubSub<GpioEdgeEvent> }
}

const invert = (value: GpioValue): GpioValue => value === 1 ? 0 : 1
const toLevel = (value: GpioValue, activeLow: boolean): GpioValue => activeLow ? invert(value) : value
const edgeWanted = (edge: GpioEdge, value: GpioValue) =>
  edge === "both" || (edge === "rising" ? value === 1 : value === 0)

export const makeSimulatedGpio = (options: SimulatedGpioOptions = {}): Effect.Effect<{
  readonly driver: GpioDriverShape
  readonly control: SimulatedGpio["Service"]
}> =>
  Effect.sync(() => {
    const levels = new Map<number, GpioValue>()
    const open = new Map<number, OpenPin>()
    const writeLog = new Map<number, Array<GpioWrite>>()

    const logicalValue = (pin: number): GpioValue =>
      toLevel(levels.get(pin) ?? 0, open.get(pin)?.activeLow ?? false)

    const setValue = (pin: number, value: GpioValue): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (atMs) => {
        if (logicalValue(pin) === value) return Effect.void
        const pinState = open.get(pin)
        levels.set(pin, toLevel(value, pinState?.activeLow ?? false))
        const input = pinState?.input
        return input !== undefined && edgeWanted(input.edge, value)
          ? Effect.asVoid(PubSub.publish(input.raw, { value, atMs }))
          : Effect.void
      })

    const chatter = (pin: number, target: GpioValue, bounces: number, gapMs: number) =>
      Effect.gen(function*() {
        for (let i = 0; i < bounces; i++) {
          yield* setValue(pin, target)
          yield* Effect.sleep(gapMs)
          yield* setValue(pin, invert(target))
          yield* Effect.sleep(gapMs)
        }
        yield* setValue(pin, target)
      })

    const press = (pin: number, press: PressOptions = {}) =>
      Effect.gen(function*() {
        const bounces = press.bounces ?? 3
        const gapMs = press.bounceGapMs ?? 1
        yield* chatter(pin, 1, bounces, gapMs)
        yield* Effect.sleep(press.holdMs ?? 120)
        yield* chatter(pin, 0, bounces, gapMs)
      })

    // Checks and claims in one synchronous step, so two fibres cannot both get a pin.
    const claim = (pin: number, state: OpenPin) =>
      Effect.flatMap(checkGpioPin(pin), () =>
        Effect.suspend(() => {
          if (open.has(pin)) {
            return Effect.fail(new GpioError({ reason: "Busy", pin, message: `simulated: GPIO ${pin} is already open` }))
          }
          open.set(pin, state)
          return Effect.void
        }))

    const whileOpen = <A, E>(pin: number, isOpen: () => boolean, effect: Effect.Effect<A, E>) =>
      Effect.suspend(() =>
        isOpen() ? effect : Effect.die(new Error(`GPIO ${pin} used after its scope closed`))
      )

    const openInput: GpioDriverShape["openInput"] = Effect.fnUntraced(function*(spec) {
      const { pin, edge, debounceMs } = spec
      const activeLow = spec.activeLow ?? false
      const raw = yield* PubSub.unbounded<GpioEdgeEvent>()
      let isOpen = false
      yield* Effect.acquireRelease(
        Effect.andThen(
          claim(pin, { activeLow, input: { edge, raw } }),
          Effect.sync(() => {
            // An input nobody has touched idles inactive: a pulled-up button reads 0 until pressed.
            if (!levels.has(pin)) levels.set(pin, toLevel(0, activeLow))
            isOpen = true
          })
        ),
        () =>
          Effect.andThen(
            PubSub.shutdown(raw),
            Effect.sync(() => {
              isOpen = false
              open.delete(pin)
            })
          )
      )
      const read = whileOpen(pin, () => isOpen, Effect.sync(() => logicalValue(pin)))
      const input: GpioInput = {
        pin,
        edge,
        debounceMs,
        read,
        watch: Stream.unwrap(whileOpen(pin, () => isOpen, Effect.succeed(debouncedEdges({
          raw: Stream.fromPubSub(raw),
          edge,
          debounceMs,
          read
        }))))
      }
      const random = options.randomPresses
      if (random !== undefined) {
        const next = mulberry32((random.seed ?? 1) + pin)
        yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
          yield* Effect.sleep(Math.max(1, -Math.log(1 - next()) * random.meanIntervalMs))
          yield* press(pin, random.press)
        })))
      }
      return input
    })

    const openOutput: GpioDriverShape["openOutput"] = Effect.fnUntraced(function*(spec) {
      const { pin, safeValue } = spec
      const activeLow = spec.activeLow ?? false
      let isOpen = false
      const drive = (value: GpioValue) =>
        Effect.map(Clock.currentTimeMillis, (atMs) => {
          const level = toLevel(value, activeLow)
          levels.set(pin, level)
          const log = writeLog.get(pin) ?? []
          log.push({ value, level, atMs })
          if (log.length > KEEP_WRITES) log.splice(0, log.length - KEEP_WRITES)
          writeLog.set(pin, log)
        })
      yield* Effect.acquireRelease(
        Effect.andThen(
          claim(pin, { activeLow }),
          Effect.sync(() => {
            levels.set(pin, toLevel(spec.initial ?? 0, activeLow))
            isOpen = true
          })
        ),
        () =>
          Effect.andThen(
            safeValue === undefined ? Effect.void : drive(safeValue),
            Effect.sync(() => {
              isOpen = false
              open.delete(pin)
            })
          )
      )
      const output: GpioOutput = {
        pin,
        write: (value) => whileOpen(pin, () => isOpen, drive(value)),
        read: whileOpen(pin, () => isOpen, Effect.sync(() => logicalValue(pin)))
      }
      return output
    })

    return {
      driver: { openInput, openOutput },
      control: {
        setValue,
        press,
        writes: (pin) => Effect.sync(() => [...(writeLog.get(pin) ?? [])]),
        level: (pin) => Effect.sync(() => levels.get(pin)),
        openPins: Effect.sync(() => [...open.keys()].sort((a, b) => a - b))
      }
    }
  })
