/**
 * Field inputs in the cluster file's `sensors`: PLCs, meters and I/O modules read over
 * Modbus TCP or RTU, with a register map per device and report-by-exception per metric,
 * and DS18B20 probes on the node's 1-wire bus (`kind: ds18b20`, `probes: { tank: 28-… }`).
 *
 * ```yaml
 * - device: boiler-1
 *   node: pi2
 *   kind: modbus-tcp
 *   host: 10.0.0.50
 *   unit: 3
 *   interval: 5s
 *   registers:
 *     - { metric: temperature, address: 30001, type: int16, scale: 0.1, deadband: 0.5 }
 *     - { metric: pressure, address: 40010, type: float32, wordOrder: little, deadband: "2%", maxSilence: 5m }
 *     - { metric: running, coil: 5 }
 * ```
 *
 * A register is named by its Modicon number (`address: 30001` is input register 0,
 * `40010` holding register 9; six digits, `300001`/`400001`, work too) or by table and
 * 0-based protocol address (`holding: 9`, `input: 0`, `coil: 5`, `discreteInput: 2`).
 * `fieldInputProblems` says what the Schema cannot: exactly one address per register, a
 * number outside the Modicon ranges, type options on a bit, duplicate metrics, registers
 * that overlap.
 *
 * I2C chips on the Pi's header (`kind: bme280 | bmp280 | sht31 | ads1115`, each with its
 * `simulated-` twin) are named by `bus` (`/dev/i2c-1`) and `address` (the chip's pins
 * choose among its few addresses); an ADS1115 lists its `channels` with scaling to
 * engineering units:
 *
 * ```yaml
 * - { device: greenhouse-1, node: pi2, kind: bme280, address: 0x76, interval: 10s,
 *     report: { pressure: { deadband: 0.2, maxSilence: 10m } } }
 * - device: boiler-1
 *   node: pi2
 *   kind: ads1115
 *   address: 0x48
 *   channels:
 *     - { metric: pressure, input: A0, gain: 6.144, shunt: 250, from: [4, 20], to: [0, 10] }
 * ```
 */
import { Schema } from "effect"
import { Calibration, Name, Outbox, Port, withDefault } from "./Common.js"
import { Millis } from "./Units.js"

/** How a register's words are read. Bits (coils, discrete inputs) are 0/1. */
export const ModbusType = Schema.Literals(["int16", "uint16", "int32", "uint32", "float32"])

/** A deadband: an absolute change (`0.5`) or a percentage of the last published value (`"2%"`). */
export const Deadband = Schema.Union([
  Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)),
  Schema.String.check(Schema.isPattern(/^\d+(\.\d+)?%$/, { message: `Expected a number (absolute) or a percentage such as "2%"` }))
])

const ProtocolAddress = Schema.Int.check(
  Schema.isBetween({ minimum: 0, maximum: 65535 }, { message: "Expected a 0-based protocol address 0..65535" })
)

/** One metric of a Modbus device. */
export const ModbusRegister = Schema.Struct({
  metric: Name,
  /** Modicon register number: 30001-39999 / 300001-365536 input, 40001-49999 / 400001-465536 holding. */
  address: Schema.optionalKey(Schema.Int),
  holding: Schema.optionalKey(ProtocolAddress),
  input: Schema.optionalKey(ProtocolAddress),
  coil: Schema.optionalKey(ProtocolAddress),
  discreteInput: Schema.optionalKey(ProtocolAddress),
  /** Registers only; default uint16. 32-bit types take two registers. */
  type: Schema.optionalKey(ModbusType),
  /** 32-bit types: `big` (high word first, the default) or `little` (low word first). */
  wordOrder: Schema.optionalKey(Schema.Literals(["big", "little"])),
  /** `engineering = raw * scale + offset`. */
  scale: Schema.optionalKey(
    Schema.Finite.check(Schema.makeFilter((scale: number) => scale !== 0 || "scale must not be 0: every reading would become the offset"))
  ),
  offset: Schema.optionalKey(Schema.Finite),
  /** Report by exception: publish only changes larger than this. */
  deadband: Schema.optionalKey(Deadband),
  /** Report by exception: publish anyway after this long without a publish. */
  maxSilence: Schema.optionalKey(Millis.check(Schema.isGreaterThan(0)))
})
export type ModbusRegister = typeof ModbusRegister.Type

/** Fields every Modbus device has, whatever its bus. */
const modbusFields = {
  device: Name,
  sensor: withDefault(Name, "modbus"),
  node: Name,
  /** The unit (slave) id. Many TCP devices answer to any; gateways route by it. */
  unit: withDefault(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 255 })), 1),
  interval: withDefault(Millis.check(Schema.isGreaterThanOrEqualTo(10)), "5s"),
  /** Longest wait for one answer. */
  timeout: withDefault(Millis.check(Schema.isGreaterThan(0)), "1s"),
  /** Polls in a row with a failed request that raise `sensor-fault`. */
  faultAfter: withDefault(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000 })), 3),
  registers: Schema.Array(ModbusRegister).check(Schema.isMinLength(1)),
  outbox: withDefault(Outbox, {})
}

const tcpFields = {
  ...modbusFields,
  host: Schema.String.check(Schema.isMinLength(1)),
  port: withDefault(Port, 502)
}

const rtuFields = {
  ...modbusFields,
  /** The serial device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/…. */
  port: Schema.String.check(Schema.isPattern(/^\/[^\0]*$/, { message: "Expected the serial device's path, e.g. /dev/ttyUSB0" })),
  baudRate: withDefault(Schema.Literals([1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]), 9600),
  parity: withDefault(Schema.Literals(["none", "even", "odd"]), "none"),
  dataBits: withDefault(Schema.Literals([7, 8]), 8),
  stopBits: withDefault(Schema.Literals([1, 2]), 1)
}

/** A DS18B20 id as the kernel names it: family 28, then the 48-bit serial in hex. */
const ProbeId = Schema.String.check(
  Schema.isPattern(/^28-[0-9a-f]{12}$/, { message: "Expected a DS18B20 id as in /sys/bus/w1/devices, e.g. 28-0316a2796dff" })
)

/** DS18B20 probes on the node's 1-wire bus (the kernel's w1 files). */
const oneWireFields = {
  device: Name,
  sensor: withDefault(Name, "1wire"),
  node: Name,
  /** Metric name → probe id. Absent: every probe found, each as `t_<serial>`. */
  probes: Schema.optionalKey(Schema.Record(Name, ProbeId)),
  /** A 12-bit conversion takes 750 ms per probe. */
  interval: withDefault(Millis.check(Schema.isGreaterThanOrEqualTo(1_000)), "10s"),
  faultAfter: withDefault(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000 })), 3),
  /** Report by exception, for every probe. */
  deadband: Schema.optionalKey(Deadband),
  maxSilence: Schema.optionalKey(Millis.check(Schema.isGreaterThan(0))),
  outbox: withDefault(Outbox, {})
}

/** The Pi's I2C bus number: /dev/i2c-<bus> (1 on the 40-pin header). */
const I2cBusNumber = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 31 }, { message: "Expected an I2C bus number 0..31 (/dev/i2c-<bus>; 1 on the Pi's header)" }))

const i2cAddress = (addresses: ReadonlyArray<number>, chip: string) =>
  Schema.Int.check(
    Schema.makeFilter((a: number) =>
      addresses.includes(a) || `a ${chip} answers at ${addresses.map((x) => `0x${x.toString(16)}`).join(" or ")} (set by its address pin), not at ${a} (0x${a.toString(16)})`
    )
  )

/** Report-by-exception of one metric. */
export const MetricReport = Schema.Struct({
  deadband: Schema.optionalKey(Deadband),
  maxSilence: Schema.optionalKey(Millis.check(Schema.isGreaterThan(0)))
})

/** What every I2C chip has. */
const i2cFields = {
  device: Name,
  node: Name,
  bus: withDefault(I2cBusNumber, 1),
  interval: withDefault(Millis.check(Schema.isGreaterThanOrEqualTo(100)), "10s"),
  /** Polls in a row with a failed read that raise `sensor-fault`. */
  faultAfter: withDefault(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000 })), 3),
  outbox: withDefault(Outbox, {})
}

/** A chip with fixed metrics (BME280/BMP280, SHT31): calibration and report-by-exception per metric. */
const climateFields = (addresses: ReadonlyArray<number>, chip: string, sensor: string) => ({
  ...i2cFields,
  sensor: withDefault(Name, sensor),
  address: withDefault(i2cAddress(addresses, chip), addresses[0]!),
  /** Per metric (`temperature`, `humidity`, `pressure`), `engineering = raw * scale + offset`. */
  calibration: Schema.optionalKey(Schema.Record(Name, Calibration)),
  /** Per metric: publish only changes beyond `deadband`, and anyway after `maxSilence`. */
  report: Schema.optionalKey(Schema.Record(Name, MetricReport))
})

const NumberPair = Schema.Tuple([Schema.Finite, Schema.Finite])

/** One analog input of an ADS1115. */
export const AnalogChannel = Schema.Struct({
  metric: Name,
  /** A0..A3 against GND, or a differential pair: A0-A1, A0-A3, A1-A3, A2-A3. */
  input: Schema.Literals(["A0", "A1", "A2", "A3", "A0-A1", "A0-A3", "A1-A3", "A2-A3"]),
  /** Full-scale range of the gain amplifier, ±volts. */
  gain: withDefault(Schema.Literals([6.144, 4.096, 2.048, 1.024, 0.512, 0.256]), 4.096),
  /** Samples per second: slower is quieter (8 SPS: 125 ms per conversion). */
  rate: withDefault(Schema.Literals([8, 16, 32, 64, 128, 250, 475, 860]), 128),
  /** Ohms of the shunt a current loop flows through: the input is then in mA. */
  shunt: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThan(0))),
  /** Input range (V, or mA with `shunt`) mapped linearly onto `to`: `from: [4, 20], to: [0, 10]`. */
  from: Schema.optionalKey(NumberPair),
  to: Schema.optionalKey(NumberPair),
  /** Clamp the scaled value to `to`. */
  clamp: withDefault(Schema.Boolean, true),
  /** An input below this (V, or mA) is a fault, not a value; default 3.8 for a 4-20 mA loop. */
  faultBelow: Schema.optionalKey(Schema.Finite),
  /** An input above this is a fault; default 21 for a 4-20 mA loop (NAMUR NE 43). */
  faultAbove: Schema.optionalKey(Schema.Finite),
  deadband: Schema.optionalKey(Deadband),
  maxSilence: Schema.optionalKey(Millis.check(Schema.isGreaterThan(0)))
})
export type AnalogChannel = typeof AnalogChannel.Type

const BME280_ADDRESSES = [0x76, 0x77]
const SHT31_ADDRESSES = [0x44, 0x45]
const ADS1115_ADDRESSES = [0x48, 0x49, 0x4a, 0x4b]

const bmeFields = climateFields(BME280_ADDRESSES, "BME280/BMP280", "bme280")
const bmpFields = climateFields(BME280_ADDRESSES, "BME280/BMP280", "bmp280")
const shtFields = climateFields(SHT31_ADDRESSES, "SHT31", "sht31")
const adsFields = {
  ...i2cFields,
  sensor: withDefault(Name, "ads1115"),
  address: withDefault(i2cAddress(ADS1115_ADDRESSES, "ADS1115"), 0x48),
  channels: Schema.Array(AnalogChannel).check(Schema.isMinLength(1))
}

/** The field-input kinds of `sensors`, each with its simulated twin. */
export const FieldInput = Schema.Union([
  Schema.Struct({ ...tcpFields, kind: Schema.Literal("modbus-tcp") }),
  Schema.Struct({ ...tcpFields, kind: Schema.Literal("simulated-modbus-tcp") }),
  Schema.Struct({ ...rtuFields, kind: Schema.Literal("modbus-rtu") }),
  Schema.Struct({ ...rtuFields, kind: Schema.Literal("simulated-modbus-rtu") }),
  Schema.Struct({ ...oneWireFields, kind: Schema.Literal("ds18b20") }),
  Schema.Struct({ ...oneWireFields, kind: Schema.Literal("simulated-ds18b20") }),
  Schema.Struct({ ...bmeFields, kind: Schema.Literal("bme280") }),
  Schema.Struct({ ...bmeFields, kind: Schema.Literal("simulated-bme280") }),
  Schema.Struct({ ...bmpFields, kind: Schema.Literal("bmp280") }),
  Schema.Struct({ ...bmpFields, kind: Schema.Literal("simulated-bmp280") }),
  Schema.Struct({ ...shtFields, kind: Schema.Literal("sht31") }),
  Schema.Struct({ ...shtFields, kind: Schema.Literal("simulated-sht31") }),
  Schema.Struct({ ...adsFields, kind: Schema.Literal("ads1115") }),
  Schema.Struct({ ...adsFields, kind: Schema.Literal("simulated-ads1115") })
])
export type FieldInput = typeof FieldInput.Type
export type FieldInputKind = FieldInput["kind"]
export type ModbusInput = Extract<FieldInput, { readonly registers: unknown }>
export type I2cInput = Extract<FieldInput, { readonly bus: number }>
export type OneWireInput = Exclude<FieldInput, ModbusInput | I2cInput>

type Problem = { path: Array<PropertyKey>; message: string }

/** Whether a field input is a Modbus device. */
export const isModbusInput = (s: FieldInput): s is ModbusInput => "registers" in s

/** Whether a field input is an I2C chip. */
export const isI2cInput = (s: FieldInput): s is I2cInput => "bus" in s

/** The metrics an I2C chip of fixed metrics publishes, by kind (without `simulated-`). */
export const I2C_CHIP_METRICS: Readonly<Record<string, ReadonlyArray<string>>> = {
  bme280: ["temperature", "humidity", "pressure"],
  bmp280: ["temperature", "pressure"],
  sht31: ["temperature", "humidity"]
}

/** The metrics of an I2C input: the chip's, or an ADS1115's channels. */
export const i2cMetrics = (s: I2cInput): ReadonlyArray<string> =>
  "channels" in s ? s.channels.map((c) => c.metric) : I2C_CHIP_METRICS[s.kind.replace("simulated-", "")] ?? []

/** The default live range of an analog channel: 3.8..21 mA for a 4-20 mA loop, none otherwise. */
export const analogLiveRange = (c: AnalogChannel): { readonly faultBelow?: number; readonly faultAbove?: number } => {
  const loop = c.shunt !== undefined && c.from !== undefined && c.from[0] === 4 && c.from[1] === 20
  const faultBelow = c.faultBelow ?? (loop ? 3.8 : undefined)
  const faultAbove = c.faultAbove ?? (loop ? 21 : undefined)
  return { ...(faultBelow === undefined ? {} : { faultBelow }), ...(faultAbove === undefined ? {} : { faultAbove }) }
}

const ADS_CONVERSION_MS = (rate: number) => Math.ceil(1000 / rate * 1.1)

/** Problems of one I2C entry (index `i` in `sensors`), and its claim on the bus address. */
const i2cProblems = (input: I2cInput, i: number, owners: Map<string, string>, problems: Array<Problem>) => {
  const key = `${input.node}:${input.bus}:${input.address}`
  const owner = owners.get(key)
  const where = `bus ${input.bus} address 0x${input.address.toString(16)} on node ${input.node}`
  if (owner !== undefined) problems.push({ path: ["sensors", i, "address"], message: `${where} is already read by ${owner} (one chip, one entry)` })
  else owners.set(key, `${input.device}/${input.sensor}`)
  if (!("channels" in input)) {
    const metrics = I2C_CHIP_METRICS[input.kind.replace("simulated-", "")] ?? []
    for (const field of ["calibration", "report"] as const) {
      for (const name of Object.keys(input[field] ?? {})) {
        if (!metrics.includes(name)) problems.push({ path: ["sensors", i, field, name], message: `a ${input.kind} has no metric "${name}" (its metrics: ${metrics.join(", ")})` })
      }
    }
    return
  }
  const seen = new Map<string, number>()
  let conversionMs = 0
  input.channels.forEach((c, j) => {
    const at = (...path: Array<PropertyKey>) => ["sensors", i, "channels", j, ...path]
    const first = seen.get(c.metric)
    if (first !== undefined) problems.push({ path: at("metric"), message: `metric "${c.metric}" is already read by channels[${first}]` })
    else seen.set(c.metric, j)
    conversionMs += ADS_CONVERSION_MS(c.rate)
    if ((c.from === undefined) !== (c.to === undefined)) {
      problems.push({ path: at(c.from === undefined ? "to" : "from"), message: "scaling takes both `from` (the input range) and `to` (the engineering range)" })
    }
    if (c.from !== undefined && c.from[0] === c.from[1]) problems.push({ path: at("from"), message: "the input range is empty: from's two ends are equal" })
    if (c.to !== undefined && c.to[0] === c.to[1]) problems.push({ path: at("to"), message: "the engineering range is empty: to's two ends are equal" })
    // The highest input the scaling expects (up to the live range's top, 21 mA on a loop) must fit
    // the gain's full scale, or it reads as the ceiling and a fault above it would go unseen.
    const top = Math.max(...(c.from ?? [0]), analogLiveRange(c).faultAbove ?? -Infinity)
    const volts = c.shunt === undefined ? top : top * c.shunt / 1000
    if (c.from !== undefined && volts > c.gain) {
      const fits = [6.144, 4.096, 2.048, 1.024, 0.512, 0.256].filter((g) => g >= volts).pop()
      problems.push({
        path: at("gain"),
        message: `${top}${c.shunt === undefined ? " V" : ` mA through ${c.shunt} Ω is ${volts} V, which`} is beyond gain ${c.gain}'s full scale of ±${c.gain} V` +
          (fits === undefined ? " (and beyond the ADS1115's 6.144 V: use a smaller shunt or a divider)" : `: use gain: ${fits}`)
      })
    }
  })
  if (conversionMs > input.interval) {
    problems.push({ path: ["sensors", i, "interval"], message: `the channels' conversions take ${conversionMs} ms, longer than the interval of ${input.interval} ms: a longer interval or faster rates` })
  }
}

const FIELD_KINDS: ReadonlySet<string> = new Set(FieldInput.members.map((m) => m.fields.kind.literal))

/** Whether a `sensors` entry is a field input. */
export const isFieldInput = <S extends { readonly kind: string }>(sensor: S): sensor is Extract<S, FieldInput> => FIELD_KINDS.has(sensor.kind)

/** A register's table and 0-based address, from whichever key names it. */
export type RegisterLocation = { readonly table: "coil" | "discrete" | "input" | "holding"; readonly address: number }

/** Where a Modicon number points, or why it points nowhere. */
export const modiconAddress = (n: number): RegisterLocation | string => {
  const ranges = [
    { first: 300001, last: 365536, table: "input" as const },
    { first: 400001, last: 465536, table: "holding" as const },
    { first: 30001, last: 39999, table: "input" as const },
    { first: 40001, last: 49999, table: "holding" as const }
  ]
  for (const { first, last, table } of ranges) if (n >= first && n <= last) return { table, address: n - first }
  return `${n} is not a Modicon register number: use 30001-39999 (input registers) or 40001-49999 (holding registers), ` +
    `or name the table and the 0-based address (\`holding: ${n}\`, \`input: ${n}\`, \`coil: ${n}\`, \`discreteInput: ${n}\`)`
}

const ADDRESS_KEYS = ["address", "holding", "input", "coil", "discreteInput"] as const

/** The register's location, or the problem with how it was given. */
export const registerLocation = (register: ModbusRegister): RegisterLocation | string => {
  const given = ADDRESS_KEYS.filter((key) => register[key] !== undefined)
  if (given.length !== 1) {
    return given.length === 0
      ? `register "${register.metric}" needs an address: \`address\` (a Modicon number such as 40001) or one of holding, input, coil, discreteInput`
      : `register "${register.metric}" has ${given.join(" and ")}: give exactly one`
  }
  const key = given[0]!
  const value = register[key]!
  switch (key) {
    case "address":
      return modiconAddress(value)
    case "discreteInput":
      return { table: "discrete", address: value }
    default:
      return { table: key, address: value }
  }
}

const width = (register: ModbusRegister, table: RegisterLocation["table"]) =>
  table === "coil" || table === "discrete" ? 1 : register.type === "int32" || register.type === "uint32" || register.type === "float32" ? 2 : 1

/** Problems of the field inputs among `sensors` (index `i` is the entry's place in `sensors`). */
export const fieldInputProblems = (sensors: ReadonlyArray<{ readonly kind: string }>): Array<Problem> => {
  const problems: Array<Problem> = []
  const probeOwners = new Map<string, string>()
  const serialLines = new Map<string, { line: string; device: string }>()
  const i2cOwners = new Map<string, string>()
  sensors.forEach((entry, i) => {
    if (!isFieldInput(entry as FieldInput)) return
    const input = entry as FieldInput
    if (isI2cInput(input)) return i2cProblems(input, i, i2cOwners, problems)
    if (!isModbusInput(input)) {
      // One probe is one sensor's: read twice, it would be stored twice under two names.
      for (const [metric, id] of Object.entries(input.probes ?? {})) {
        const key = `${input.node}:${id}`
        const owner = probeOwners.get(key)
        if (owner !== undefined) problems.push({ path: ["sensors", i, "probes", metric], message: `probe ${id} on node ${input.node} is already read as ${owner}` })
        else probeOwners.set(key, `${input.device}/${input.sensor} ${metric}`)
      }
      return
    }
    const sensor = input
    if (sensor.kind === "modbus-rtu" || sensor.kind === "simulated-modbus-rtu") {
      // Devices on one port share its one connection: the line settings must agree.
      const line = `${sensor.baudRate} baud, parity ${sensor.parity}, ${sensor.dataBits} data bits, ${sensor.stopBits} stop bit(s)`
      const key = `${sensor.node}:${sensor.port}`
      const first = serialLines.get(key)
      if (first === undefined) serialLines.set(key, { line, device: sensor.device })
      else if (first.line !== line) {
        problems.push({ path: ["sensors", i, "port"], message: `${sensor.port} on node ${sensor.node} is already used by ${first.device} at ${first.line}; this entry says ${line} (devices on one serial line share its settings)` })
      }
    }
    const metrics = new Map<string, number>()
    const used = new Map<string, string>()
    sensor.registers.forEach((register, j) => {
      const at = (...path: Array<PropertyKey>) => ["sensors", i, "registers", j, ...path]
      const first = metrics.get(register.metric)
      if (first !== undefined) problems.push({ path: at("metric"), message: `metric "${register.metric}" is already read by registers[${first}]` })
      else metrics.set(register.metric, j)
      const location = registerLocation(register)
      if (typeof location === "string") {
        problems.push({ path: at(), message: location })
        return
      }
      const bit = location.table === "coil" || location.table === "discrete"
      if (bit) {
        for (const key of ["type", "wordOrder"] as const) {
          if (register[key] !== undefined) problems.push({ path: at(key), message: `a ${location.table === "coil" ? "coil" : "discrete input"} is one bit (0/1): ${key} does not apply` })
        }
      } else if (register.wordOrder !== undefined && width(register, location.table) === 1) {
        problems.push({ path: at("wordOrder"), message: `wordOrder applies to 32-bit types (int32, uint32, float32), not ${register.type ?? "uint16"}` })
      }
      const w = width(register, location.table)
      if (location.address + w - 1 > 65535) problems.push({ path: at(), message: `register "${register.metric}" runs past address 65535` })
      for (let k = 0; k < w; k++) {
        const key = `${location.table}:${location.address + k}`
        const owner = used.get(key)
        if (owner !== undefined) {
          problems.push({ path: at(), message: `register "${register.metric}" overlaps "${owner}" (${location.table} ${location.address + k})` })
          break
        }
        used.set(key, register.metric)
      }
    })
  })
  return problems
}
