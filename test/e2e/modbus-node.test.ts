/**
 * Modbus through a whole node into the database: a cluster file with a `modbus-tcp` sensor
 * pointed at a real Modbus server that is not Bramble's code (Debian's python3-pymodbus,
 * test/support/ModbusServer.ts), a node started in process with its real nats-server and the
 * real modbus-serial driver, and VictoriaMetrics as the sink. The values the server holds
 * arrive in the database decoded and scaled as the register map says, under the device and
 * sensor the file names; a register changed on the server arrives as the new value. Beside
 * it, simulated I2C chips (a BME280, an ADS1115 on a 4-20 mA loop) take the same path, so
 * the node's wiring of the I2C kinds is checked too.
 */
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { startNode } from "@bramble/cluster"
import { parseClusterConfig } from "@bramble/config"
import { freePorts, startVictoriaMetrics } from "@bramble/deploy"
import { encodeWords } from "@bramble/hardware"
import { readRawPoints, waitFor } from "../support/index.js"
import { startModbusTcpServer } from "../support/ModbusServer.js"
import { promise, testDir, WAIT_MS } from "../support/SystemTest.js"

const [pressureA, pressureB] = encodeWords(2.75, "float32", "little")

describe("modbus - through a node into the database", () => {
  it.live("a modbus-tcp sensor's registers are stored decoded and scaled; a changed register is stored as its new value; simulated I2C chips are stored beside it", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-modbus-node-")
      const server = yield* Effect.acquireRelease(
        promise(() => startModbusTcpServer({ 3: { ir: { 0: 0xff15 }, hr: { 9: pressureA!, 10: pressureB! }, co: { 5: 1 } } })),
        (s) => Effect.promise(() => s.stop())
      )
      const vm = yield* startVictoriaMetrics({ dir: join(dir, "vm") })
      const db = { kind: "victoria-metrics", url: vm.url } as const
      const ports = yield* freePorts(4)
      const text = [
        `cluster: { name: modbusnode, partitions: 2, dataDir: ${JSON.stringify(join(dir, "data"))} }`,
        `nodes: [{ name: pi2, httpPort: 0, nats: { port: ${ports[0]}, mqttPort: ${ports[1]}, httpPort: ${ports[2]}, clusterPort: ${ports[3]} } }]`,
        `sensors:`,
        `  - device: boiler-1`,
        `    node: pi2`,
        `    kind: modbus-tcp`,
        `    host: 127.0.0.1`,
        `    port: ${server.port}`,
        `    unit: 3`,
        `    interval: 500ms`,
        `    registers:`,
        `      - { metric: temperature, address: 30001, type: int16, scale: 0.1 }`,
        `      - { metric: pressure, address: 40010, type: float32, wordOrder: little }`,
        `      - { metric: running, coil: 5 }`,
        `  - { device: loft, node: pi2, kind: simulated-bme280, interval: 500ms }`,
        `  - { device: boiler-1, node: pi2, kind: simulated-ads1115, interval: 500ms, channels: [{ metric: water_pressure, input: A0, shunt: 150, from: [4, 20], to: [0, 10] }] }`,
        `processing: { allowedLateness: 1s, idleAdvance: 1s, checkpointInterval: 500ms }`,
        `sink: { kind: influx-v2, url: ${vm.url} }`
      ].join("\n")
      const config = parseClusterConfig(text, join(dir, "cluster.yaml"))
      if (Result.isFailure(config)) return yield* Effect.die(config.failure)
      yield* startNode({ config: config.success, node: "pi2" })

      const boiler = () => readRawPoints(db).then((points) => points.filter((p) => p.device === "boiler-1" && p.sensor === "modbus"))
      const stored = yield* promise(() => waitFor(boiler, { until: (ps) => ps.length > 0, timeoutMs: WAIT_MS, label: "a boiler-1 point in the database" }))
      assert.strictEqual(stored[0]!.sensor, "modbus")
      assert.deepStrictEqual(stored[0]!.values, { temperature: -23.5, pressure: 2.75, running: 1 })

      // The PLC's temperature rises to 61.3 °C and its burner stops.
      yield* promise(() => server.set(3, "ir", 0, [613]))
      yield* promise(() => server.set(3, "co", 5, [0]))
      const changed = yield* promise(() =>
        waitFor(boiler, { until: (ps) => ps.some((p) => p.values["temperature"] === 61.3 && p.values["running"] === 0), timeoutMs: WAIT_MS, label: "the changed registers in the database" })
      )
      // Every stored point is one the server held: no half-decoded or default values.
      for (const p of changed) {
        assert.include([-23.5, 61.3], p.values["temperature"])
        assert.strictEqual(p.values["pressure"], 2.75)
        assert.include([0, 1], p.values["running"])
      }

      const i2c = yield* promise(() =>
        waitFor(() => readRawPoints(db), {
          until: (ps) => ps.some((p) => p.device === "loft") && ps.some((p) => p.sensor === "ads1115"),
          timeoutMs: WAIT_MS,
          label: "the simulated BME280 and ADS1115 in the database"
        })
      )
      const loft = i2c.find((p) => p.device === "loft")!
      assert.strictEqual(loft.sensor, "bme280")
      assert.deepStrictEqual(Object.keys(loft.values).sort(), ["humidity", "pressure", "temperature"])
      assert.isTrue(loft.values["pressure"]! > 1000 && loft.values["pressure"]! < 1025, `${loft.values["pressure"]}`)
      const loop = i2c.find((p) => p.sensor === "ads1115")!
      assert.strictEqual(loop.device, "boiler-1")
      // 1.8 ± 0.6 V through 150 Ω is 8..16 mA: 2.5..7.5 bar.
      assert.isTrue(loop.values["water_pressure"]! > 2 && loop.values["water_pressure"]! < 8, `${loop.values["water_pressure"]}`)
    }))
})
