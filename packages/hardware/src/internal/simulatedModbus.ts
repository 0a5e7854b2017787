/**
 * The Modbus driver over simulated devices (see `SimulatedModbus`): the same shape and the
 * same errors as the real driver, reads on one bus taking turns like on a real one.
 */
import { Clock, Effect, Semaphore } from "effect"
import {
  MODBUS_EXCEPTIONS,
  type ModbusBus,
  type ModbusDriverShape,
  ModbusError,
  type ModbusTarget,
  modbusTargetKey
} from "../ModbusDriver.js"
import { describeRange, encodeWords, isBitTable, type ModbusPoint, type ModbusTable } from "../ModbusMap.js"
import type { SimulatedModbus, SimulatedModbusFault } from "../SimulatedModbus.js"
import { hashUnit } from "./prng.js"

interface Device {
  /** Fixed values, by table and address. */
  readonly fixed: Map<string, number>
  /** Drifting values, computed at read time. */
  readonly drifting: Map<string, (atMs: number) => number>
  readonly faults: Array<SimulatedModbusFault>
  silent: boolean
  readonly requests: Array<{ table: ModbusTable; address: number; count: number; atMs: number }>
}

const KEEP_REQUESTS = 1_000
const at = (table: ModbusTable, address: number) => `${table}:${address}`

/** The raw value a drifting point has at `atMs`: 50 ± 10 engineering units, or a bit. */
const driftingRaw = (point: ModbusPoint, salt: number, atMs: number): number => {
  const phase = hashUnit(salt, 1) * 2 * Math.PI
  if (isBitTable(point.table)) return Math.floor(atMs / 180_000 + hashUnit(salt, 2) * 4) % 2
  const engineering = 50 + 10 * Math.sin(2 * Math.PI * atMs / 600_000 + phase)
  const raw = (engineering - (point.offset ?? 0)) / (point.scale ?? 1)
  const type = point.type ?? "uint16"
  if (type === "float32") return raw
  const [min, max] = type === "int16" ? [-32768, 32767] : type === "uint16" ? [0, 65535] : type === "int32" ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1]
  return Math.min(max, Math.max(min, Math.round(raw)))
}

export const makeSimulatedModbus: Effect.Effect<{
  readonly driver: ModbusDriverShape
  readonly control: SimulatedModbus["Service"]
}> = Effect.sync(() => {
  const devices = new Map<string, Device>()
  const locks = new Map<string, Semaphore.Semaphore>()
  const device = (target: ModbusTarget, unit: number): Device => {
    const key = `${modbusTargetKey(target)}#${unit}`
    let d = devices.get(key)
    if (d === undefined) {
      d = { fixed: new Map(), drifting: new Map(), faults: [], silent: false, requests: [] }
      devices.set(key, d)
    }
    return d
  }

  const control: SimulatedModbus["Service"] = {
    define: (target, unit, points) =>
      Effect.sync(() => {
        const d = device(target, unit)
        points.forEach((point, i) => {
          const salt = hashUnit(unit, point.address, i) * 1e9
          const words = (atMs: number) => {
            const raw = driftingRaw(point, salt, atMs)
            return isBitTable(point.table) ? [raw] : encodeWords(raw, point.type ?? "uint16", point.wordOrder)
          }
          const width = isBitTable(point.table) ? 1 : words(0).length
          for (let w = 0; w < width; w++) d.drifting.set(at(point.table, point.address + w), (atMs) => words(atMs)[w]!)
        })
      }),
    setRegisters: (target, unit, table, address, values) =>
      Effect.sync(() => {
        const d = device(target, unit)
        values.forEach((value, i) => {
          d.drifting.delete(at(table, address + i))
          d.fixed.set(at(table, address + i), value)
        })
      }),
    failNext: (target, unit, faults) => Effect.sync(() => void device(target, unit).faults.push(...faults)),
    setSilent: (target, unit, silent) =>
      Effect.sync(() => {
        device(target, unit).silent = silent
      }),
    requests: (target, unit) => Effect.sync(() => [...device(target, unit).requests])
  }

  const driver: ModbusDriverShape = {
    open: (target, options) =>
      Effect.sync(() => {
        const key = modbusTargetKey(target)
        let lock = locks.get(key)
        if (lock === undefined) {
          lock = Semaphore.makeUnsafe(1)
          locks.set(key, lock)
        }
        const bus: ModbusBus = {
          target,
          read: (unit, table, address, count) =>
            Semaphore.withPermit(
              lock,
              Effect.gen(function*() {
                const where = `Modbus ${key} unit ${unit}, ${describeRange(table, address, count)}`
                const d = device(target, unit)
                const atMs = yield* Clock.currentTimeMillis
                d.requests.push({ table, address, count, atMs })
                if (d.requests.length > KEEP_REQUESTS) d.requests.shift()
                const fault = d.faults.shift() ?? (d.silent ? { reason: "Timeout" as const } : undefined)
                if (fault !== undefined) {
                  if (fault.reason === "Timeout") {
                    // A silent device costs the master its whole timeout.
                    yield* Effect.sleep(options.timeoutMs)
                    return yield* Effect.fail(new ModbusError({ reason: "Timeout", message: `${where}: no answer (timed out)` }))
                  }
                  return yield* Effect.fail(
                    fault.reason === "Exception"
                      ? new ModbusError({
                        reason: "Exception",
                        exceptionCode: fault.exceptionCode,
                        message: `${where}: Modbus exception ${fault.exceptionCode} (${MODBUS_EXCEPTIONS[fault.exceptionCode] ?? "unknown exception"})`
                      })
                      : new ModbusError({ reason: fault.reason, message: `${where}: simulated ${fault.reason}` })
                  )
                }
                const values: Array<number> = []
                for (let i = 0; i < count; i++) {
                  const k = at(table, address + i)
                  const value = d.fixed.get(k) ?? d.drifting.get(k)?.(atMs)
                  if (value === undefined) {
                    return yield* Effect.fail(
                      new ModbusError({ reason: "Exception", exceptionCode: 2, message: `${where}: Modbus exception 2 (${MODBUS_EXCEPTIONS[2]})` })
                    )
                  }
                  values.push(value)
                }
                return values
              })
            )
        }
        return bus
      })
  }
  return { driver, control }
})
