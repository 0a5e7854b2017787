import { assert, describe, it } from "@effect/vitest"
import type { IngestRoute } from "@bramble/config"
import { decodeReadings, METRIC_PATTERN, Subjects } from "@bramble/protocol"
import fc from "fast-check"
import { batchRecords } from "../src/ingest/BatchRecords.js"
import { compileRoute, type Decoded, readPayload } from "../src/ingest/Dialects.js"
import { makeRouteTable } from "../src/ingest/RouteTable.js"

const route = (r: Partial<IngestRoute> & Pick<IngestRoute, "name" | "topic" | "dialect">): IngestRoute => ({ ignore: [], ...r })
const bytes = (text: string) => new TextEncoder().encode(text)
const STORED = Date.parse("2026-01-01T00:00:00Z")

const read = (r: IngestRoute, topic: string, payload: string | Uint8Array): Decoded => {
  const compiled = compileRoute(r)
  return readPayload(compiled, compiled.pattern.exec(topic)!, typeof payload === "string" ? bytes(payload) : payload, STORED)
}

const collector = route({ name: "collector", topic: "sensors/+room", dialect: "json", deviceField: "sensor_id", timeField: "timestamp" })
const dht = route({ name: "dht", topic: "dht/+device", dialect: "json", timeField: "time", timeUnit: "s" })
const generator = route({ name: "generator", topic: "generators/data", dialect: "json", deviceField: "generatorID", ignore: ["lat", "lon"] })
const home = route({ name: "home", topic: "home/+room/+metric", dialect: "value", device: "{room}" })
const telegraf = route({ name: "telegraf", topic: "telegraf/#", dialect: "line-protocol", deviceTag: "host" })

describe("dialects - the seeds' payloads, unchanged", () => {
  it("the Pi-cluster collector: device in the payload, ISO-8601 time", () => {
    const out = read(collector, "sensors/lab", `{"sensor_id": 1, "temperature": 25.5, "humidity": 60, "timestamp": "2023-05-20T10:00:00Z"}`)
    assert.deepStrictEqual(out, { readings: [{ device: "1", sensor: "collector", ts: Date.parse("2023-05-20T10:00:00Z"), values: { temperature: 25.5, humidity: 60 } }], refusals: [] })
  })

  it("the DHT11 script: time in seconds with a fraction", () => {
    const out = read(dht, "dht/pi-4", `{"time": 1700000000.123, "temperature": 21.0, "humidity": 40.0}`)
    assert.deepStrictEqual(out.readings, [{ device: "pi-4", sensor: "dht", ts: 1700000000123, values: { temperature: 21, humidity: 40 } }])
  })

  it("the generator simulation: string device id, ignored coordinates, no time", () => {
    const out = read(generator, "generators/data", `{"generatorID": "g1", "fuel": 480, "lat": 40.1, "lon": -74.2, "power": 3.2, "load": 0.7, "temperature": 71}`)
    assert.deepStrictEqual(out.readings, [{ device: "g1", sensor: "generator", ts: undefined, values: { fuel: 480, power: 3.2, load: 0.7, temperature: 71 } }])
  })

  it("Tasmota / Home Assistant: one number, the metric from the topic", () => {
    assert.deepStrictEqual(read(home, "home/livingroom/temperature", "21.5").readings, [{ device: "livingroom", sensor: "home", ts: undefined, values: { temperature: 21.5 } }])
    assert.deepStrictEqual(read(home, "home/livingroom/temperature", "ON").refusals.map((r) => r.reason), ["NotANumber"])
  })

  it("Telegraf: several lines, a bad one refused alone", () => {
    const out = read(telegraf, "telegraf/a", "cpu,host=pi-1 idle=90,user=3i 1700000000000000000\nbroken\nmem,host=pi-2 used=40.5,ok=true\n")
    assert.deepStrictEqual(out.readings, [
      { device: "pi-1", sensor: "cpu", ts: 1700000000000, values: { idle: 90, user: 3 } },
      { device: "pi-2", sensor: "mem", ts: undefined, values: { used: 40.5, ok: 1 } }
    ])
    assert.deepStrictEqual(out.refusals.map((r) => r.reason), ["MalformedLineProtocol"])
    assert.include(out.refusals[0]!.message, "line 2")
  })

  it("an array of objects: each one a reading, a bad one refused alone", () => {
    const out = read(collector, "sensors/lab", JSON.stringify([{ sensor_id: 7, t: 1, timestamp: "2026-01-01T00:00:00Z" }, { t: 2 }, { sensor_id: "bad id", t: 3, timestamp: "2026-01-01T00:00:00Z" }]))
    assert.strictEqual(out.readings.length, 1)
    assert.deepStrictEqual(out.refusals.map((r) => [r.reason, r.message.slice(0, 7)]), [["BadDeviceId", "item 1:"], ["BadDeviceId", "item 2:"]])
  })

  it("a field that cannot be a metric name is refused with a way out", () => {
    const out = read(dht, "dht/pi-4", `{"time": 1700000000, "temp c": 21}`)
    assert.deepStrictEqual(out.refusals.map((r) => r.reason), ["SchemaMismatch"])
    assert.include(out.refusals[0]!.message, "ignore")
  })
})

describe("dialects - tags", () => {
  it("json: the listed fields are tags, not values; line protocol: every tag but the device's", () => {
    const regional = route({ name: "regional", topic: "sensors/+device", dialect: "json", tags: ["region", "floor"] })
    assert.deepStrictEqual(read(regional, "sensors/a", `{"region": "north", "floor": 2, "t": 1}`).readings, [
      { device: "a", sensor: "regional", ts: undefined, values: { t: 1 }, tags: { region: "north", floor: "2" } }
    ])
    assert.deepStrictEqual(read(regional, "sensors/a", `{"region": {"x": 1}, "t": 1}`).refusals.map((r) => r.reason), ["SchemaMismatch"])
    assert.deepStrictEqual(read(telegraf, "telegraf/a", "disk,host=pi-1,device=sda1,path=/ used=3 1700000000000000000").readings, [
      { device: "pi-1", sensor: "disk", ts: 1700000000000, values: { used: 3 }, tags: { tag_device: "sda1", path: "/" } }
    ])
    const onlyPath = route({ name: "t", topic: "telegraf/#", dialect: "line-protocol", deviceTag: "host", tags: ["path"] })
    assert.deepStrictEqual(read(onlyPath, "telegraf/a", "disk,host=pi-1,fstype=ext4,path=/ used=3").readings[0]!.tags, { path: "/" })
  })
})

describe("batch records", () => {
  it("one record per device and sensor, in order; cut to fit the payload limit, the same cut every time", () => {
    const readings = Array.from({ length: 300 }, (_, i) => ({ device: `d${i % 3}`, sensor: "env", ts: STORED + i, values: { t: i } }))
    const records = batchRecords(readings, 8, STORED, 1_024)
    assert.isAbove(records.length, 3)
    for (const r of records) assert.isAtMost(r.data.length, 1_024)
    assert.deepStrictEqual(records.flatMap((r) => r.indices).sort((a, b) => a - b), readings.map((_, i) => i))
    for (const r of records) {
      const where = Subjects.parseReadingsSubject(r.subject)!
      const decoded = decodeReadings(r.data, where.device, where.sensor, STORED)
      assert.deepStrictEqual(decoded.readings.map((x) => x.values["t"]), r.indices.map((i) => i))
      assert.isTrue(r.indices.every((i) => readings[i]!.device === where.device))
    }
    assert.deepStrictEqual(batchRecords(readings, 8, STORED, 1_024), records)
    assert.lengthOf(batchRecords(readings, 8, STORED, 16 * 1024), 3)
  })
})

describe("dialects - hostile payloads", () => {
  const routes = [collector, dht, generator, home, telegraf, route({ name: "own", topic: "own/+device/+sensor", dialect: "bramble" })]
  const topics = ["sensors/lab", "dht/pi-4", "generators/data", "home/kitchen/temperature", "telegraf/x", "own/d1/env"]
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.string({ maxLength: 200 }).map(bytes),
    fc.json().map(bytes),
    fc.array(fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(fc.double(), fc.string(), fc.integer(), fc.constant(null)), { maxKeys: 6 }), { maxLength: 5 })
      .map((items) => bytes(JSON.stringify(items))),
    fc.array(fc.string({ maxLength: 60 }), { maxLength: 6 }).map((lines) => bytes(lines.join("\n")))
  )

  it("property - never throws; every message gives readings or refusals with a reason; what comes out is safe for a subject", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: routes.length - 1 }), payload, (i, data) => {
        const out = read(routes[i]!, topics[i]!, data)
        assert.isAbove(out.readings.length + out.refusals.length, 0)
        for (const r of out.readings) {
          assert.isTrue(Subjects.isToken(r.device) && Subjects.isToken(r.sensor), JSON.stringify(r))
          for (const [name, value] of Object.entries(r.values)) assert.isTrue(METRIC_PATTERN.test(name) && Number.isFinite(value), name)
        }
        for (const r of out.refusals) assert.isAbove(r.message.length, 0)
      }),
      { numRuns: 2_000 }
    )
  })
})

describe("route table", () => {
  const table = makeRouteTable({ ingest: { routes: [home, collector, route({ name: "all-sensors", topic: "sensors/#", dialect: "value", device: "any" })] } })

  it("the first route whose topic matches takes the message", () => {
    const routed = table.take("sensors.lab", bytes(`{"sensor_id": 1, "t": 1, "timestamp": "2026-01-01T00:00:00Z"}`), STORED)
    assert.strictEqual(routed._tag === "Routed" && routed.route.route.name, "collector")
    const deeper = table.take("sensors.lab.x", bytes("1"), STORED)
    assert.strictEqual(deeper._tag === "Routed" && deeper.route.route.name, "all-sensors")
  })

  it("a topic no route takes is NoRoute, naming the routes under its first level", () => {
    const routed = table.take("home.kitchen", bytes("1"), STORED)
    assert.strictEqual(routed._tag, "NoRoute")
    assert.include(routed._tag === "NoRoute" ? routed.message : "", "routes under home/: home (home/+room/+metric)")
  })

  it("Bramble's own streams and routed first levels are captured; other subjects are not", () => {
    assert.isTrue(table.isCaptured("readings.0.d.s"))
    assert.isTrue(table.isCaptured("home.a.b.c"))
    assert.isFalse(table.isCaptured("nowhere.x"))
  })
})
