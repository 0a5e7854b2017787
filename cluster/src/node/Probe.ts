/**
 * `bramble sensors probe`: read every sensor configured for one node once and say what came
 * back, for the person wiring a Pi. It uses the same drivers and the same register maps as
 * the node (real ones, or the simulated twins with `--simulate`), but no NATS, no outbox and
 * no actor: nothing is published.
 */
import { calibrateValues, modbusBus, pollI2c, pollModbusDevice, pollOneWire, type SensorSpec, syntheticValue } from "@bramble/actor-sensor"
import type { ClusterConfig, Sensor } from "@bramble/config"
import {
  DhtDriver,
  GpioDriver,
  I2cDriver,
  layerSimulatedI2c,
  modbusTargetKey,
  ModbusDriver,
  OneWireDriver,
  planReads,
  readWithRetry,
  SimulatedModbus
} from "@bramble/hardware"
import { Clock, Effect, Layer } from "effect"
import { i2cChipsOf, sensorSpec } from "./Edge.js"

/** What one sensor gave. */
export interface ProbeResult {
  readonly device: string
  readonly sensor: string
  readonly kind: string
  /** Where it is: "GPIO 4", "10.0.0.50:502 unit 3", "/dev/ttyUSB0 unit 7", "I2C bus 1 0x76". */
  readonly where: string
  readonly values: Readonly<Record<string, number>>
  /** Why (part of) the read failed; undefined when everything was read. */
  readonly error?: string
}

const whereOf = (s: Sensor, spec: SensorSpec): string =>
  spec.kind === "modbus"
    ? `${modbusTargetKey(spec.target)} unit ${spec.unit}`
    : spec.kind === "ds18b20"
    ? "1-wire"
    : spec.kind === "i2c"
    ? `I2C bus ${spec.bus} 0x${spec.address.toString(16)}`
    : spec.kind === "synthetic"
    ? "no hardware"
    : `GPIO ${"pin" in s ? s.pin : "?"}`

const describe = (error: { readonly _tag: string; readonly reason?: string; readonly message: string }) =>
  `${error.reason ?? error._tag}: ${error.message}`

const probeOne = (s: Sensor) =>
  Effect.gen(function*() {
    const spec = sensorSpec(s)
    const base = { device: s.device, sensor: s.sensor, kind: s.kind, where: whereOf(s, spec) }
    switch (spec.kind) {
      case "dht": {
        const read = Effect.gen(function*() {
          const dht = yield* (yield* DhtDriver).open({ model: spec.model, pin: spec.pin })
          return yield* readWithRetry(dht, { attempts: spec.attempts })
        }).pipe(Effect.scoped)
        const result = yield* Effect.result(read)
        return result._tag === "Success"
          ? { ...base, values: calibrateValues({ temperature: result.success.temperatureC, humidity: result.success.humidityPct }, spec.calibration) }
          : { ...base, values: {}, error: describe(result.failure) }
      }
      case "gpio-input": {
        const read = Effect.gen(function*() {
          const input = yield* (yield* GpioDriver).openInput({ pin: spec.pin, edge: spec.edge, debounceMs: spec.debounceMs, activeLow: spec.activeLow })
          return yield* input.read
        }).pipe(Effect.scoped)
        const result = yield* Effect.result(read)
        return result._tag === "Success" ? { ...base, values: { state: result.success } } : { ...base, values: {}, error: describe(result.failure) }
      }
      case "synthetic": {
        const ts = yield* Clock.currentTimeMillis
        return { ...base, values: calibrateValues({ value: syntheticValue(spec.device, spec.sensor, ts) }, spec.calibration) }
      }
      case "ds18b20": {
        const poll = yield* pollOneWire(yield* OneWireDriver, spec.probes)
        return poll.failure === undefined ? { ...base, values: poll.values } : { ...base, values: poll.values, error: poll.failure }
      }
      case "i2c": {
        const poll = yield* pollI2c(yield* I2cDriver, spec)
        return poll.failure === undefined ? { ...base, values: poll.values } : { ...base, values: poll.values, error: poll.failure }
      }
      case "modbus": {
        const driver = yield* ModbusDriver
        const simulated = yield* Effect.serviceOption(SimulatedModbus)
        if (simulated._tag === "Some") yield* simulated.value.define(spec.target, spec.unit, spec.points)
        const result = yield* Effect.result(
          Effect.scoped(Effect.flatMap(modbusBus(driver, spec), (bus) => pollModbusDevice(bus, spec.unit, planReads(spec.points))))
        )
        if (result._tag === "Failure") return { ...base, values: {}, error: describe(result.failure) }
        return result.success.failure === undefined
          ? { ...base, values: result.success.values }
          : { ...base, values: result.success.values, error: result.success.failure }
      }
    }
  })

/** Reads each sensor of `node` once, in file order, with real drivers or (`simulate`) the twins. */
export const probeSensors = (options: {
  readonly config: ClusterConfig
  readonly node: string
  readonly simulate: boolean
}): Effect.Effect<ReadonlyArray<ProbeResult>> => {
  const mine = options.config.sensors.filter((s) => s.node === options.node)
  const simulated = (s: Sensor) => options.simulate || s.kind.startsWith("simulated-")
  // One driver of each kind per mode, as the node builds them.
  const real = Layer.mergeAll(DhtDriver.layerNodeDht, GpioDriver.layerOnoff, ModbusDriver.layerModbusSerial, OneWireDriver.layerSysfs(), I2cDriver.layerI2cBus)
  const probes = mine.flatMap((s) => ("probes" in s && s.probes !== undefined ? Object.values(s.probes) : []))
  const twins = Layer.mergeAll(
    DhtDriver.layerSimulated({ checksumErrorRate: 0, dropoutRate: 0 }),
    GpioDriver.layerSimulated(),
    ModbusDriver.layerSimulated,
    OneWireDriver.layerSimulated(probes.length > 0 ? { probes } : {}),
    layerSimulatedI2c({ chips: i2cChipsOf(mine) })
  )
  return Effect.gen(function*() {
    const results: Array<ProbeResult> = []
    for (const s of mine) {
      results.push(yield* probeOne(s).pipe(Effect.provide(simulated(s) ? twins : real)))
    }
    return results
  })
}
