/**
 * The Pi's I2C buses (`/dev/i2c-N`) through the maintained `i2c-bus` package, and the one
 * seam the chip drivers (Bme280.ts, Sht31.ts, Ads1115.ts) talk through.
 *
 * `I2cBus` is the part of i2c-bus's promisified bus the chips use (byte and block register
 * reads and writes, plain reads and writes); a test's fake bus and the simulated twin
 * implement it too, so the chip code that runs on a Pi is the code under test.
 *
 * One bus has one owner: `I2cDriver.bus(n)` hands every sensor of the node the same
 * handle, whose `use` runs one chip transaction at a time (an ADS1115 conversion is a write,
 * a wait and a read that another chip's traffic must not split), so several chips on one
 * bus are read in turn. i2c-bus is a native addon, loaded on the first real `bus` call:
 * a machine without it (or without /dev/i2c-*) still runs the simulated twin.
 */
import { Context, Data, Effect, Layer, Semaphore } from "effect"
import { access, constants } from "node:fs/promises"

/** What the chip drivers use of an i2c-bus `PromisifiedBus` (same names, same signatures). */
export interface I2cBus {
  readByte(address: number, command: number): Promise<number>
  writeByte(address: number, command: number, byte: number): Promise<void>
  readI2cBlock(address: number, command: number, length: number, buffer: Buffer): Promise<{ bytesRead: number; buffer: Buffer }>
  i2cRead(address: number, length: number, buffer: Buffer): Promise<{ bytesRead: number; buffer: Buffer }>
  i2cWrite(address: number, length: number, buffer: Buffer): Promise<{ bytesWritten: number; buffer: Buffer }>
}

/**
 * Why an I2C read gave no value: `NoBus` (no /dev/i2c-N: I2C not enabled), `Unavailable`
 * (the i2c-bus addon cannot load here), `Io` (no acknowledge: no chip at the address, a
 * loose wire), `WrongChip` (the chip's id is not the configured model's), `Crc` (a reply
 * failed its checksum), `NotReady` (a conversion did not finish in time), `Skipped` (the chip
 * returned its "measurement skipped" value), `OutOfRange` (an analog input outside its
 * live range: a broken 4-20 mA loop).
 */
export type I2cErrorReason = "NoBus" | "Unavailable" | "Io" | "WrongChip" | "Crc" | "NotReady" | "Skipped" | "OutOfRange"

export class I2cError extends Data.TaggedError("I2cError")<{
  readonly reason: I2cErrorReason
  readonly message: string
  readonly cause?: unknown
}> {}

const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`

/** One chip's traffic, as Effects whose errors name the bus, the address, the chip and the step. */
export interface ChipIo {
  readonly label: string
  readByte(register: number): Effect.Effect<number, I2cError>
  writeByte(register: number, value: number): Effect.Effect<void, I2cError>
  /** `length` bytes from `register` on (the chip's auto-increment). */
  readBlock(register: number, length: number): Effect.Effect<Uint8Array, I2cError>
  /** A plain write (a command, or a register pointer with data). */
  write(bytes: ReadonlyArray<number>): Effect.Effect<void, I2cError>
  /** A plain read of `length` bytes. */
  read(length: number): Effect.Effect<Uint8Array, I2cError>
  fail(reason: I2cErrorReason, message: string): I2cError
}

/** `ChipIo` over a bus: `label` names the chip in every error ("I2C bus 1 0x76 (BME280)"). */
export const chipIo = (bus: I2cBus, busNumber: number, address: number, model: string): ChipIo => {
  const label = `I2C bus ${busNumber} ${hex(address)} (${model})`
  const io = <A>(step: string, run: () => Promise<A>) =>
    Effect.tryPromise({
      try: run,
      catch: (cause) => {
        const code = (cause as NodeJS.ErrnoException).code
        const hint = code === "EREMOTEIO" || code === "ENXIO"
          ? `: no chip acknowledged (check the wiring and the address with \`i2cdetect -y ${busNumber}\`)`
          : ""
        return new I2cError({ reason: "Io", message: `${label}: ${step}: ${(cause as Error).message}${hint}`, cause })
      }
    })
  const short = (step: string, got: number, wanted: number) =>
    new I2cError({ reason: "Io", message: `${label}: ${step}: ${got} of ${wanted} bytes` })
  return {
    label,
    readByte: (register) => io(`reading register ${hex(register)}`, () => bus.readByte(address, register)),
    writeByte: (register, value) => io(`writing ${hex(value)} to register ${hex(register)}`, () => bus.writeByte(address, register, value)),
    readBlock: (register, length) =>
      io(`reading ${length} bytes from register ${hex(register)}`, () => bus.readI2cBlock(address, register, length, Buffer.alloc(length))).pipe(
        Effect.flatMap(({ buffer, bytesRead }) =>
          bytesRead === length ? Effect.succeed(buffer.subarray(0, length)) : Effect.fail(short(`reading register ${hex(register)}`, bytesRead, length))
        )
      ),
    write: (bytes) => io(`writing ${bytes.map(hex).join(" ")}`, () => bus.i2cWrite(address, bytes.length, Buffer.from(bytes))).pipe(Effect.asVoid),
    read: (length) =>
      io(`reading ${length} bytes`, () => bus.i2cRead(address, length, Buffer.alloc(length))).pipe(
        Effect.flatMap(({ buffer, bytesRead }) => bytesRead === length ? Effect.succeed(buffer.subarray(0, length)) : Effect.fail(short("reading", bytesRead, length)))
      ),
    fail: (reason, message) => new I2cError({ reason, message: `${label}: ${message}` })
  }
}

/** One bus of the node, shared by every chip on it. */
export interface I2cBusHandle {
  readonly bus: number
  /** Runs one chip transaction with the bus to itself. */
  use<A>(address: number, model: string, transaction: (io: ChipIo) => Effect.Effect<A, I2cError>): Effect.Effect<A, I2cError>
}

/** What an I2C driver does. */
export interface I2cDriverShape {
  /** Bus `n` (`/dev/i2c-n`), opened on first use and kept until the driver's scope ends. */
  bus(n: number): Effect.Effect<I2cBusHandle, I2cError>
}

/** A driver over buses opened by `open` (the real addon, a test's fakes, the simulated twin). */
export const makeI2cDriver = Effect.fn("I2cBus.makeI2cDriver")(function*(open: (n: number) => Effect.Effect<I2cBus, I2cError>, onOpen: (bus: I2cBus) => void = () => {}) {
  const handles = new Map<number, I2cBusHandle>()
  const opening = yield* Semaphore.make(1)
  const driver: I2cDriverShape = {
    bus: (n) =>
      opening.withPermits(1)(Effect.gen(function*() {
        const existing = handles.get(n)
        if (existing !== undefined) return existing
        const bus = yield* open(n)
        onOpen(bus)
        const lock = yield* Semaphore.make(1)
        const handle: I2cBusHandle = {
          bus: n,
          use: (address, model, transaction) => lock.withPermits(1)(transaction(chipIo(bus, n, address, model)))
        }
        handles.set(n, handle)
        return handle
      }))
  }
  return driver
})

type PromisifiedBus = I2cBus & { close(): Promise<void> }

/** The real buses, through i2c-bus (loaded on first use). */
const realDriver = Effect.gen(function*() {
  const opened: Array<PromisifiedBus> = []
  yield* Effect.addFinalizer(() => Effect.promise(() => Promise.allSettled(opened.map((bus) => bus.close()))))
  const open = (n: number) =>
    Effect.gen(function*() {
      const addon = yield* Effect.tryPromise({
        try: () => import("i2c-bus"),
        catch: (cause) =>
          new I2cError({
            reason: "Unavailable",
            message: `the i2c-bus addon cannot load here (${(cause as Error).message}); \`npm ci\` builds it on Linux with make, g++ and python3 ` +
              "(deploy/setup.sh installs them). To run without hardware, use the simulated kinds or start the node with `--simulate`.",
            cause
          })
      })
      return yield* Effect.tryPromise({
        // i2c-bus opens the device file on the first transfer, not here: check it now, so that a
        // missing bus says how to enable I2C instead of failing each read with ENOENT.
        try: async () => {
          await access(`/dev/i2c-${n}`, constants.R_OK | constants.W_OK)
          return await (addon.openPromisified(n) as Promise<PromisifiedBus>)
        },
        catch: (cause) => {
          const code = (cause as NodeJS.ErrnoException).code
          return code === "ENOENT"
            ? new I2cError({
              reason: "NoBus",
              message: `no /dev/i2c-${n}: enable I2C with \`sudo raspi-config nonint do_i2c 0\` (or dtparam=i2c_arm=on in config.txt) and reboot. ` +
                "To run without hardware, use the simulated kinds or start the node with `--simulate`.",
              cause
            })
            : new I2cError({
              reason: "NoBus",
              message: `cannot open /dev/i2c-${n}: ${(cause as Error).message}${code === "EACCES" ? " (add the node's user to the i2c group)" : ""}`,
              cause
            })
        }
      })
    })
  return yield* makeI2cDriver(open, (bus) => opened.push(bus as PromisifiedBus))
})

/** The I2C driver service. */
export class I2cDriver extends Context.Service<I2cDriver, I2cDriverShape>()("bramble/hardware/I2cDriver") {
  /** The Pi's buses through i2c-bus; they are closed when the layer's scope ends. */
  static readonly layerI2cBus: Layer.Layer<I2cDriver> = Layer.effect(I2cDriver, realDriver)

  /** Given buses (a test's fake buses answering register reads); a bus not given is `NoBus`. */
  static readonly layerBuses = (buses: ReadonlyMap<number, I2cBus>): Layer.Layer<I2cDriver> =>
    Layer.effect(
      I2cDriver,
      makeI2cDriver((n) => {
        const bus = buses.get(n)
        return bus === undefined ? Effect.fail(new I2cError({ reason: "NoBus", message: `no /dev/i2c-${n}` })) : Effect.succeed(bus)
      })
    )
}
