/**
 * The DHT driver on real hardware, through node-dht-sensor. This is the only place that
 * touches the addon: it is loaded on the first `open`, after checking that the machine
 * is a Raspberry Pi, and every exception or rejection it produces becomes a typed error
 * here, once.
 *
 * Two facts about node-dht-sensor 0.4.5 shape this file:
 * - It retries a failed read internally every 450 ms (3 times by default), which would
 *   hit a DHT22 far faster than it allows; retries are switched off (`setMaxRetries(0)`)
 *   and left to `readWithRetry`, which goes through the interval gate.
 * - It answers any read within 3 s of the last good one on a pin with that cached value,
 *   reported as a fresh success. So this driver spaces hits by at least 3 s, otherwise a
 *   stale value would be stamped with a new time.
 */
import { Clock, Effect } from "effect"
import { constants } from "node:fs"
import { access } from "node:fs/promises"
import { createRequire } from "node:module"
import type { DhtDriverShape } from "../DhtDriver.js"
import { checkPin, checkRange, DHT_MIN_INTERVAL_MS, type DhtModel, DhtReadError, type DhtSensor, roundForModel } from "../DhtSensor.js"
import { type HardwareUnavailable, hardwareUnavailable } from "../HardwareUnavailable.js"
import { makeGateMap } from "./IntervalGate.js"
import { raspberryPiModel } from "./platform.js"

/** node-dht-sensor answers reads sooner than this after a good one from its cache. */
export const NODE_DHT_CACHE_MS = 3_000

/** The part of node-dht-sensor's CommonJS exports this driver uses. */
interface NodeDhtAddon {
  initialize(sensorType: number, pin: number): boolean
  setMaxRetries(retries: number): void
  readonly promises: {
    read(sensorType: number, pin: number): Promise<{ readonly temperature: number; readonly humidity: number }>
  }
}

const SENSOR_TYPE: Record<DhtModel, number> = { dht11: 11, dht22: 22 }

const BUILD_HINT = "Build it on the Pi: `sudo apt install build-essential python3`, then " +
  "`npm rebuild node-dht-sensor` (on a Raspberry Pi 5: `npm rebuild node-dht-sensor --use_libgpiod=true`)."

const loadAddon: Effect.Effect<NodeDhtAddon, HardwareUnavailable> = Effect.gen(function*() {
  const model = yield* raspberryPiModel("/")
  if (model === undefined) {
    return yield* Effect.fail(hardwareUnavailable(
      "NotRaspberryPi",
      "Cannot read DHT sensors: this machine is not a Raspberry Pi (no \"Raspberry Pi\" in " +
        "/proc/device-tree/model), and node-dht-sensor only works on one."
    ))
  }
  const addon = yield* Effect.try({
    try: () => createRequire(import.meta.url)("node-dht-sensor") as NodeDhtAddon,
    catch: (cause) =>
      hardwareUnavailable(
        "NativeAddon",
        `Cannot read DHT sensors on this ${model}: node-dht-sensor's native addon did not load ` +
          `(${cause instanceof Error ? cause.message : String(cause)}). ${BUILD_HINT}`,
        cause
      )
  })
  addon.setMaxRetries(0)
  return addon
})

/** Why the addon could not set up GPIO access: usually the `gpio` group. */
const initFailed = (pin: number, cause?: unknown): Effect.Effect<never, HardwareUnavailable> =>
  Effect.flatMap(
    Effect.promise(() =>
      access("/dev/gpiomem", constants.R_OK | constants.W_OK).then(() => "ok" as const, (e: NodeJS.ErrnoException) =>
        e.code === "EACCES" ? "denied" as const : "missing" as const)
    ),
    (gpiomem) =>
      Effect.fail(
        gpiomem === "denied"
          ? hardwareUnavailable(
            "PermissionDenied",
            `Cannot read the DHT sensor on GPIO ${pin}: permission denied on /dev/gpiomem. Add the user to ` +
              "group `gpio` (`sudo usermod -aG gpio $USER`, then log in again).",
            cause
          )
          : hardwareUnavailable(
            "InitFailed",
            `Cannot read the DHT sensor on GPIO ${pin}: node-dht-sensor could not initialise GPIO access ` +
              "(is the user in group `gpio`? On a Raspberry Pi 5 the addon must be built with " +
              "`--use_libgpiod=true`).",
            cause
          )
      )
  )

const toReadError = (model: DhtModel, pin: number) => (cause: unknown): DhtReadError => {
  const text = cause instanceof Error ? cause.message : String(cause)
  return /initiali[sz]e/i.test(text)
    ? new DhtReadError({
      reason: "NoDevice",
      pin,
      message: `node-dht-sensor lost GPIO access while reading the ${model} on GPIO ${pin}: ${text}`,
      cause
    })
    : new DhtReadError({
      reason: "Timeout",
      pin,
      // The addon's asynchronous read reports a missing answer and a bad checksum alike.
      message: `the ${model} on GPIO ${pin} gave no valid answer (node-dht-sensor: "${text}"; it does not ` +
        "distinguish a timeout from a bad checksum). Check the wiring and the pull-up resistor.",
      cause
    })
}

/** The real driver: construction is free, the first `open` checks the machine and loads the addon. */
export const makeNodeDhtDriver: Effect.Effect<DhtDriverShape> = Effect.gen(function*() {
  const addon = yield* Effect.cached(loadAddon)
  const gateFor = makeGateMap()

  const open = (spec: { readonly model: DhtModel; readonly pin: number }) =>
    Effect.gen(function*() {
      const { model, pin } = spec
      yield* checkPin(pin)
      const dht = yield* addon
      const initialised = yield* Effect.try({
        try: () => dht.initialize(SENSOR_TYPE[model], pin),
        catch: (cause) => cause
      }).pipe(Effect.catch((cause) => initFailed(pin, cause)))
      if (!initialised) return yield* initFailed(pin)

      let closed = false
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          closed = true
        })
      )
      const minIntervalMs = Math.max(DHT_MIN_INTERVAL_MS[model], NODE_DHT_CACHE_MS)
      const gate = gateFor(pin)
      const hit = Effect.gen(function*() {
        const readAtMs = yield* Clock.currentTimeMillis
        const raw = yield* Effect.tryPromise({
          try: () => dht.promises.read(SENSOR_TYPE[model], pin),
          catch: toReadError(model, pin)
        })
        // The addon returns float32s (21.299999...); round to what the sensor encodes.
        return yield* checkRange(model, pin, {
          temperatureC: roundForModel(model, raw.temperature),
          humidityPct: roundForModel(model, raw.humidity),
          readAtMs
        })
      })
      const read = Effect.suspend(() =>
        closed ? Effect.die(new Error(`DHT sensor on GPIO ${pin} read after its scope closed`)) : gate.run(minIntervalMs, hit)
      )
      const sensor: DhtSensor = { model, pin, minIntervalMs, read }
      return sensor
    })

  return { open } satisfies DhtDriverShape
})
