/**
 * The one error every real driver returns when the machine cannot do hardware I/O at
 * all: not a Raspberry Pi, no sysfs GPIO, no permission, or a native addon that did not
 * build. Its message always says what to do next, including how to run on the
 * simulated drivers instead, because the most common cause is simply running off-Pi.
 */
import { Data } from "effect"

/** Why real hardware cannot be used on this machine. */
export type HardwareUnavailableReason =
  | "NotRaspberryPi"
  | "NoSysfsGpio"
  | "PermissionDenied"
  | "NativeAddon"
  | "InitFailed"

/** Real hardware cannot be used here; `message` explains why and what to do. */
export class HardwareUnavailable extends Data.TaggedError("HardwareUnavailable")<{
  readonly reason: HardwareUnavailableReason
  readonly message: string
  readonly cause?: unknown
}> {}

/** Appended to every `HardwareUnavailable` message. */
export const SIMULATE_HINT =
  "To run without hardware, use the simulated drivers instead: `kind: simulated-dht22` " +
  "in the cluster file, or start the node with `--simulate`."

/** A `HardwareUnavailable` whose message ends with the hint about simulated drivers. */
export const hardwareUnavailable = (
  reason: HardwareUnavailableReason,
  what: string,
  cause?: unknown
): HardwareUnavailable =>
  new HardwareUnavailable({
    reason,
    message: `${what} ${SIMULATE_HINT}`,
    ...(cause === undefined ? {} : { cause })
  })
