/**
 * DS18B20 temperature probes on the 1-wire bus, read from the files the kernel's w1 drivers
 * write (`dtoverlay=w1-gpio` on a Pi): `/sys/bus/w1/devices/28-<serial>/w1_slave`, two lines
 * of the scratchpad bytes, the first ending in the driver's CRC verdict, the second in the
 * temperature in millidegrees:
 *
 *     72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
 *     72 01 4b 46 7f ff 0e 10 57 t=23125
 *
 * No package is needed. A CRC verdict of NO (a noisy line) and the 85 000 m°C a probe reports
 * before its first conversion (power-on reset: a probe that browned out) are refused as
 * faults, never published as temperatures. `layerSimulated` has the same shape for the demo
 * and tests, with scripted faults.
 */
import { Clock, Context, Data, Effect, Layer } from "effect"
import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { hashGaussian } from "./internal/prng.js"

/** Where the kernel lists 1-wire devices. */
export const W1_DEVICES = "/sys/bus/w1/devices"

/** A DS18B20's id: family code 28, then the 48-bit serial in hex. */
export const DS18B20_ID = /^28-[0-9a-f]{12}$/

/**
 * Why a probe gave no temperature: `NoDevice` (not on the bus, or no w1 bus at all), `Crc`
 * (the driver's CRC check failed), `PowerOnReset` (85 °C before any conversion), `Unparsable`
 * (a file not in the w1_slave format), `Io` (the file could not be read).
 */
export type OneWireErrorReason = "NoDevice" | "Crc" | "PowerOnReset" | "Unparsable" | "Io"

export class OneWireError extends Data.TaggedError("OneWireError")<{
  readonly reason: OneWireErrorReason
  readonly id: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** The temperature the kernel reports before the probe's first conversion. */
export const POWER_ON_RESET_MILLIDEGREES = 85_000

/** The temperature in w1_slave's text, in °C, or why there is none. */
export const parseW1Slave = (id: string, text: string): number | OneWireError => {
  const lines = text.trim().split("\n")
  const crc = /crc=[0-9a-f]{2} (YES|NO)\s*$/i.exec(lines[0] ?? "")
  const t = /t=(-?\d+)\s*$/.exec(lines[1] ?? "")
  if (crc === null || t === null) {
    return new OneWireError({ reason: "Unparsable", id, message: `1-wire ${id}: w1_slave is not in the kernel's format: ${JSON.stringify(text.slice(0, 200))}` })
  }
  if (crc[1]!.toUpperCase() !== "YES") {
    return new OneWireError({ reason: "Crc", id, message: `1-wire ${id}: CRC check failed (noise on the line? a long cable needs a stronger pull-up, 2.2-4.7 kΩ)` })
  }
  const millidegrees = Number(t[1])
  if (millidegrees === POWER_ON_RESET_MILLIDEGREES) {
    return new OneWireError({
      reason: "PowerOnReset",
      id,
      message: `1-wire ${id}: 85 °C is the power-on value, not a measurement (the probe reset: check its supply; parasite power needs a strong pull-up)`
    })
  }
  return millidegrees / 1000
}

/** What a 1-wire driver does. */
export interface OneWireDriverShape {
  /** The DS18B20s on the bus, sorted. */
  readonly list: Effect.Effect<ReadonlyArray<string>, OneWireError>
  /** One probe's temperature, °C. */
  read(id: string): Effect.Effect<number, OneWireError>
}

/** The simulated probes' control service. */
export class SimulatedOneWire extends Context.Service<SimulatedOneWire, {
  /** The next reads of `id` fail with these reasons, in order. */
  failNext(id: string, reasons: ReadonlyArray<OneWireErrorReason>): Effect.Effect<void>
}>()("bramble/hardware/SimulatedOneWire") {}

const sysfsDriver = (root: string): OneWireDriverShape => ({
  list: Effect.tryPromise({
    try: async () => (await readdir(root)).filter((name) => DS18B20_ID.test(name)).sort(),
    catch: (cause) =>
      new OneWireError({
        reason: "NoDevice",
        id: "*",
        message: `no 1-wire bus at ${root} (${(cause as Error).message}): enable it with dtoverlay=w1-gpio in the Pi's config.txt`,
        cause
      })
  }),
  read: (id) =>
    Effect.tryPromise({
      try: () => readFile(join(root, id, "w1_slave"), "utf8"),
      catch: (cause) =>
        (cause as NodeJS.ErrnoException).code === "ENOENT"
          ? new OneWireError({ reason: "NoDevice", id, message: `1-wire ${id}: not on the bus (no ${join(root, id, "w1_slave")})`, cause })
          : new OneWireError({ reason: "Io", id, message: `1-wire ${id}: ${(cause as Error).message}`, cause })
    }).pipe(Effect.flatMap((text) => {
      const parsed = parseW1Slave(id, text)
      return typeof parsed === "number" ? Effect.succeed(parsed) : Effect.fail(parsed)
    }))
})

/** The 1-wire driver service. */
export class OneWireDriver extends Context.Service<OneWireDriver, OneWireDriverShape>()("bramble/hardware/OneWireDriver") {
  /** The kernel's w1 files; `root` is a parameter so tests can point it at a fake tree. */
  static readonly layerSysfs = (root: string = W1_DEVICES): Layer.Layer<OneWireDriver> => Layer.succeed(OneWireDriver, sysfsDriver(root))

  /**
   * Simulated probes (`probes`, default two) following a slow sine around 20 °C with a
   * per-probe offset and noise, in the DS18B20's 1/16 °C steps, with their control service.
   */
  static readonly layerSimulated = (options: { readonly probes?: ReadonlyArray<string>; readonly seed?: number } = {}): Layer.Layer<OneWireDriver | SimulatedOneWire> =>
    Layer.effectContext(Effect.sync(() => {
      const probes = [...(options.probes ?? ["28-00000a1b2c3d", "28-00000d4e5f60"])].sort()
      const seed = options.seed ?? 1
      const forced = new Map<string, Array<OneWireErrorReason>>()
      const driver: OneWireDriverShape = {
        list: Effect.succeed(probes),
        read: (id) =>
          Effect.gen(function*() {
            const at = yield* Clock.currentTimeMillis
            const reason = forced.get(id)?.shift()
            if (reason !== undefined) return yield* Effect.fail(new OneWireError({ reason, id, message: `1-wire ${id}: simulated ${reason}` }))
            const index = probes.indexOf(id)
            if (index < 0) return yield* Effect.fail(new OneWireError({ reason: "NoDevice", id, message: `1-wire ${id}: not on the (simulated) bus` }))
            const celsius = 20 + index * 1.5 + 3 * Math.sin(2 * Math.PI * at / 3_600_000 + index) + 0.05 * hashGaussian(seed, index, at, 11)
            return Math.round(celsius * 16) / 16
          })
      }
      const control: SimulatedOneWire["Service"] = {
        failNext: (id, reasons) => Effect.sync(() => void forced.set(id, [...(forced.get(id) ?? []), ...reasons]))
      }
      return Context.make(OneWireDriver, driver).pipe(Context.add(SimulatedOneWire, control))
    }))
}
