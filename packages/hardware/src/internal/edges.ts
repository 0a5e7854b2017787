/**
 * Debouncing, shared by the real and the simulated GPIO inputs so both report the same
 * edges for the same electrical signal.
 *
 * A burst is a run of raw edges less than `debounceMs` apart. When the pin has been quiet
 * for `debounceMs`, the pin is read and the burst reported once, stamped with the time of
 * its first edge (when the button was actually pressed), if the settled value is what
 * the edge asks for: 1 for rising, 0 for falling, a change for both. A glitch that bounces
 * back to where it started therefore reports nothing.
 */
import { Effect, Stream } from "effect"
import type { GpioEdge, GpioEdgeEvent, GpioError, GpioValue } from "../Gpio.js"

export const debouncedEdges = <R>(options: {
  /** Raw edge interrupts, with the value read when each fired. */
  readonly raw: Stream.Stream<GpioEdgeEvent, GpioError, R>
  readonly edge: GpioEdge
  readonly debounceMs: number
  readonly read: Effect.Effect<GpioValue, GpioError>
}): Stream.Stream<GpioEdgeEvent, GpioError, R> => {
  const { debounceMs, edge, raw, read } = options
  const settled: Stream.Stream<GpioEdgeEvent, GpioError, R> = debounceMs <= 0 ? raw : raw.pipe(
    Stream.mapAccum(
      () => ({ lastAtMs: Number.NEGATIVE_INFINITY, burstStartMs: 0 }),
      (state, event) => {
        const burstStartMs = event.atMs - state.lastAtMs < debounceMs ? state.burstStartMs : event.atMs
        return [{ lastAtMs: event.atMs, burstStartMs }, [burstStartMs]] as const
      }
    ),
    Stream.debounce(debounceMs),
    Stream.mapEffect((atMs) => Effect.map(read, (value) => ({ value, atMs })))
  )
  return Stream.unwrap(Effect.map(read, (initial) =>
    settled.pipe(
      Stream.mapAccum(
        () => initial,
        (last, event) => {
          const wanted = edge === "rising" ? event.value === 1 : edge === "falling" ? event.value === 0 : event.value !== last
          return [event.value, wanted ? [event] : []] as const
        }
      )
    )))
}
