import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { type ConfigError, parseClusterConfig } from "@bramble/config"

const file = (sensors: string) => `
cluster: { name: plant }
nodes:
  - name: pi1
sensors:
${sensors}
sink: { kind: influx-v2, url: "http://127.0.0.1:8086" }
`

const decoded = (text: string) => {
  const result = parseClusterConfig(text, "bramble.yaml")
  if (Result.isFailure(result)) assert.fail(result.failure.message)
  return result.success
}

const problems = (text: string) => {
  const result = parseClusterConfig(text, "bramble.yaml")
  assert.isTrue(Result.isFailure(result), "expected the file to be refused")
  return (result as Result.Failure<never, ConfigError>).failure.problems.map((p) => `${p.path}: ${p.message}`)
}

const boiler = `  - device: boiler-1
    node: pi1
    kind: modbus-tcp
    host: 10.0.0.50
    unit: 3
    interval: 1s
    registers:
      - { metric: temperature, address: 30001, type: int16, scale: 0.1, deadband: 0.5 }
      - { metric: pressure, address: 40010, type: float32, wordOrder: little, deadband: "2%", maxSilence: 5m }
      - { metric: running, coil: 5 }`

describe("cluster file - field inputs", () => {
  it("modbus-tcp - the issue's example decodes, with defaults for port, timeout, faultAfter and sensor", () => {
    const config = decoded(file(boiler))
    const s = config.sensors[0]!
    assert.strictEqual(s.kind, "modbus-tcp")
    if (s.kind !== "modbus-tcp") return
    assert.deepStrictEqual(
      { port: s.port, unit: s.unit, interval: s.interval, timeout: s.timeout, faultAfter: s.faultAfter, sensor: s.sensor },
      { port: 502, unit: 3, interval: 1_000, timeout: 1_000, faultAfter: 3, sensor: "modbus" }
    )
    assert.deepStrictEqual(s.registers[1], { metric: "pressure", address: 40010, type: "float32", wordOrder: "little", deadband: "2%", maxSilence: 300_000 })
  })

  it("modbus-rtu - a serial port with its line settings", () => {
    const config = decoded(file(`  - { device: meter-1, node: pi1, kind: modbus-rtu, port: /dev/ttyUSB0, baudRate: 19200, parity: even, unit: 7, registers: [{ metric: energy, holding: 0, type: uint32 }] }`))
    const s = config.sensors[0]!
    assert.isTrue(s.kind === "modbus-rtu" && s.baudRate === 19200 && s.parity === "even" && s.dataBits === 8 && s.stopBits === 1)
  })

  it("validate - devices on one serial port must agree on its line settings", () => {
    assert.deepStrictEqual(problems(file(`  - { device: m1, node: pi1, kind: modbus-rtu, port: /dev/ttyUSB0, unit: 1, registers: [{ metric: e, holding: 0 }] }
  - { device: m2, node: pi1, kind: modbus-rtu, port: /dev/ttyUSB0, unit: 2, baudRate: 19200, registers: [{ metric: e, holding: 0 }] }`)), [
      "sensors[1].port: /dev/ttyUSB0 on node pi1 is already used by m1 at 9600 baud, parity none, 8 data bits, 1 stop bit(s); this entry says 19200 baud, parity none, 8 data bits, 1 stop bit(s) (devices on one serial line share its settings)"
    ])
  })

  it("validate - a typo in a modbus key gets a did-you-mean for that kind's keys only", () => {
    assert.deepStrictEqual(problems(file(boiler.replace("interval: 1s", "interval: 1s\n    timout: 2s"))), [`sensors[0].timout: unknown key "timout"; did you mean "timeout"?`])
    const found = problems(file(boiler.replace("host:", "hots:")))
    assert.deepInclude(found, "sensors[0].host: Missing key")
    assert.deepInclude(found, `sensors[0].hots: unknown key "hots"; the keys here are device, sensor, node, unit, interval, timeout, faultAfter, registers, outbox, host, port and kind`)
  })

  it("validate - a misspelt kind names the modbus kinds", () => {
    const found = problems(file(boiler.replace("kind: modbus-tcp", "kind: modbus-tpc")))
    assert.strictEqual(found.length, 1, found.join("\n"))
    assert.include(found[0]!, `did you mean "modbus-tcp"?`)
  })

  it("validate - register addresses: none, two, outside the Modicon ranges, type on a coil, overlap, duplicate metric", () => {
    const found = problems(file(`  - device: plc
    node: pi1
    kind: simulated-modbus-tcp
    host: plc.local
    registers:
      - { metric: a }
      - { metric: b, holding: 1, input: 2 }
      - { metric: c, address: 5 }
      - { metric: d, coil: 1, type: float32 }
      - { metric: e, holding: 10, type: float32 }
      - { metric: f, address: 40012 }
      - { metric: e, holding: 20, wordOrder: little }`))
    const expect = (path: string, text: string) => assert.isTrue(found.some((p) => p.startsWith(path) && p.includes(text)), `${path} ~ ${text} in\n${found.join("\n")}`)
    expect("sensors[0].registers[0]", "needs an address")
    expect("sensors[0].registers[1]", "has holding and input: give exactly one")
    expect("sensors[0].registers[2]", "5 is not a Modicon register number")
    expect("sensors[0].registers[3].type", "a coil is one bit")
    expect("sensors[0].registers[5]", `overlaps "e" (holding 11)`)
    expect("sensors[0].registers[6].metric", `metric "e" is already read by registers[4]`)
    expect("sensors[0].registers[6].wordOrder", "wordOrder applies to 32-bit types")
  })

  it("validate - a deadband is a number or a percentage", () => {
    const found = problems(file(boiler.replace(`deadband: "2%"`, `deadband: "two percent"`)))
    assert.deepStrictEqual(found, [`sensors[0].registers[1].deadband: Expected a number (absolute) or a percentage such as "2%"`])
  })

  it("ds18b20 - listed probes by metric, or every probe found; a bad id and a probe read twice are refused", () => {
    const config = decoded(file(`  - { device: tank-room, node: pi1, kind: ds18b20, probes: { tank: 28-0316a2796dff, room: 28-000005e2fdc3 }, deadband: 0.25, maxSilence: 10m }
  - { device: loft, node: pi1, kind: simulated-ds18b20 }`))
    const [listed, all] = config.sensors
    assert.isTrue(listed!.kind === "ds18b20" && listed!.interval === 10_000 && listed!.sensor === "1wire" && listed!.maxSilence === 600_000)
    assert.isTrue(all!.kind === "simulated-ds18b20" && all!.probes === undefined)
    assert.deepStrictEqual(problems(file(`  - { device: t, node: pi1, kind: ds18b20, probes: { tank: 28-XYZ } }`)), [
      "sensors[0].probes.tank: Expected a DS18B20 id as in /sys/bus/w1/devices, e.g. 28-0316a2796dff"
    ])
    assert.deepStrictEqual(problems(file(`  - { device: a, node: pi1, kind: ds18b20, probes: { tank: 28-0316a2796dff } }
  - { device: b, node: pi1, kind: ds18b20, probes: { water: 28-0316a2796dff } }`)), [
      "sensors[1].probes.water: probe 28-0316a2796dff on node pi1 is already read as a/1wire tank"
    ])
  })
})
