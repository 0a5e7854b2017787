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
 */
import { Schema } from "effect"
import { Name, Outbox, Port, withDefault } from "./Common.js"
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

/** The field-input kinds of `sensors`, each with its simulated twin. */
export const FieldInput = Schema.Union([
  Schema.Struct({ ...tcpFields, kind: Schema.Literal("modbus-tcp") }),
  Schema.Struct({ ...tcpFields, kind: Schema.Literal("simulated-modbus-tcp") }),
  Schema.Struct({ ...rtuFields, kind: Schema.Literal("modbus-rtu") }),
  Schema.Struct({ ...rtuFields, kind: Schema.Literal("simulated-modbus-rtu") }),
  Schema.Struct({ ...oneWireFields, kind: Schema.Literal("ds18b20") }),
  Schema.Struct({ ...oneWireFields, kind: Schema.Literal("simulated-ds18b20") })
])
export type FieldInput = typeof FieldInput.Type
export type FieldInputKind = FieldInput["kind"]
export type ModbusInput = Extract<FieldInput, { readonly registers: unknown }>
export type OneWireInput = Exclude<FieldInput, ModbusInput>

/** Whether a field input is a Modbus device. */
export const isModbusInput = (s: FieldInput): s is ModbusInput => "registers" in s

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

type Problem = { path: Array<PropertyKey>; message: string }

const width = (register: ModbusRegister, table: RegisterLocation["table"]) =>
  table === "coil" || table === "discrete" ? 1 : register.type === "int32" || register.type === "uint32" || register.type === "float32" ? 2 : 1

/** Problems of the field inputs among `sensors` (index `i` is the entry's place in `sensors`). */
export const fieldInputProblems = (sensors: ReadonlyArray<{ readonly kind: string }>): Array<Problem> => {
  const problems: Array<Problem> = []
  const probeOwners = new Map<string, string>()
  const serialLines = new Map<string, { line: string; device: string }>()
  sensors.forEach((entry, i) => {
    if (!isFieldInput(entry as FieldInput)) return
    const input = entry as FieldInput
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
