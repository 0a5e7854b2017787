/**
 * Benchmark: the node's CPU cost of polling Modbus. 10 devices × 20 holding registers
 * (int16, uint16, int32, float32 in both word orders, in two contiguous runs per device),
 * each polled every second by its own sensor actor, all through one Modbus TCP connection to
 * a real pymodbus server (a gateway with 10 unit ids), into in-memory outboxes with a
 * publish that only counts. Two runs: every poll stored, and report by exception with a
 * deadband the (static) values never leave, so almost nothing is stored.
 *
 * Prints, per run: polls, register reads, readings stored, this process's CPU time (user +
 * system, `process.cpuUsage`) per register read and per reading stored. The pymodbus
 * server's own CPU is not counted (it is the PLC). The machine's load average is printed
 * beside each run: the per-read figures are CPU time, not wall time, but a loaded machine
 * still inflates them (cache misses, scheduling).
 *
 *   node --import tsx test/bench/modbus.ts [--seconds 30]
 */
import { makeSensorStats, memoryOutbox, type ModbusSensorSpec, type Publish, runModbusSensor, type SensorStats } from "@bramble/actor-sensor"
import { encodeWords, ModbusDriver, type ModbusPoint, type ModbusType } from "@bramble/hardware"
import { Effect, Fiber } from "effect"
import { cpus, loadavg } from "node:os"
import { parseArgs } from "node:util"
import { startModbusTcpServer } from "../support/ModbusServer.js"

const { values: args } = parseArgs({ options: { seconds: { type: "string", default: "30" } } })
const seconds = Number(args.seconds)
const DEVICES = 10
const REGISTERS = 20

// 20 registers as 14 points: 8 single-register, 6 double-register, over addresses 0..9 and 20..29.
const TYPES: ReadonlyArray<ModbusType> = ["int16", "uint16", "int32", "float32", "uint16", "int16", "float32", "uint32", "int16", "uint16", "int32", "uint16", "float32", "int16"]

const pointsAndWords = () => {
  const points: Array<ModbusPoint> = []
  const words: Record<number, number> = {}
  let address = 0
  TYPES.forEach((type, i) => {
    if (address === 10) address = 20 // a gap: two requests per device
    const wordOrder = i % 2 === 0 ? "big" as const : "little" as const
    const value = type === "float32" ? 12.5 + i : type === "int16" || type === "int32" ? -100 * i : 100 * i
    encodeWords(value, type, wordOrder).forEach((w, k) => (words[address + k] = w))
    points.push({ metric: `m${i}`, table: "holding", address, type, wordOrder })
    address += type === "int16" || type === "uint16" ? 1 : 2
  })
  return { points, words }
}

const run = async (label: string, port: number, deadband: boolean) => {
  const { points } = pointsAndWords()
  let stored = 0
  const publish: Publish = () => Effect.sync(() => void (stored += 1))
  const stats: Array<SensorStats> = []
  const actors = Array.from({ length: DEVICES }, (_, unit) => {
    const s = makeSensorStats(`plc-${unit + 1}`, "modbus")
    stats.push(s)
    const spec: ModbusSensorSpec = {
      kind: "modbus",
      device: s.device,
      sensor: "modbus",
      target: { transport: "tcp", host: "127.0.0.1", port },
      unit: unit + 1,
      points,
      intervalMs: 1_000,
      timeoutMs: 2_000,
      faultAfter: 3,
      ...(deadband ? { report: Object.fromEntries(points.map((p) => [p.metric, { deadband: { absolute: 1 }, maxSilenceMs: 600_000 }])) } : {})
    }
    return Effect.scoped(runModbusSensor({ spec, outbox: memoryOutbox({ maxReadings: 1_000_000 }), publish, raise: () => Effect.void, stats: s }))
  })
  const program = Effect.gen(function*() {
    const fibers = yield* Effect.forEach(actors, (actor) => Effect.forkChild(actor))
    yield* Effect.sleep(2_000) // connect and warm up
    const polls0 = stats.reduce((a, s) => a + s.reads, 0)
    const failures0 = stats.reduce((a, s) => a + s.readFailures, 0)
    const stored0 = stored
    const cpu0 = process.cpuUsage()
    yield* Effect.sleep(seconds * 1_000)
    const cpu = process.cpuUsage(cpu0)
    const polls = stats.reduce((a, s) => a + s.reads, 0) - polls0
    const failures = stats.reduce((a, s) => a + s.readFailures, 0) - failures0
    const readings = stored - stored0
    yield* Effect.forEach(fibers, Fiber.interrupt)
    const cpuMs = (cpu.user + cpu.system) / 1_000
    const reads = polls * REGISTERS
    console.log(
      `${label}: ${polls} polls (${failures} failed) = ${reads} register reads, ${readings} readings stored in ${seconds} s; ` +
        `CPU ${cpuMs.toFixed(0)} ms = ${(cpuMs / seconds / 10).toFixed(2)} % of one core; ` +
        `${(cpuMs * 1_000 / reads).toFixed(1)} µs per register read` +
        (readings > 0 ? `, ${(cpuMs * 1_000 / readings).toFixed(0)} µs per reading stored` : "") +
        `; load average ${loadavg().map((l) => l.toFixed(1)).join(" ")} on ${cpus().length} cores`
    )
  })
  await Effect.runPromise(program.pipe(Effect.provide(ModbusDriver.layerModbusSerial)))
}

const main = async () => {
  const { words } = pointsAndWords()
  const units = Object.fromEntries(Array.from({ length: DEVICES }, (_, i) => [i + 1, { hr: words }]))
  const server = await startModbusTcpServer(units)
  try {
    console.log(`Modbus polling: ${DEVICES} devices x ${REGISTERS} registers every second, one TCP connection to pymodbus, node ${process.version}`)
    await run("every poll stored     ", server.port, false)
    await run("deadband (no changes) ", server.port, true)
  } finally {
    await server.stop()
  }
}

void main()
