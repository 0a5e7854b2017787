/**
 * General-purpose I/O as Bramble sees it: inputs that report debounced edges (buttons,
 * reed switches, tipping-bucket rain gauges, flow meters) and outputs that drive
 * actuators (relays, LEDs). Values are logical: with `activeLow` the driver inverts the
 * electrical level, so 1 always means "pressed" or "on". Pins are BCM GPIO numbers; the
 * real driver maps them to sysfs numbers itself (see `ChipBase`).
 */
import { Data, Effect, type Scope, Stream } from "effect"

/** A logical pin value. */
export type GpioValue = 0 | 1

/** Which transitions an input reports. */
export type GpioEdge = "rising" | "falling" | "both"

/** A debounced transition: the settled value and when the burst of edges began. */
export interface GpioEdgeEvent {
  readonly value: GpioValue
  readonly atMs: number
}

/** Why a GPIO operation failed. */
export type GpioErrorReason = "InvalidPin" | "Busy" | "Io"

/** A GPIO open, read, write or watch that failed on a machine that does have GPIO. */
export class GpioError extends Data.TaggedError("GpioError")<{
  readonly reason: GpioErrorReason
  /** BCM GPIO number. */
  readonly pin: number
  readonly message: string
  readonly cause?: unknown
}> {}

/** How to open an input. */
export interface GpioInputSpec {
  /** BCM GPIO number. */
  readonly pin: number
  readonly edge: GpioEdge
  /**
   * Edges closer together than this are one burst (contact bounce); the burst is
   * reported once, `debounceMs` after its last edge, with the value the pin settled on.
   * 0 reports every edge.
   */
  readonly debounceMs: number
  /** Logical 1 is the low level (a button to ground with a pull-up). */
  readonly activeLow?: boolean
}

/** How to open an output. */
export interface GpioOutputSpec {
  /** BCM GPIO number. */
  readonly pin: number
  /** Logical value driven from the moment the pin becomes an output. Default 0. */
  readonly initial?: GpioValue
  readonly activeLow?: boolean
  /**
   * Written when the scope closes, before the pin is released, so an actuator is left in
   * a known state on shutdown (a relay de-energised, say). Default: leave as is.
   */
  readonly safeValue?: GpioValue
}

/** An input pin, open for the duration of a scope. */
export interface GpioInput {
  readonly pin: number
  readonly edge: GpioEdge
  readonly debounceMs: number
  /** The current logical value. */
  readonly read: Effect.Effect<GpioValue, GpioError>
  /**
   * Debounced edges from the moment the stream starts. Every run of the stream is an
   * independent watcher; it stops when the stream is interrupted or the pin's scope closes.
   */
  readonly watch: Stream.Stream<GpioEdgeEvent, GpioError>
}

/** An output pin, open for the duration of a scope. */
export interface GpioOutput {
  readonly pin: number
  readonly write: (value: GpioValue) => Effect.Effect<void, GpioError>
  /** The logical value the pin is driving. */
  readonly read: Effect.Effect<GpioValue, GpioError>
}

/** The BCM GPIO numbers on the 40-pin header. */
export const MAX_GPIO_PIN = 27

/**
 * Why `pin` cannot be a header GPIO number, or undefined when it is. Every driver that takes
 * a pin (GPIO, DHT) refuses with this message, each in its own error.
 */
export const headerPinProblem = (pin: number): string | undefined =>
  Number.isInteger(pin) && pin >= 0 && pin <= MAX_GPIO_PIN
    ? undefined
    : `GPIO ${pin} is not a header GPIO: pins are BCM numbers 0..${MAX_GPIO_PIN}, not physical header positions`

/** `InvalidPin` unless `pin` is a header GPIO number. */
export const checkGpioPin = (pin: number): Effect.Effect<void, GpioError> => {
  const problem = headerPinProblem(pin)
  return problem === undefined ? Effect.void : Effect.fail(new GpioError({ reason: "InvalidPin", pin, message: problem }))
}

/** A running count of an input's edges, e.g. pulses of a rain gauge or flow meter. */
export interface EdgeCounter {
  /** Edges counted so far (since the last `take`); fails if watching the pin failed. */
  readonly count: Effect.Effect<number, GpioError>
  /** The count, reset to 0 in the same step: pulses per interval without losing any. */
  readonly take: Effect.Effect<number, GpioError>
}

/** Counts an input's debounced edges in a fibre that lives as long as the scope. */
export const countEdges = (input: GpioInput): Effect.Effect<EdgeCounter, never, Scope.Scope> =>
  Effect.gen(function*() {
    let count = 0
    let failure: GpioError | undefined
    yield* input.watch.pipe(
      Stream.runForEach(() =>
        Effect.sync(() => {
          count += 1
        })
      ),
      Effect.catch((error) =>
        Effect.sync(() => {
          failure = error
        })
      ),
      Effect.forkScoped
    )
    const current = Effect.suspend(() => failure === undefined ? Effect.succeed(count) : Effect.fail(failure))
    return {
      count: current,
      take: Effect.tap(current, () =>
        Effect.sync(() => {
          count = 0
        }))
    }
  })
