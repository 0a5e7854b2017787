/**
 * Opens GPIO pins. The seam between input/actuator actors and the hardware:
 * `layerOnoff` drives real pins through sysfs on a Raspberry Pi, `layerSimulated` drives
 * a simulated world anywhere. Pins are scoped: closing the scope releases them
 * (unexports them on a Pi), so a node that stops leaves nothing claimed.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { GpioError, GpioInput, GpioInputSpec, GpioOutput, GpioOutputSpec } from "./Gpio.js"
import type { HardwareUnavailable } from "./HardwareUnavailable.js"
import { makeOnoffGpioDriver } from "./internal/onoffGpio.js"
import { makeSimulatedGpio } from "./internal/simulatedGpio.js"
import { SimulatedGpio, type SimulatedGpioOptions } from "./SimulatedGpio.js"

/** What a GPIO driver does. */
export interface GpioDriverShape {
  /** An input for the duration of the scope; `Busy` if the pin is already open. */
  openInput(spec: GpioInputSpec): Effect.Effect<GpioInput, GpioError | HardwareUnavailable, Scope.Scope>
  /** An output for the duration of the scope, driving `initial` from the start. */
  openOutput(spec: GpioOutputSpec): Effect.Effect<GpioOutput, GpioError | HardwareUnavailable, Scope.Scope>
}

/** The GPIO driver service. */
export class GpioDriver extends Context.Service<GpioDriver, GpioDriverShape>()("bramble/hardware/GpioDriver") {
  /**
   * Real pins through onoff and sysfs GPIO (`/sys/class/gpio`), with BCM numbers mapped
   * through the chip base. Building the layer touches nothing; each open checks that
   * sysfs GPIO is there and writable and fails with `HardwareUnavailable` if not.
   */
  static readonly layerOnoff: Layer.Layer<GpioDriver> = Layer.effect(GpioDriver, makeOnoffGpioDriver())

  /** Simulated pins, with the `SimulatedGpio` control service for tests and the demo. */
  static readonly layerSimulated = (options?: SimulatedGpioOptions): Layer.Layer<GpioDriver | SimulatedGpio> =>
    Layer.effectContext(
      Effect.map(
        makeSimulatedGpio(options),
        ({ control, driver }) => Context.make(GpioDriver, driver).pipe(Context.add(SimulatedGpio, control))
      )
    )
}
