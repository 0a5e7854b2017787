/**
 * The sensor actor's view of a field input of the cluster file: for Modbus TCP/RTU the bus,
 * the register map as points with protocol addresses, and the report-by-exception policies;
 * for DS18B20 probes, which ones under which metric names; for I2C chips the bus, the
 * address, the model and (ADS1115) each channel's conversion and scaling.
 */
import type { I2cSensorSpec, ModbusSensorSpec, OneWireSensorSpec, ReportPolicy } from "@bramble/actor-sensor"
import {
  analogLiveRange,
  type FieldInput,
  type I2cInput,
  isI2cInput,
  isModbusInput,
  type ModbusInput,
  type ModbusRegister,
  type OneWireInput,
  registerLocation
} from "@bramble/config"
import type { ModbusPoint, ModbusTarget } from "@bramble/hardware"

/** Where a Modbus entry's bus is. */
export const modbusTarget = (s: ModbusInput): ModbusTarget =>
  s.kind === "modbus-tcp" || s.kind === "simulated-modbus-tcp"
    ? { transport: "tcp", host: s.host, port: s.port }
    : { transport: "rtu", path: s.port, baudRate: s.baudRate, parity: s.parity, dataBits: s.dataBits, stopBits: s.stopBits }

const point = (register: ModbusRegister): ModbusPoint => {
  const location = registerLocation(register)
  // The loader refused the file if any register had no valid location.
  if (typeof location === "string") throw new Error(`bug: an invalid register reached the node: ${location}`)
  return {
    metric: register.metric,
    table: location.table,
    address: location.address,
    ...(register.type === undefined ? {} : { type: register.type }),
    ...(register.wordOrder === undefined ? {} : { wordOrder: register.wordOrder }),
    ...(register.scale === undefined ? {} : { scale: register.scale }),
    ...(register.offset === undefined ? {} : { offset: register.offset })
  }
}

/** `deadband: 0.5` is absolute, `deadband: "2%"` a percentage. */
const policy = (register: Pick<ModbusRegister, "deadband" | "maxSilence">): ReportPolicy | undefined => {
  if (register.deadband === undefined && register.maxSilence === undefined) return undefined
  const deadband = register.deadband === undefined
    ? undefined
    : typeof register.deadband === "number"
    ? { absolute: register.deadband }
    : { percent: Number(register.deadband.slice(0, -1)) }
  return { ...(deadband === undefined ? {} : { deadband }), ...(register.maxSilence === undefined ? {} : { maxSilenceMs: register.maxSilence }) }
}

const oneWireSensorSpec = (s: OneWireInput): OneWireSensorSpec => {
  const report = policy(s)
  return {
    kind: "ds18b20",
    device: s.device,
    sensor: s.sensor,
    ...(s.probes === undefined ? {} : { probes: s.probes }),
    intervalMs: s.interval,
    faultAfter: s.faultAfter,
    ...(report === undefined ? {} : { report })
  }
}

/** The chip model of an I2C kind: `simulated-bme280` → `bme280`. */
export const i2cModel = (kind: I2cInput["kind"]) => kind.replace("simulated-", "") as "bme280" | "bmp280" | "sht31" | "ads1115"

export const i2cSensorSpec = (s: I2cInput): I2cSensorSpec => {
  const report: Record<string, ReportPolicy> = {}
  const base = { kind: "i2c" as const, device: s.device, sensor: s.sensor, bus: s.bus, address: s.address, intervalMs: s.interval, faultAfter: s.faultAfter }
  if ("channels" in s) {
    for (const c of s.channels) {
      const p = policy(c)
      if (p !== undefined) report[c.metric] = p
    }
    const channels = s.channels.map((c) => ({
      metric: c.metric,
      input: c.input,
      gain: c.gain,
      rate: c.rate,
      scaling: {
        ...(c.shunt === undefined ? {} : { shuntOhms: c.shunt }),
        ...(c.from === undefined || c.to === undefined ? {} : { from: c.from, to: c.to }),
        clamp: c.clamp,
        ...analogLiveRange(c)
      }
    }))
    return { ...base, chip: { model: "ads1115", channels }, report }
  }
  for (const [metric, r] of Object.entries(s.report ?? {})) {
    const p = policy(r)
    if (p !== undefined) report[metric] = p
  }
  // Without channels the kind is one of the chips with fixed metrics.
  const model = i2cModel(s.kind) as "bme280" | "bmp280" | "sht31"
  return {
    ...base,
    chip: { model },
    report,
    ...(s.calibration === undefined ? {} : { calibration: s.calibration })
  }
}

/** The actor's view of a field input. */
export const fieldInputSpec = (s: FieldInput): ModbusSensorSpec | OneWireSensorSpec | I2cSensorSpec =>
  isModbusInput(s) ? modbusSensorSpec(s) : isI2cInput(s) ? i2cSensorSpec(s) : oneWireSensorSpec(s)

export const modbusSensorSpec = (s: ModbusInput): ModbusSensorSpec => {
  const report: Record<string, ReportPolicy> = {}
  for (const register of s.registers) {
    const p = policy(register)
    if (p !== undefined) report[register.metric] = p
  }
  return {
    kind: "modbus",
    device: s.device,
    sensor: s.sensor,
    target: modbusTarget(s),
    unit: s.unit,
    points: s.registers.map(point),
    intervalMs: s.interval,
    timeoutMs: s.timeout,
    faultAfter: s.faultAfter,
    report
  }
}
