/**
 * Modbus against a real Modbus server that is not Bramble's code: Debian's python3-pymodbus
 * (3.0) serving a register map on a loopback port (test/support/ModbusServer.ts).
 *
 * - the driver and the register map: every type, both word orders, scaling, coils and
 *   discrete inputs, contiguous registers fetched in one request, a slave exception;
 * - `bramble sensors probe` (the built CLI) reads the server once and prints each metric;
 * - the sensor actor on the real wire: a server that stops answering raises `sensor-fault`
 *   with the Modbus reason and the outbox takes nothing wrong meanwhile, it clears on
 *   recovery, a restarted server is read again, and report-by-exception stores changes only.
 */
import { makeSensorStats, memoryOutbox, type ModbusSensorSpec, pollModbusDevice, type Publish, runModbusSensor } from "@bramble/actor-sensor"
import { encodeWords, type ModbusBus, ModbusDriver, type ModbusPoint, type ModbusTarget, planReads } from "@bramble/hardware"
import { type Alarm, Codec } from "@bramble/protocol"
import { Effect, Exit, Fiber, Layer, Scope } from "effect"
import { execFile } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { waitFor } from "../support/Db.js"
import { type ModbusServer, startModbusRtuServer, startModbusTcpServer } from "../support/ModbusServer.js"

const UNIT = 3
const [floatLittleA, floatLittleB] = encodeWords(3.75, "float32", "little")
const [int32High, int32Low] = encodeWords(-100_000, "int32", "big")
const [uint32High, uint32Low] = encodeWords(4_000_000_000, "uint32", "big")
const [floatBigA, floatBigB] = encodeWords(1.5, "float32", "big")

const MAP = {
  [UNIT]: {
    ir: { 0: 0xff15, 1: 65_000 },
    hr: { 9: floatLittleA!, 10: floatLittleB!, 20: int32High!, 21: int32Low!, 22: uint32High!, 23: uint32Low!, 30: floatBigA!, 31: floatBigB!, 40: 100 },
    co: { 5: 1 },
    di: { 2: 0, 3: 1 }
  }
}

/** Every type and word order, as the cluster file's registers become them. */
const POINTS: ReadonlyArray<ModbusPoint> = [
  { metric: "temperature", table: "input", address: 0, type: "int16", scale: 0.1 },
  { metric: "flow", table: "input", address: 1, type: "uint16" },
  { metric: "pressure", table: "holding", address: 9, type: "float32", wordOrder: "little" },
  { metric: "position", table: "holding", address: 20, type: "int32" },
  { metric: "energy", table: "holding", address: 22, type: "uint32", scale: 0.001, offset: 1 },
  { metric: "level", table: "holding", address: 30, type: "float32", wordOrder: "big" },
  { metric: "running", table: "coil", address: 5 },
  { metric: "door", table: "discrete", address: 2 },
  { metric: "alarm", table: "discrete", address: 3 }
]

const EXPECTED = {
  temperature: -23.5,
  flow: 65_000,
  pressure: 3.75,
  position: -100_000,
  energy: 4_000_000_000 * 0.001 + 1,
  level: 1.5,
  running: 1,
  door: 0,
  alarm: 1
}

const run = <A, E>(effect: Effect.Effect<A, E, ModbusDriver | Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(effect).pipe(Effect.provide(ModbusDriver.layerModbusSerial)))

let server: ModbusServer
let target: ModbusTarget

beforeAll(async () => {
  server = await startModbusTcpServer(MAP)
  target = { transport: "tcp", host: "127.0.0.1", port: server.port }
})
afterAll(async () => {
  await server?.stop()
})

describe("modbus tcp - against pymodbus", () => {
  it("reads every type and word order, scaled, with contiguous registers in one request", async () => {
    const requests: Array<string> = []
    const poll = await run(Effect.gen(function*() {
      const bus = yield* (yield* ModbusDriver).open(target, { timeoutMs: 2_000 })
      const counting: Pick<ModbusBus, "read"> = {
        read: (unit, table, address, count) => {
          requests.push(`${table} ${address}+${count}`)
          return bus.read(unit, table, address, count)
        }
      }
      return yield* pollModbusDevice(counting, UNIT, planReads(POINTS))
    }))
    assert.strictEqual(poll.failure, undefined)
    for (const [metric, value] of Object.entries(EXPECTED)) assert.closeTo(poll.values[metric]!, value, 1e-9, metric)
    // holding 20..23 (int32 + uint32) is one request; 9..10 and 30..31 are not contiguous with it.
    assert.deepStrictEqual(requests.sort(), ["coil 5+1", "discrete 2+2", "holding 20+4", "holding 30+2", "holding 9+2", "input 0+2"])
  })

  it("a register the device does not have: Modbus exception 2, the other blocks still read", async () => {
    const points: ReadonlyArray<ModbusPoint> = [...POINTS, { metric: "missing", table: "holding", address: 100 }]
    const poll = await run(Effect.gen(function*() {
      const bus = yield* (yield* ModbusDriver).open(target, { timeoutMs: 2_000 })
      return yield* pollModbusDevice(bus, UNIT, planReads(points))
    }))
    assert.include(poll.failure ?? "", "Exception")
    assert.include(poll.failure ?? "", "Modbus exception 2 (Illegal Data Address)")
    assert.include(poll.failure ?? "", "holding registers 100")
    assert.closeTo(poll.values["pressure"]!, 3.75, 1e-9)
    assert.isUndefined(poll.values["missing"])
  })

  it("sensor actor - a silent server raises sensor-fault with the Modbus reason, nothing wrong is kept, recovery and a restarted server are read again; deadband stores changes only", async () => {
    const published: Array<{ ts: number; seq: number; values: Record<string, number> }> = []
    const publish: Publish = (_subject, data) => Effect.sync(() => void published.push(Codec.decode(data) as (typeof published)[number]))
    const alarms: Array<Alarm> = []
    const spec: ModbusSensorSpec = {
      kind: "modbus",
      device: "boiler-1",
      sensor: "modbus",
      target,
      unit: UNIT,
      points: [
        { metric: "setpoint", table: "holding", address: 40, type: "uint16", scale: 0.5 },
        { metric: "running", table: "coil", address: 5 }
      ],
      intervalMs: 100,
      // Generous, so that a busy machine's slow answer is not taken for a silent server.
      timeoutMs: 1_000,
      faultAfter: 3,
      // Report by exception: only a change of more than 1 (engineering units) is stored.
      report: { setpoint: { deadband: { absolute: 1 } }, running: { deadband: { absolute: 0 } } }
    }
    const stats = makeSensorStats(spec.device, spec.sensor)
    const scope = Effect.runSync(Scope.make())
    const fiber = Effect.runFork(
      runModbusSensor({ spec, outbox: memoryOutbox({ maxReadings: 10_000 }), publish, raise: (a) => Effect.sync(() => void alarms.push(a)), stats }).pipe(
        Effect.provide(Layer.merge(ModbusDriver.layerModbusSerial, Layer.succeed(Scope.Scope, scope)))
      )
    )
    try {
      // The first poll publishes both metrics; the value does not change, so nothing more.
      await waitFor(() => published.length, { until: (n) => n >= 1, label: "the first reading" })
      await waitFor(() => stats.reads, { until: (n) => n >= 10, label: "ten polls" })
      assert.strictEqual(published.length, 1, JSON.stringify(published))
      assert.deepStrictEqual(published[0]!.values, { setpoint: 50, running: 1 })

      // A change within the deadband (50 -> 50.5) is not stored; beyond it (-> 52) it is, setpoint only.
      await server.set(UNIT, "hr", 40, [101])
      const readsAfterSmall = stats.reads
      await waitFor(() => stats.reads, { until: (n) => n >= readsAfterSmall + 5, label: "five polls" })
      assert.strictEqual(published.length, 1)
      await server.set(UNIT, "hr", 40, [104])
      await waitFor(() => published.length, { until: (n) => n >= 2, label: "the change beyond the deadband" })
      assert.deepStrictEqual(published[1]!.values, { setpoint: 52 })

      // The server stops answering: sensor-fault with the reason, no reading taken meanwhile.
      server.pause()
      const raised = (await waitFor(() => alarms.find((a) => a.rule === "sensor-fault" && a.state === "raised"), { label: "sensor-fault raised" }))!
      assert.include(raised.message, "Timeout")
      assert.include(raised.message, `Modbus 127.0.0.1:${server.port} unit ${UNIT}`)
      const duringPause = published.length
      const failuresAtRaise = stats.readFailures
      await waitFor(() => stats.readFailures, { until: (n) => n >= failuresAtRaise + 2, label: "more failed polls" })
      assert.strictEqual(published.length, duringPause, "a silent server produced readings")
      assert.isTrue(stats.fault)

      // Recovery: cleared, and every metric is reported again at once (the deadband state was reset).
      server.resume()
      await waitFor(() => alarms.find((a) => a.rule === "sensor-fault" && a.state === "cleared"), { timeoutMs: 30_000, label: "sensor-fault cleared" })
      await waitFor(() => published.length, { until: (n) => n > duringPause, label: "a reading after recovery" })
      assert.deepStrictEqual(published[duringPause]!.values, { setpoint: 52, running: 1 })

      // A restarted server (its initial map again: setpoint 50) is read on a new connection.
      await server.restart()
      await waitFor(() => published.at(-1)?.values["setpoint"], { until: (v) => v === 50, timeoutMs: 30_000, label: "the restarted server's value" })

      // Nothing wrong was kept: every reading holds values the server had, in seq order.
      for (const reading of published) {
        if ("setpoint" in reading.values) assert.include([50, 52], reading.values["setpoint"])
        if ("running" in reading.values) assert.strictEqual(reading.values["running"], 1)
      }
      assert.deepStrictEqual(published.map((r) => r.seq), published.map((_, i) => i + 1))
    } finally {
      await Effect.runPromise(Fiber.interrupt(fiber))
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
})

const CLI = resolve(import.meta.dirname, "../../cluster/dist/bin/bramble.js")

const probe = (file: string, ...args: Array<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    execFile(process.execPath, [CLI, "sensors", "probe", "-c", file, "-n", "pi2", ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
      done({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr }))
  })

describe("bramble sensors probe - against pymodbus", () => {
  it("prints every metric of the register map as the cluster file names it; a missing register fails with the exception and exit code 1", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bramble-probe-"))
    try {
      const file = join(dir, "cluster.yaml")
      const config = (extra: string) => `
cluster: { name: plant }
nodes: [{ name: pi2 }]
sensors:
  - device: boiler-1
    node: pi2
    kind: modbus-tcp
    host: 127.0.0.1
    port: ${server.port}
    unit: ${UNIT}
    registers:
      - { metric: temperature, address: 30001, type: int16, scale: 0.1 }
      - { metric: pressure, address: 40010, type: float32, wordOrder: little }
      - { metric: energy, holding: 22, type: uint32 }
      - { metric: running, coil: 5 }
      - { metric: alarm, discreteInput: 3 }
${extra}
sink: { kind: influx-v2, url: "http://127.0.0.1:8086" }
`
      await writeFile(file, config(""))
      const ok = await probe(file)
      assert.strictEqual(ok.code, 0, ok.stderr)
      // Blocks are read table by table: coils, discrete inputs, input registers, holding registers.
      assert.strictEqual(
        ok.stdout.trim(),
        `boiler-1/modbus (modbus-tcp, 127.0.0.1:${server.port} unit ${UNIT}): running=1 alarm=1 temperature=-23.5 pressure=3.75 energy=4000000000`
      )

      await writeFile(file, config("      - { metric: missing, holding: 100 }"))
      const json = await probe(file, "--json")
      assert.strictEqual(json.code, 1)
      const [result] = JSON.parse(json.stdout) as Array<{ values: Record<string, number>; error?: string }>
      assert.include(result!.error ?? "", "Modbus exception 2 (Illegal Data Address)")
      assert.strictEqual(result!.values["pressure"], 3.75)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe("modbus rtu - against pymodbus on a socat pseudo-terminal pair", () => {
  it("two devices on one serial bus, polled in turn over one port; an absent unit times out", async () => {
    const rtu = await startModbusRtuServer({ 1: { hr: { 0: 7, 1: 8 } }, 2: { ir: { 4: 0xfffe } } }, { baudRate: 19200 })
    try {
      const bus: ModbusTarget = { transport: "rtu", path: rtu.device!, baudRate: 19200, parity: "none", dataBits: 8, stopBits: 1 }
      const result = await run(Effect.gen(function*() {
        const driver = yield* ModbusDriver
        // Two handles on one port share one connection; their reads are started together.
        const [a, b] = [yield* driver.open(bus, { timeoutMs: 1_000 }), yield* driver.open(bus, { timeoutMs: 1_000 })]
        const [one, two] = yield* Effect.all([
          pollModbusDevice(a!, 1, planReads([{ metric: "x", table: "holding", address: 0 }, { metric: "y", table: "holding", address: 1 }])),
          pollModbusDevice(b!, 2, planReads([{ metric: "z", table: "input", address: 4, type: "int16" }]))
        ], { concurrency: "unbounded" })
        const absent = yield* pollModbusDevice(a!, 9, planReads([{ metric: "x", table: "holding", address: 0 }]))
        return { one, two, absent }
      }))
      assert.deepStrictEqual(result.one, { values: { x: 7, y: 8 }, failure: undefined })
      assert.deepStrictEqual(result.two, { values: { z: -2 }, failure: undefined })
      assert.include(result.absent.failure ?? "", "Timeout")
    } finally {
      await rtu.stop()
    }
  })
})
