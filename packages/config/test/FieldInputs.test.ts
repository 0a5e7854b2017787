import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { analogLiveRange, type ConfigError, knownMetrics, parseClusterConfig } from "@bramble/config"

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

  it("i2c - bme280, sht31 and an ADS1115 with a 4-20 mA channel decode with their defaults; 0x76 is hex in YAML", () => {
    const config = decoded(file(`  - { device: air, node: pi1, kind: bme280, address: 0x77, calibration: { temperature: { offset: -0.5 } }, report: { pressure: { deadband: 0.2, maxSilence: 10m } } }
  - { device: air, node: pi1, kind: simulated-sht31 }
  - device: boiler-1
    node: pi1
    kind: ads1115
    interval: 1s
    channels:
      - { metric: pressure, input: A0, gain: 6.144, shunt: 250, from: [4, 20], to: [0, 10], deadband: 0.05 }
      - { metric: level, input: A2-A3, gain: 0.256 }`))
    const [bme, sht, ads] = config.sensors
    assert.isTrue(bme!.kind === "bme280" && bme!.bus === 1 && bme!.address === 0x77 && bme!.sensor === "bme280" && bme!.interval === 10_000 && bme!.faultAfter === 3)
    assert.isTrue(sht!.kind === "simulated-sht31" && sht!.address === 0x44 && sht!.sensor === "sht31")
    assert.isTrue(ads!.kind === "ads1115" && ads!.address === 0x48 && ads!.sensor === "ads1115")
    if (ads!.kind !== "ads1115") return
    assert.deepStrictEqual(ads!.channels[0], { metric: "pressure", input: "A0", gain: 6.144, rate: 128, shunt: 250, from: [4, 20], to: [0, 10], clamp: true, deadband: 0.05 })
    assert.deepStrictEqual(analogLiveRange(ads!.channels[0]!), { faultBelow: 3.8, faultAbove: 21 })
    assert.deepStrictEqual(analogLiveRange(ads!.channels[1]!), {})
    assert.includeMembers(knownMetrics(config), ["temperature", "humidity", "pressure", "level"])
  })

  it("i2c - a typo, a wrong address, an unknown input, gain or metric, a loop beyond the gain, a range with one end, a shared address: each names its field", () => {
    assert.deepStrictEqual(problems(file(`  - { device: air, node: pi1, kind: bme280, adress: 0x76 }`)), [`sensors[0].adress: unknown key "adress"; did you mean "address"?`])
    assert.deepStrictEqual(problems(file(`  - { device: air, node: pi1, kind: sht31, address: 0x76 }`)), [
      "sensors[0].address: a SHT31 answers at 0x44 or 0x45 (set by its address pin), not at 118 (0x76)"
    ])
    assert.deepStrictEqual(problems(file(`  - { device: air, node: pi1, kind: bmp280, report: { humidity: { deadband: 1 } }, calibration: { temprature: { offset: 1 } } }`)), [
      `sensors[0].calibration.temprature: a bmp280 has no metric "temprature" (its metrics: temperature, pressure)`,
      `sensors[0].report.humidity: a bmp280 has no metric "humidity" (its metrics: temperature, pressure)`
    ])
    const found = problems(file(`  - device: b
    node: pi1
    kind: ads1115
    interval: 100ms
    channels:
      - { metric: p, input: A0, shunt: 250, from: [4, 20], to: [0, 10] }
      - { metric: q, input: A1, from: [0, 5] }
      - { metric: p, input: A4 }
      - { metric: r, input: A1-A2, gain: 3.3, rate: 8 }
  - { device: c, node: pi1, kind: simulated-ads1115, address: 0x48, channels: [{ metric: x, input: A0 }] }`))
    const expect = (path: string, text: string) => assert.isTrue(found.some((p) => p.startsWith(path) && p.includes(text)), `${path} ~ ${text} in\n${found.join("\n")}`)
    expect("sensors[0].channels[2].input", "A0")
    expect("sensors[0].channels[3].input", "A2-A3")
    expect("sensors[0].channels[3].gain", "6.144")
    // The union's member errors stop the cross-checks; the rest once the members decode.
    const checks = problems(file(`  - device: b
    node: pi1
    kind: ads1115
    interval: 100ms
    channels:
      - { metric: p, input: A0, shunt: 250, from: [4, 20], to: [0, 10] }
      - { metric: q, input: A1, from: [0, 5] }
      - { metric: p, input: A2, rate: 8 }
  - { device: c, node: pi1, kind: simulated-ads1115, address: 0x48, channels: [{ metric: x, input: A0 }] }`))
    const expect2 = (path: string, text: string) => assert.isTrue(checks.some((p) => p.startsWith(path) && p.includes(text)), `${path} ~ ${text} in\n${checks.join("\n")}`)
    expect2("sensors[0].channels[0].gain", "21 mA through 250 Ω is 5.25 V, which is beyond gain 4.096's full scale of ±4.096 V")
    expect2("sensors[0].channels[1].from", "scaling takes both `from`")
    expect2("sensors[0].channels[2].metric", `metric "p" is already read by channels[0]`)
    expect2("sensors[0].interval", "longer than the interval of 100 ms")
    expect2("sensors[1].address", "bus 1 address 0x48 on node pi1 is already read by b/ads1115")
  })
})
