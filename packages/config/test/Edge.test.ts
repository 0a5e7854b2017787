import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { type ConfigError, parseClusterConfig } from "@bramble/config"

const file = (edge: string) => `
cluster: { name: home }
nodes:
  - name: pi1
  - { name: pi2, host: 10.0.0.2 }
${edge}
sink: { kind: influx-v2, url: "http://127.0.0.1:8086" }
`

const edge = `
sensors:
  - device: greenhouse-1
    node: pi1
    kind: dht22
    pin: 4
    interval: 10s
    faultAfter: 3
    calibration:
      temperature: { offset: -0.4 }
      humidity: { scale: 1.02, offset: -1 }
    outbox: { maxReadings: 5000 }
  - { device: door-1, sensor: contact, node: pi1, kind: gpio-input, pin: 17, edge: both, debounce: 30ms, activeLow: true }
  - { device: load-1, node: pi2, kind: synthetic, interval: 100ms }
actuators:
  - { name: siren, node: pi1, pin: 18, activeLow: true, on: { rule: sensor-fault, device: greenhouse-1 } }
  - { name: lamp, node: pi2, kind: simulated-gpio-output, pin: 4, on: [{ rule: refuel }, { rule: outbox-overflow }] }
`

const problemsOf = (text: string) => {
  const result = parseClusterConfig(text, "bramble.yaml")
  assert.isTrue(Result.isFailure(result), "expected the file to be refused")
  return (result as Result.Failure<never, ConfigError>).failure.problems
}

describe("cluster file - sensors and actuators", () => {
  it("decode - sensors of every kind and actuators, with their defaults", () => {
    const config = Result.getOrThrow(parseClusterConfig(file(edge)))
    const [dht, door, load] = config.sensors
    assert.deepStrictEqual(dht!.calibration, { temperature: { offset: -0.4 }, humidity: { scale: 1.02, offset: -1 } })
    assert.strictEqual(dht!.interval, 10_000)
    assert.strictEqual(dht!.attempts, 3)
    assert.strictEqual(dht!.faultAfter, 3)
    assert.strictEqual(dht!.outbox.maxReadings, 5000)
    assert.deepStrictEqual([door!.kind, door!.pin, door!.edge, door!.debounce, door!.activeLow, door!.outbox.maxReadings], ["gpio-input", 17, "both", 30, true, 100_000])
    assert.strictEqual(load!.interval, 100)
    assert.deepStrictEqual(config.actuators.map((a) => [a.name, a.kind, a.pin, a.activeLow, a.on]), [
      ["siren", "gpio-output", 18, true, { rule: "sensor-fault", device: "greenhouse-1" }],
      ["lamp", "simulated-gpio-output", 4, false, [{ rule: "refuel" }, { rule: "outbox-overflow" }]]
    ])
  })

  it("decode - a file without actuators has none, and a sensor gets the default outbox, fault threshold and debounce", () => {
    const config = Result.getOrThrow(parseClusterConfig(file("sensors: [{ device: d, node: pi1, kind: simulated-dht22 }]")))
    assert.deepStrictEqual(config.actuators, [])
    const [s] = config.sensors
    assert.deepStrictEqual([s!.outbox.maxReadings, s!.faultAfter, s!.attempts, s!.debounce, s!.edge], [100_000, 5, 3, 50, "both"])
  })

  it("validate - a pin off the header, a zero scale and an unknown edge are refused with their paths", () => {
    const problems = problemsOf(file(`
sensors:
  - { device: a, node: pi1, kind: dht22, pin: 40 }
  - { device: b, node: pi1, kind: dht11, calibration: { temperature: { scale: 0 } } }
  - { device: c, node: pi1, kind: gpio-input, edge: sideways }
actuators:
  - { name: x, node: pi1, pin: 30, on: { rule: refuel } }
`))
    const byPath = new Map(problems.map((p) => [p.path, p.message]))
    assert.include(byPath.get("sensors[0].pin"), "BCM GPIO number 0..27")
    assert.include(byPath.get("sensors[1].calibration.temperature.scale"), "must not be 0")
    assert.isDefined(byPath.get("sensors[2].edge"))
    assert.include(byPath.get("actuators[0].pin"), "BCM GPIO number 0..27")
  })

  it("validate - an actuator needs a pin and at least one alarm to watch", () => {
    const problems = problemsOf(file(`actuators: [{ name: x, node: pi1, on: [] }]`))
    const paths = problems.map((p) => p.path)
    assert.include(paths, "actuators[0].pin")
    assert.isTrue(paths.some((p) => p.startsWith("actuators[0].on")), paths.join(", "))
  })

  it("validate - cross checks: unknown nodes, duplicate names, calibrations of values a kind does not have, intervals, shared pins", () => {
    const problems = problemsOf(file(`
sensors:
  - { device: a, node: pi1, kind: dht22, pin: 4, calibration: { temprature: { offset: 1 } } }
  - { device: b, node: pi9, kind: gpio-input, pin: 4, calibration: { state: { scale: 2 } } }
  - { device: c, node: pi1, kind: synthetic, interval: 5ms }
  - { device: d, node: pi1, kind: simulated-dht11, interval: 500ms }
  - { device: e, node: pi1, kind: simulated-dht22, pin: 18 }
actuators:
  - { name: x, node: pi1, pin: 4, on: { rule: refuel } }
  - { name: x, node: pi3, pin: 5, on: { rule: refuel } }
  - { name: y, node: pi1, pin: 18, on: { rule: refuel } }
`))
    const byPath = new Map(problems.map((p) => [p.path, p.message]))
    assert.include(byPath.get("sensors[0].calibration.temprature"), "its values: temperature, humidity")
    assert.include(byPath.get("sensors[1].node"), `no node is named "pi9"`)
    assert.include(byPath.get("sensors[1].calibration.state"), "nothing to calibrate")
    assert.include(byPath.get("sensors[2].interval"), "10 ms")
    assert.include(byPath.get("sensors[3].interval"), "1000 ms")
    assert.include(byPath.get("actuators[0].pin"), "GPIO 4 on node pi1 is already used by sensors[0] (a/env)")
    assert.include(byPath.get("actuators[1].name"), `"x" is already used`)
    assert.include(byPath.get("actuators[1].node"), `no node is named "pi3"`)
    // A simulated sensor does not occupy a real pin; b is on another (unknown) node.
    assert.isUndefined(byPath.get("actuators[2].pin"))
    assert.isUndefined(byPath.get("sensors[1].pin"))
  })
})
