import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { OneWireDriver, OneWireError, parseW1Slave } from "@bramble/hardware"

/** w1_slave as the kernel's w1_therm driver writes it (scratchpad bytes, CRC verdict, t= in m°C). */
const w1Slave = (millidegrees: number, crc: "YES" | "NO" = "YES") =>
  `72 01 4b 46 7f ff 0e 10 57 : crc=57 ${crc}\n72 01 4b 46 7f ff 0e 10 57 t=${millidegrees}\n`

/** A fake /sys/bus/w1/devices: probe dirs with w1_slave, plus what else the kernel puts there. */
const fakeBus = async (probes: Record<string, string>) => {
  const root = await mkdtemp(join(tmpdir(), "bramble-w1-"))
  await mkdir(join(root, "w1_bus_master1"))
  await mkdir(join(root, "10-000802b4ba0e")) // a DS18S20 (family 10): not a DS18B20
  for (const [id, text] of Object.entries(probes)) {
    await mkdir(join(root, id))
    await writeFile(join(root, id, "w1_slave"), text)
  }
  return root
}

const withBus = <A, E>(probes: Record<string, string>, f: (driver: OneWireDriver["Service"]) => Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(
    Effect.promise(() => fakeBus(probes)),
    (root) => Effect.gen(function*() { return yield* f(yield* OneWireDriver) }).pipe(Effect.provide(OneWireDriver.layerSysfs(root))),
    (root) => Effect.promise(() => rm(root, { recursive: true, force: true }))
  )

describe("1-wire DS18B20 from the kernel's w1 files", () => {
  it("parse - t= in millidegrees, negative too; CRC NO, 85000 and a foreign format are faults with their reason", () => {
    assert.strictEqual(parseW1Slave("28-0316a2796dff", w1Slave(23125)), 23.125)
    assert.strictEqual(parseW1Slave("28-0316a2796dff", w1Slave(-10125)), -10.125)
    assert.strictEqual((parseW1Slave("28-0316a2796dff", w1Slave(23125, "NO")) as OneWireError).reason, "Crc")
    assert.strictEqual((parseW1Slave("28-0316a2796dff", w1Slave(85000)) as OneWireError).reason, "PowerOnReset")
    assert.strictEqual((parseW1Slave("28-0316a2796dff", "23125\n") as OneWireError).reason, "Unparsable")
    // 85 °C measured for real comes with other scratchpad bytes but the same t=; only exactly 85000 is refused.
    assert.strictEqual(parseW1Slave("28-0316a2796dff", w1Slave(85062)), 85.062)
  })

  it.live("sysfs - lists only DS18B20s (family 28), sorted; reads each; a missing probe is NoDevice", () =>
    withBus({ "28-0316a2796dff": w1Slave(21500), "28-000005e2fdc3": w1Slave(-1250), "28-0000075c1d2a": w1Slave(23000, "NO") }, (driver) =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* driver.list, ["28-000005e2fdc3", "28-0000075c1d2a", "28-0316a2796dff"])
        assert.strictEqual(yield* driver.read("28-0316a2796dff"), 21.5)
        assert.strictEqual(yield* driver.read("28-000005e2fdc3"), -1.25)
        const crc = yield* Effect.flip(driver.read("28-0000075c1d2a"))
        assert.strictEqual(crc.reason, "Crc")
        const gone = yield* Effect.flip(driver.read("28-00000a1b2c3d"))
        assert.strictEqual(gone.reason, "NoDevice")
        assert.include(gone.message, "28-00000a1b2c3d")
      })))

  it.live("sysfs - no w1 bus at all says how to enable it", () =>
    Effect.gen(function*() {
      const driver = yield* OneWireDriver
      const error = yield* Effect.flip(driver.list)
      assert.strictEqual(error.reason, "NoDevice")
      assert.include(error.message, "dtoverlay=w1-gpio")
    }).pipe(Effect.provide(OneWireDriver.layerSysfs("/nonexistent/w1/devices"))))
})
