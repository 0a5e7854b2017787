/**
 * Opens DHT sensors. The service is the seam between the sensor actor and the hardware:
 * `layerNodeDht` reads real sensors through node-dht-sensor on a Raspberry Pi,
 * `layerSimulated` reads the simulated twins anywhere. Both enforce each model's
 * minimum interval per pin, so no caller can hit a sensor too often.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { DhtReadError, DhtSensor, DhtSpec } from "./DhtSensor.js"
import type { HardwareUnavailable } from "./HardwareUnavailable.js"
import { makeNodeDhtDriver } from "./internal/nodeDht.js"
import { makeSimulatedDht } from "./internal/simulatedDht.js"
import { SimulatedDht, type SimulatedDhtOptions } from "./SimulatedDht.js"

/** What a DHT driver does. */
export interface DhtDriverShape {
  /**
   * A sensor handle for the duration of the scope. Fails with `NoDevice` for a pin that
   * is not a header GPIO (or, simulated, has no sensor), and with `HardwareUnavailable`
   * when the real driver cannot run on this machine.
   */
  open(spec: DhtSpec): Effect.Effect<DhtSensor, DhtReadError | HardwareUnavailable, Scope.Scope>
}

/** The DHT driver service. */
export class DhtDriver extends Context.Service<DhtDriver, DhtDriverShape>()("bramble/hardware/DhtDriver") {
  /**
   * Real sensors through node-dht-sensor. Building the layer touches nothing; the first
   * `open` checks for a Raspberry Pi and loads the native addon. Hits are spaced by at
   * least 3 s even for a DHT22, because the addon serves reads within 3 s of the last one
   * from its cache.
   */
  static readonly layerNodeDht: Layer.Layer<DhtDriver> = Layer.effect(DhtDriver, makeNodeDhtDriver)

  /** Simulated sensors (see `SimulatedDht`), with their control service for tests. */
  static readonly layerSimulated = (options?: SimulatedDhtOptions): Layer.Layer<DhtDriver | SimulatedDht> =>
    Layer.effectContext(
      Effect.map(
        makeSimulatedDht(options),
        ({ control, driver }) => Context.make(DhtDriver, driver).pipe(Context.add(SimulatedDht, control))
      )
    )
}
