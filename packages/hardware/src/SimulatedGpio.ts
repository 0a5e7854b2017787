/**
 * The control panel of the simulated GPIO: what a test (or the demo) does to the
 * simulated world: pressing buttons, setting input levels, and looking at what the
 * outputs were told to do. Provided by `GpioDriver.layerSimulated` next to the driver.
 */
import { Context, type Effect } from "effect"
import type { GpioValue } from "./Gpio.js"

/** How a simulated button press unfolds. */
export interface PressOptions {
  /** How long the button is held down. Default 120 ms. */
  readonly holdMs?: number
  /** Contact bounces on press and again on release. Default 3. */
  readonly bounces?: number
  /** Time between bounce edges. Default 1 ms. */
  readonly bounceGapMs?: number
}

/** Options of the simulated GPIO driver. */
export interface SimulatedGpioOptions {
  /**
   * Presses every open input at random (exponentially distributed gaps with this mean),
   * for the demo. Off by default; deterministic for a given seed.
   */
  readonly randomPresses?: {
    readonly meanIntervalMs: number
    readonly seed?: number
    readonly press?: PressOptions
  }
}

/** One write to a simulated output: the logical value and the electrical level it drove. */
export interface GpioWrite {
  readonly value: GpioValue
  readonly level: GpioValue
  readonly atMs: number
}

/** The simulated GPIO's control service. */
export class SimulatedGpio extends Context.Service<SimulatedGpio, {
  /**
   * Sets an input to a logical value, as the driver will read it (active-low inputs get
   * the inverted level). A change raises an edge interrupt if the input's edge asks for it.
   */
  setValue(pin: number, value: 0 | 1): Effect.Effect<void>
  /**
   * Presses and releases a button on `pin`, with contact bounce on both transitions. It
   * takes `holdMs` plus the bounces of Clock time: fork it when using the TestClock.
   */
  press(pin: number, options?: PressOptions): Effect.Effect<void>
  /** Every write made to the output on `pin` (including `safeValue` on release), oldest first. */
  writes(pin: number): Effect.Effect<ReadonlyArray<GpioWrite>>
  /** The electrical level on `pin` (outputs as driven, inputs as set), if ever set. */
  level(pin: number): Effect.Effect<GpioValue | undefined>
  /** The pins currently open, input or output. */
  readonly openPins: Effect.Effect<ReadonlyArray<number>>
}>()("bramble/hardware/SimulatedGpio") {}
