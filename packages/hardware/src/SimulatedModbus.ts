/**
 * The simulated twin of the Modbus devices on a site, used off-site, in tests and in the
 * demo. A simulated device has only the registers it was given (`define` from a register
 * map, or `setRegisters`/`setBits`): reading anything else answers exception 2 (Illegal
 * Data Address), as a real device does. Values defined from a map drift slowly (a sine over
 * ten minutes, per metric) and coils toggle every few minutes, encoded in the point's own
 * type and word order, so the decoding path is the real one. Faults are scripted through
 * this control service: an exception code, a silent device (timeout), or both in turn.
 */
import { Context, type Effect } from "effect"
import type { ModbusErrorReason, ModbusTarget } from "./ModbusDriver.js"
import type { ModbusPoint, ModbusTable } from "./ModbusMap.js"

/** A scripted failure of the next read of a device. */
export type SimulatedModbusFault =
  | { readonly reason: "Exception"; readonly exceptionCode: number }
  | { readonly reason: Exclude<ModbusErrorReason, "Exception"> }

/** The simulated Modbus's control service, provided by `ModbusDriver.layerSimulated`. */
export class SimulatedModbus extends Context.Service<SimulatedModbus, {
  /** Gives device `unit` on `target` the registers of `points`, with drifting values. */
  define(target: ModbusTarget, unit: number, points: ReadonlyArray<ModbusPoint>): Effect.Effect<void>
  /** Sets registers (or bits, as 0/1) from `address` on; they keep these values until set again. */
  setRegisters(target: ModbusTarget, unit: number, table: ModbusTable, address: number, values: ReadonlyArray<number>): Effect.Effect<void>
  /** The next reads of the device fail with these faults, in order. */
  failNext(target: ModbusTarget, unit: number, faults: ReadonlyArray<SimulatedModbusFault>): Effect.Effect<void>
  /** While true, every read of the device times out (a device switched off). */
  setSilent(target: ModbusTarget, unit: number, silent: boolean): Effect.Effect<void>
  /** Requests the device has received: `{ table, address, count, atMs }`, oldest first. */
  requests(target: ModbusTarget, unit: number): Effect.Effect<ReadonlyArray<{ readonly table: ModbusTable; readonly address: number; readonly count: number; readonly atMs: number }>>
}>()("bramble/hardware/SimulatedModbus") {}
