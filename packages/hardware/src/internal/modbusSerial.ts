/**
 * The Modbus driver on the real wire, through `modbus-serial` (a maintained, dependency-free
 * Modbus master for Node.js that speaks TCP and, with its optional `serialport`, RTU). This
 * is the only place that touches the library: it is loaded on the first `open`, and every
 * error or rejection it produces becomes a `ModbusError` here, once.
 *
 * One connection per bus, opened by the first read and remade after a timeout or a broken
 * connection (a late answer to a timed-out request must never be taken for the answer to
 * the next one); reads on a bus take turns.
 */
import { Effect, Semaphore } from "effect"
import { createRequire } from "node:module"
import { type HardwareUnavailable, hardwareUnavailable } from "../HardwareUnavailable.js"
import {
  MODBUS_EXCEPTIONS,
  type ModbusBus,
  type ModbusDriverShape,
  ModbusError,
  type ModbusOpenOptions,
  type ModbusTarget,
  modbusTargetKey
} from "../ModbusDriver.js"
import { describeRange, type ModbusTable } from "../ModbusMap.js"

/** The part of modbus-serial's client this driver uses. */
interface ModbusClient {
  readonly isOpen: boolean
  connectTCP(host: string, options: { readonly port: number }): Promise<void>
  connectRTUBuffered(
    path: string,
    options: { readonly baudRate: number; readonly parity: string; readonly dataBits: number; readonly stopBits: number }
  ): Promise<void>
  setID(id: number): void
  setTimeout(ms: number): void
  close(callback: () => void): void
  destroy(callback: () => void): void
  readCoils(address: number, count: number): Promise<{ readonly data: ReadonlyArray<boolean> }>
  readDiscreteInputs(address: number, count: number): Promise<{ readonly data: ReadonlyArray<boolean> }>
  readInputRegisters(address: number, count: number): Promise<{ readonly data: ReadonlyArray<number> }>
  readHoldingRegisters(address: number, count: number): Promise<{ readonly data: ReadonlyArray<number> }>
}

type ModbusClientClass = new() => ModbusClient

const requireHere = createRequire(import.meta.url)

const loadLibrary: Effect.Effect<ModbusClientClass, HardwareUnavailable> = Effect.try({
  try: () => requireHere("modbus-serial") as ModbusClientClass,
  catch: (cause) =>
    hardwareUnavailable(
      "NativeAddon",
      `Cannot speak Modbus: the modbus-serial package did not load (${cause instanceof Error ? cause.message : String(cause)}); run npm install.`,
      cause
    )
})

/** RTU needs serialport's native binding; TCP does not. */
const checkSerialport: Effect.Effect<void, HardwareUnavailable> = Effect.try({
  try: () => {
    requireHere("serialport")
  },
  catch: (cause) =>
    hardwareUnavailable(
      "NativeAddon",
      `Cannot open a Modbus RTU serial port: the serialport package (modbus-serial's optional dependency) did not load ` +
        `(${cause instanceof Error ? cause.message : String(cause)}). Run \`npm rebuild @serialport/bindings-cpp\` on this machine.`,
      cause
    )
})

const text = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

/** The one place modbus-serial's errors become typed. */
export const toModbusError = (where: string) => (cause: unknown): ModbusError => {
  const error = cause as { modbusCode?: number; errno?: string; code?: string; message?: string }
  if (typeof error?.modbusCode === "number") {
    const code = error.modbusCode
    return new ModbusError({
      reason: "Exception",
      exceptionCode: code,
      message: `${where}: Modbus exception ${code} (${MODBUS_EXCEPTIONS[code] ?? "unknown exception"})`,
      cause
    })
  }
  const errno = error?.errno ?? error?.code
  if (errno === "ETIMEDOUT" || error?.message === "Timed out") {
    return new ModbusError({ reason: "Timeout", message: `${where}: no answer (timed out)`, cause })
  }
  if (/CRC|length|unexpected|invalid/i.test(error?.message ?? "") && errno === undefined) {
    return new ModbusError({ reason: "BadResponse", message: `${where}: bad answer (${text(cause)})`, cause })
  }
  return new ModbusError({ reason: "Connection", message: `${where}: ${text(cause)}`, cause })
}

interface Connection {
  readonly target: ModbusTarget
  readonly lock: Semaphore.Semaphore
  client: ModbusClient | undefined
  users: number
}

/**
 * Closes a connection. After a failure a TCP socket is destroyed, not ended: ending waits for
 * the peer's FIN, which a hung device never sends, and the bus's next request would wait
 * with it. A serial port has no peer to wait for; modbus-serial's buffered RTU port has no
 * destroy, so it is closed.
 */
const closeClient = (client: ModbusClient, how: "graceful" | "abort" = "graceful"): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    try {
      if (how === "abort") client.destroy(() => resume(Effect.void))
      else client.close(() => resume(Effect.void))
    } catch {
      resume(Effect.void)
    }
  }).pipe(Effect.timeout(2_000), Effect.ignore)

/** The real driver: construction is free, the first `open` loads modbus-serial. */
export const makeModbusSerialDriver: Effect.Effect<ModbusDriverShape> = Effect.gen(function*() {
  const library = yield* Effect.cached(loadLibrary)
  const connections = new Map<string, Connection>()

  const connect = (connection: Connection, Client: ModbusClientClass, timeoutMs: number) =>
    Effect.gen(function*() {
      const { target } = connection
      const client = new Client()
      const where = `Modbus ${modbusTargetKey(target)}`
      yield* Effect.tryPromise({
        try: () =>
          target.transport === "tcp"
            ? client.connectTCP(target.host, { port: target.port })
            : client.connectRTUBuffered(target.path, {
              baudRate: target.baudRate,
              parity: target.parity,
              dataBits: target.dataBits,
              stopBits: target.stopBits
            }),
        catch: (cause) => new ModbusError({ reason: "Connection", message: `${where}: cannot connect (${text(cause)})`, cause })
      }).pipe(
        Effect.timeoutOrElse({
          duration: timeoutMs,
          orElse: () => Effect.fail(new ModbusError({ reason: "Timeout", message: `${where}: connecting timed out after ${timeoutMs} ms` }))
        }),
        Effect.tapError(() => closeClient(client, target.transport === "tcp" ? "abort" : "graceful"))
      )
      connection.client = client
      return client
    })

  const open = (target: ModbusTarget, options: ModbusOpenOptions) =>
    Effect.gen(function*() {
      const Client = yield* library
      if (target.transport === "rtu") yield* checkSerialport
      const key = modbusTargetKey(target)
      let connection = connections.get(key)
      if (connection === undefined) {
        connection = { target, lock: yield* Semaphore.make(1), client: undefined, users: 0 }
        connections.set(key, connection)
      }
      const shared = connection
      shared.users += 1
      yield* Effect.addFinalizer(() =>
        Effect.gen(function*() {
          shared.users -= 1
          if (shared.users > 0) return
          connections.delete(key)
          const client = shared.client
          shared.client = undefined
          if (client !== undefined) yield* closeClient(client)
        })
      )

      const read = (unit: number, table: ModbusTable, address: number, count: number) =>
        Semaphore.withPermit(
          shared.lock,
          Effect.gen(function*() {
            const where = `Modbus ${key} unit ${unit}, ${describeRange(table, address, count)}`
            const client = shared.client?.isOpen === true ? shared.client : yield* connect(shared, Client, options.timeoutMs)
            client.setID(unit)
            client.setTimeout(options.timeoutMs)
            const answer = yield* Effect.tryPromise({
              try: (): Promise<{ readonly data: ReadonlyArray<boolean | number> }> => {
                switch (table) {
                  case "coil":
                    return client.readCoils(address, count)
                  case "discrete":
                    return client.readDiscreteInputs(address, count)
                  case "input":
                    return client.readInputRegisters(address, count)
                  case "holding":
                    return client.readHoldingRegisters(address, count)
                }
              },
              catch: toModbusError(where)
            }).pipe(
              Effect.tapError((error) =>
                // After a timeout or a broken connection the stream may still deliver a late
                // answer: start the next read on a fresh connection.
                error.reason === "Exception" ? Effect.void : Effect.gen(function*() {
                  if (shared.client === client) shared.client = undefined
                  yield* closeClient(client, target.transport === "tcp" ? "abort" : "graceful")
                })
              )
            )
            // Coils come back padded to whole bytes; registers as numbers.
            const values = answer.data.slice(0, count).map((v) => (typeof v === "boolean" ? (v ? 1 : 0) : v))
            if (values.length !== count) {
              return yield* Effect.fail(new ModbusError({ reason: "BadResponse", message: `${where}: answered ${values.length} value(s), not ${count}` }))
            }
            return values
          })
        )
      const bus: ModbusBus = { target, read }
      return bus
    })

  return { open } satisfies ModbusDriverShape
})
