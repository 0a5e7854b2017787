/**
 * Talks Modbus to PLCs, meters and I/O modules, over TCP or over a serial line (RTU). The
 * service is the seam between the sensor actors and the wire: `layerModbusSerial` speaks
 * the real protocol through the `modbus-serial` library, `layerSimulated` answers from
 * simulated devices (see `SimulatedModbus`) anywhere.
 *
 * A bus (one TCP endpoint, one serial port) has one connection per driver, shared by every
 * device read through it and used by one request at a time: a serial line has a single
 * master, and many Modbus TCP gateways serve one request at a time too. Several devices on
 * one bus are therefore polled in turn, never concurrently.
 */
import { Context, Data, Effect, Layer, type Scope } from "effect"
import type { HardwareUnavailable } from "./HardwareUnavailable.js"
import { makeModbusSerialDriver } from "./internal/modbusSerial.js"
import { makeSimulatedModbus } from "./internal/simulatedModbus.js"
import type { ModbusTable } from "./ModbusMap.js"
import { SimulatedModbus } from "./SimulatedModbus.js"

/** Where a bus is. */
export type ModbusTarget =
  | { readonly transport: "tcp"; readonly host: string; readonly port: number }
  | {
    readonly transport: "rtu"
    /** The serial device, e.g. /dev/ttyUSB0. */
    readonly path: string
    readonly baudRate: number
    readonly parity: "none" | "even" | "odd"
    readonly dataBits: 7 | 8
    readonly stopBits: 1 | 2
  }

/** The bus's name in messages and the key that shares one connection. */
export const modbusTargetKey = (target: ModbusTarget): string =>
  target.transport === "tcp" ? `${target.host}:${target.port}` : target.path

/**
 * Why a Modbus read failed:
 * - `Exception`: the device answered with a Modbus exception (`exceptionCode`), e.g. 2
 *   Illegal Data Address for a register it does not have;
 * - `Timeout`: no answer within the timeout (device off, wrong unit id on RTU, a gateway
 *   whose device is silent);
 * - `Connection`: the TCP connection or serial port could not be opened or broke;
 * - `BadResponse`: an answer that does not fit the request (CRC error, wrong length).
 */
export type ModbusErrorReason = "Exception" | "Timeout" | "Connection" | "BadResponse"

/** The Modbus exception codes and what they mean (Modbus application protocol v1.1b3, 7). */
export const MODBUS_EXCEPTIONS: Readonly<Record<number, string>> = {
  1: "Illegal Function",
  2: "Illegal Data Address",
  3: "Illegal Data Value",
  4: "Server Device Failure",
  5: "Acknowledge",
  6: "Server Device Busy",
  8: "Memory Parity Error",
  10: "Gateway Path Unavailable",
  11: "Gateway Target Device Failed to Respond"
}

/** A Modbus read failed; `message` names the bus, the unit, the registers and the reason. */
export class ModbusError extends Data.TaggedError("ModbusError")<{
  readonly reason: ModbusErrorReason
  readonly message: string
  readonly exceptionCode?: number
  readonly cause?: unknown
}> {}

/** A shared connection to one bus. */
export interface ModbusBus {
  readonly target: ModbusTarget
  /**
   * `count` registers (as unsigned 16-bit numbers) or bits (as 0/1) of `table` from the
   * 0-based `address` of device `unit`. Waits its turn on the bus.
   */
  read(unit: number, table: ModbusTable, address: number, count: number): Effect.Effect<ReadonlyArray<number>, ModbusError>
}

export interface ModbusOpenOptions {
  /** Longest wait for one answer. */
  readonly timeoutMs: number
}

/** What a Modbus driver does. */
export interface ModbusDriverShape {
  /**
   * The bus at `target` for the duration of the scope. Opening never fails for an
   * unreachable device: the connection is made (and remade) by the reads, whose errors say
   * why. It fails with `HardwareUnavailable` when the driver cannot run here at all (no
   * serial support built).
   */
  open(target: ModbusTarget, options: ModbusOpenOptions): Effect.Effect<ModbusBus, HardwareUnavailable, Scope.Scope>
}

/** The Modbus driver service. */
export class ModbusDriver extends Context.Service<ModbusDriver, ModbusDriverShape>()("bramble/hardware/ModbusDriver") {
  /** The real protocol through `modbus-serial` (TCP; RTU through its optional `serialport`). */
  static readonly layerModbusSerial: Layer.Layer<ModbusDriver> = Layer.effect(ModbusDriver, makeModbusSerialDriver)

  /** Simulated devices (see `SimulatedModbus`), with their control service. */
  static readonly layerSimulated: Layer.Layer<ModbusDriver | SimulatedModbus> = Layer.effectContext(
    Effect.map(
      makeSimulatedModbus,
      ({ control, driver }) => Context.make(ModbusDriver, driver).pipe(Context.add(SimulatedModbus, control))
    )
  )
}
