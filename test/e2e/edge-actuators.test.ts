/**
 * The edge of a node end to end, in process, with a real nats-server and VictoriaMetrics and
 * simulated drivers the test controls: a DHT that stops answering raises `sensor-fault` on
 * ALARMS and the siren wired to that alarm goes on, then off when the sensor reads again; a
 * `refuel` alarm raised by the rules engine from fuel readings switches a lamp; a door
 * contact publishes `{ state, count }` readings; and stopping the node leaves both outputs
 * off and released.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Context, Effect, Exit, Layer, Result, Scope } from "effect"
import { startNode } from "@bramble/cluster"
import { parseClusterConfig } from "@bramble/config"
import { freePorts, startVictoriaMetrics } from "@bramble/deploy"
import { DhtDriver, GpioDriver, SimulatedDht, SimulatedGpio } from "@bramble/hardware"
import { type Alarm, encodeReadingPayload, parseAlarm, Subjects } from "@bramble/protocol"
import { readStreamReadings, waitFor } from "../support/index.js"
import { promise, testDir, WAIT_MS } from "../support/SystemTest.js"

/** Every alarm event ALARMS holds, in order. */
const readAlarms = (url: string): Promise<Array<Alarm>> =>
  (async () => {
    const nc = await connect({ servers: url, name: "edge-test-alarms" })
    try {
      const js = jetstream(nc)
      const info = await (await jetstreamManager(nc)).streams.info(Subjects.Streams.alarms)
      if (info.state.messages === 0) return []
      const consumer = await js.consumers.get(Subjects.Streams.alarms, { deliver_policy: DeliverPolicy.All })
      const out: Array<Alarm> = []
      const batch = await consumer.fetch({ max_messages: 10_000, expires: 2_000 })
      for await (const m of batch) {
        const alarm = parseAlarm(m.data)
        if (Result.isSuccess(alarm)) out.push(alarm.success)
        if (m.info.pending === 0) break
      }
      return out
    } finally {
      await nc.close()
    }
  })()

describe("edge - sensors and actuators", () => {
  it.live("edge - a failing DHT raises sensor-fault and the siren follows it; refuel switches the lamp; a door contact publishes its edges", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-edge-")
      const db = yield* startVictoriaMetrics({ dir: join(dir, "vm") })
      const ports = yield* freePorts(4)
      const text = [
        `cluster: { name: edgetest, partitions: 2, dataDir: ${JSON.stringify(join(dir, "data"))} }`,
        `nodes: [{ name: pi1, httpPort: 0, nats: { port: ${ports[0]}, mqttPort: ${ports[1]}, httpPort: ${ports[2]}, clusterPort: ${ports[3]} } }]`,
        `sensors:`,
        `  - { device: gh-1, node: pi1, kind: simulated-dht11, pin: 4, interval: 1s, faultAfter: 2, calibration: { temperature: { offset: 100 } } }`,
        `  - { device: door-1, sensor: contact, node: pi1, kind: simulated-gpio-input, pin: 17, edge: both, debounce: 20ms, activeLow: true }`,
        `actuators:`,
        `  - { name: siren, node: pi1, kind: simulated-gpio-output, pin: 18, on: { rule: sensor-fault, device: gh-1 } }`,
        `  - { name: lamp, node: pi1, kind: simulated-gpio-output, pin: 23, activeLow: true, on: [{ rule: refuel }] }`,
        `windows: [{ name: 5s, size: 5s }]`,
        `rules: [{ kind: threshold, name: refuel, metric: fuel, below: 500, clearAbove: 550 }]`,
        `processing: { allowedLateness: 1s, idleAdvance: 1s, checkpointInterval: 500ms }`,
        `sink: { kind: influx-v2, url: ${db.url} }`
      ].join("\n")
      const config = parseClusterConfig(text, join(dir, "cluster.yaml"))
      if (Result.isFailure(config)) return yield* Effect.die(config.failure)

      // Drivers the test holds the control panels of.
      const dht = yield* Layer.build(DhtDriver.layerSimulated({ checksumErrorRate: 0, dropoutRate: 0 }))
      const gpio = yield* Layer.build(GpioDriver.layerSimulated())
      const sensors = Context.get(dht, SimulatedDht)
      const world = Context.get(gpio, SimulatedGpio)

      const nodeScope = yield* Scope.make()
      const node = yield* startNode({
        config: config.success,
        node: "pi1",
        hardware: { dht: Layer.succeedContext(dht), gpio: Layer.succeedContext(gpio) }
      }).pipe(Scope.provide(nodeScope))
      const url = node.natsUrl
      const siren = node.actuators.find((a) => a.name === "siren")!
      const lamp = node.actuators.find((a) => a.name === "lamp")!

      // The DHT delivers, calibrated.
      const first = yield* promise(() =>
        waitFor(() => readStreamReadings(url, "READINGS"), { until: (rs) => rs.some((r) => r.device === "gh-1"), timeoutMs: WAIT_MS, label: "a gh-1 reading" })
      )
      assert.isAbove(first.find((r) => r.device === "gh-1")!.values["temperature"]!, 100, "calibration offset applied")
      assert.deepStrictEqual(yield* world.openPins, [17, 18, 23].sort((a, b) => a - b))

      // The DHT stops answering: sensor-fault raised, the siren goes on.
      yield* sensors.failNext(4, Array(6).fill("Timeout"))
      yield* promise(() => waitFor(() => siren.value, { until: (v) => v === 1, timeoutMs: WAIT_MS, label: "siren on" }))
      yield* promise(() => waitFor(() => siren.value, { until: (v) => v === 0, timeoutMs: WAIT_MS, label: "siren off once the DHT reads again" }))
      const faults = (yield* promise(() => readAlarms(url))).filter((a) => a.rule === "sensor-fault")
      assert.deepStrictEqual(faults.map((a) => [a.device, a.state]), [["gh-1", "raised"], ["gh-1", "cleared"]])
      assert.deepStrictEqual((yield* world.writes(18)).map((w) => w.value), [1, 0])
      assert.strictEqual(lamp.value, 0, "the lamp watches another alarm")

      // Fuel below 500 raises refuel (rules engine), above 550 clears it: the lamp follows.
      const nc = yield* promise(() => connect({ servers: url, name: "edge-test-fuel" }))
      yield* Effect.addFinalizer(() => Effect.promise(() => nc.close()))
      const js = jetstream(nc)
      const fuel = (value: number, seq: number) =>
        promise(() => js.publish(Subjects.ingestSubject("gen-1", "tank"), encodeReadingPayload({ ts: Date.now(), seq, values: { fuel: value } }), { msgID: `gen-1.tank.${seq}` }))
      yield* fuel(420, 1)
      yield* promise(() => waitFor(() => lamp.value, { until: (v) => v === 1, timeoutMs: WAIT_MS, label: "lamp on after refuel" }))
      assert.strictEqual(yield* world.level(23), 0, "active low: on is the low level")
      yield* fuel(600, 2)
      yield* promise(() => waitFor(() => lamp.value, { until: (v) => v === 0, timeoutMs: WAIT_MS, label: "lamp off after refuel cleared" }))

      // The door contact: a press is two readings, counted.
      yield* world.press(17, { holdMs: 150 })
      const door = yield* promise(() =>
        waitFor(() => readStreamReadings(url, "READINGS").then((rs) => rs.filter((r) => r.device === "door-1")), {
          until: (rs) => rs.length >= 2,
          timeoutMs: WAIT_MS,
          label: "two door-1 readings"
        })
      )
      assert.deepStrictEqual(door.map((r) => [r.sensor, r.values]), [["contact", { state: 1, count: 1 }], ["contact", { state: 0, count: 2 }]])
      assert.isTrue(existsSync(join(dir, "data", "pi1", "outbox", "door-1.contact", "state.json")))

      // Raise refuel again, then stop the node: the lamp is left off and every pin released.
      yield* fuel(300, 3)
      yield* promise(() => waitFor(() => lamp.value, { until: (v) => v === 1, timeoutMs: WAIT_MS, label: "lamp on again" }))
      yield* Scope.close(nodeScope, Exit.void)
      const lampWrites = (yield* world.writes(23)).map((w) => w.value)
      assert.deepStrictEqual(lampWrites.slice(-2), [1, 0], "safe value written on shutdown")
      assert.deepStrictEqual(yield* world.openPins, [])
    }))
})
