/**
 * `bramble sensors probe` for the I2C kinds: the simulated twins print plausible values
 * through the real chip code; a real chip on a machine without that I2C bus fails with the
 * reason and how to enable I2C, and does not stop the other sensors from being probed.
 */
import { parseClusterConfig } from "@bramble/config"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { probeSensors } from "../src/node/Probe.js"

const config = (sensors: string) => {
  const result = parseClusterConfig(`
cluster: { name: plant }
nodes: [{ name: pi2 }]
sensors:
${sensors}
sink: { kind: influx-v2, url: "http://127.0.0.1:8086" }
`, "cluster.yaml")
  if (Result.isFailure(result)) assert.fail(result.failure.message)
  return result.success
}

describe("bramble sensors probe - I2C", () => {
  it.live("--simulate: BME280, BMP280, SHT31 and a 4-20 mA ADS1115 channel, each with its values and where it is", () =>
    Effect.gen(function*() {
      const results = yield* probeSensors({
        config: config(`  - { device: loft, node: pi2, kind: bme280 }
  - { device: shed, node: pi2, kind: bmp280, address: 0x77 }
  - { device: cellar, node: pi2, kind: sht31, address: 0x45 }
  - { device: boiler-1, node: pi2, kind: ads1115, address: 0x49, channels: [{ metric: pressure, input: A0, shunt: 150, from: [4, 20], to: [0, 10] }] }`),
        node: "pi2",
        simulate: true
      })
      assert.deepStrictEqual(results.map((r) => [r.device, r.sensor, r.kind, r.where, Object.keys(r.values).sort(), r.error]), [
        ["loft", "bme280", "bme280", "I2C bus 1 0x76", ["humidity", "pressure", "temperature"], undefined],
        ["shed", "bmp280", "bmp280", "I2C bus 1 0x77", ["pressure", "temperature"], undefined],
        ["cellar", "sht31", "sht31", "I2C bus 1 0x45", ["humidity", "temperature"], undefined],
        ["boiler-1", "ads1115", "ads1115", "I2C bus 1 0x49", ["pressure"], undefined]
      ])
      const [bme, , sht, ads] = results
      assert.isTrue(bme!.values["pressure"]! > 1000 && bme!.values["pressure"]! < 1025)
      assert.isTrue(sht!.values["temperature"]! > 15 && sht!.values["temperature"]! < 27)
      // 1.8 ± 0.6 V through 150 Ω: 8..16 mA, 2.5..7.5 bar.
      assert.isTrue(ads!.values["pressure"]! > 2 && ads!.values["pressure"]! < 8, `${ads!.values["pressure"]}`)
    }))

  it.live("a real chip on a bus this machine does not have: the reason and how to enable I2C; the twin beside it is still read", () =>
    Effect.gen(function*() {
      const results = yield* probeSensors({
        config: config(`  - { device: loft, node: pi2, kind: bme280, bus: 31 }
  - { device: shed, node: pi2, kind: simulated-sht31 }`),
        node: "pi2",
        simulate: false
      })
      const [real, twin] = results
      assert.deepStrictEqual(real!.values, {})
      assert.match(real!.error!, /^(NoBus: no \/dev\/i2c-31: enable I2C with `sudo raspi-config nonint do_i2c 0`|Unavailable: the i2c-bus addon cannot load here)/)
      assert.isUndefined(twin!.error)
      assert.deepStrictEqual(Object.keys(twin!.values).sort(), ["humidity", "temperature"])
    }))
})
