import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeSensorStats, memoryOutbox, type Publish, runOneWireSensor } from "@bramble/actor-sensor"
import { OneWireDriver } from "@bramble/hardware"
import { type Alarm, Codec } from "@bramble/protocol"
import { eventually } from "./eventually.js"

const w1Slave = (millidegrees: number, crc: "YES" | "NO" = "YES") =>
  `50 05 4b 46 7f ff 0c 10 1c : crc=1c ${crc}\n50 05 4b 46 7f ff 0c 10 1c t=${millidegrees}\n`

const TANK = "28-0316a2796dff"
const ROOM = "28-000005e2fdc3"

describe("1-wire sensor actor", () => {
  it.live("a probe reporting the 85 °C power-on value is left out and raises sensor-fault naming it; the other keeps publishing; recovery clears", () =>
    Effect.gen(function*() {
      const root = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "bramble-w1-")))
      yield* Effect.addFinalizer(() => Effect.promise(() => rm(root, { recursive: true, force: true })))
      const write = (id: string, text: string) =>
        Effect.promise(async () => {
          await mkdir(join(root, id), { recursive: true })
          await writeFile(join(root, id, "w1_slave"), text)
        })
      yield* write(TANK, w1Slave(61_250))
      yield* write(ROOM, w1Slave(21_500))

      const published: Array<{ values: Record<string, number> }> = []
      const publish: Publish = (_s, data) => Effect.sync(() => void published.push(Codec.decode(data) as { values: Record<string, number> }))
      const alarms: Array<Alarm> = []
      const stats = makeSensorStats("boiler-room", "1wire")
      const fiber = yield* Effect.forkScoped(
        runOneWireSensor({
          spec: { kind: "ds18b20", device: "boiler-room", sensor: "1wire", probes: { tank: TANK, room: ROOM }, intervalMs: 20, faultAfter: 2 },
          outbox: memoryOutbox({ maxReadings: 10_000 }),
          publish,
          raise: (a) => Effect.sync(() => void alarms.push(a)),
          stats
        }).pipe(Effect.scoped, Effect.provide(OneWireDriver.layerSysfs(root)))
      )
      yield* eventually("a first reading", () => published.length > 0)
      assert.deepStrictEqual(published[0]!.values, { tank: 61.25, room: 21.5 })

      yield* write(TANK, w1Slave(85_000))
      yield* eventually("sensor-fault raised", () => alarms.some((a) => a.state === "raised"))
      const raised = alarms.find((a) => a.state === "raised")!
      assert.include(raised.message, "PowerOnReset")
      assert.include(raised.message, TANK)
      const before = published.length
      yield* eventually("readings while the tank probe is faulty", () => published.length >= before + 3)
      for (const reading of published.slice(before)) assert.deepStrictEqual(Object.keys(reading.values), ["room"])

      yield* write(TANK, w1Slave(60_500, "NO"))
      const crcFrom = published.length
      yield* eventually("more readings", () => published.length >= crcFrom + 3)
      assert.isFalse(published.slice(crcFrom).some((r) => "tank" in r.values), "a CRC failure was published")

      yield* write(TANK, w1Slave(60_500))
      yield* eventually("sensor-fault cleared", () => alarms.some((a) => a.state === "cleared"))
      yield* eventually("the tank again", () => published.some((r) => r.values["tank"] === 60.5))
      assert.isFalse(published.some((r) => r.values["tank"] === 85), "the power-on value was published")
      yield* Fiber.interrupt(fiber)
    }))
})
