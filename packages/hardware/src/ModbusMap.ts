/**
 * What a Modbus device's registers mean: which table and address hold a metric, how its
 * 16-bit words become a number (int16/uint16/int32/uint32/float32, in either word order),
 * and the engineering scaling. `planReads` groups the points of one device into as few
 * requests as possible (contiguous addresses of one table in one request, within the
 * protocol's per-request limits), and `decodeBlock` turns a block's answer back into
 * metrics. Pure functions: the drivers move words, this module knows what they mean.
 */

/** The four Modbus data tables. */
export type ModbusTable = "coil" | "discrete" | "input" | "holding"

/** How a register value is encoded. Bits (coils, discrete inputs) are always 0/1. */
export type ModbusType = "int16" | "uint16" | "int32" | "uint32" | "float32"

/**
 * Order of the two 16-bit words of a 32-bit value. `big`: the high word at the lower address
 * (the Modbus convention, "ABCD"); `little`: the low word first ("CDAB", many meters and PLCs).
 * Bytes within a word are always big-endian, as the protocol sends them.
 */
export type WordOrder = "big" | "little"

/** One metric read from a device. */
export interface ModbusPoint {
  readonly metric: string
  readonly table: ModbusTable
  /** 0-based protocol address (the Modicon register 40001 is holding address 0). */
  readonly address: number
  /** Ignored for coils and discrete inputs. Default uint16. */
  readonly type?: ModbusType
  readonly wordOrder?: WordOrder
  /** `engineering = raw * scale + offset`. */
  readonly scale?: number
  readonly offset?: number
}

/** One read request: `count` registers (or bits) of `table` from `address`, and the points in it. */
export interface ModbusBlock {
  readonly table: ModbusTable
  readonly address: number
  readonly count: number
  readonly points: ReadonlyArray<ModbusPoint>
}

/** The most registers / bits one request may ask for (Modbus application protocol v1.1b3, 6.1-6.4). */
export const MAX_REGISTERS_PER_READ = 125
export const MAX_BITS_PER_READ = 2000

export const isBitTable = (table: ModbusTable): boolean => table === "coil" || table === "discrete"

/** Registers a point occupies. */
export const pointWidth = (point: ModbusPoint): number =>
  isBitTable(point.table) ? 1 : point.type === "int32" || point.type === "uint32" || point.type === "float32" ? 2 : 1

/** The last protocol address a table has. */
export const MAX_ADDRESS = 65535

/**
 * The requests that read every point: points of one table sorted by address, a block
 * extended while the next point starts at or before the block's end (contiguous or
 * overlapping) and the block stays within the per-request limit. Addresses in a gap are
 * never requested: a device may answer a read that spans an unmapped register with an
 * exception (Illegal Data Address), failing the whole block.
 */
export const planReads = (
  points: ReadonlyArray<ModbusPoint>,
  limits: { readonly maxRegisters?: number; readonly maxBits?: number } = {}
): Array<ModbusBlock> => {
  const blocks: Array<ModbusBlock> = []
  const tables: ReadonlyArray<ModbusTable> = ["coil", "discrete", "input", "holding"]
  for (const table of tables) {
    const limit = isBitTable(table) ? limits.maxBits ?? MAX_BITS_PER_READ : limits.maxRegisters ?? MAX_REGISTERS_PER_READ
    const sorted = points.filter((p) => p.table === table).sort((a, b) => a.address - b.address)
    let current: { address: number; end: number; points: Array<ModbusPoint> } | undefined
    for (const point of sorted) {
      const end = point.address + pointWidth(point)
      if (current !== undefined && point.address <= current.end && Math.max(current.end, end) - current.address <= limit) {
        current.end = Math.max(current.end, end)
        current.points.push(point)
        continue
      }
      if (current !== undefined) blocks.push({ table, address: current.address, count: current.end - current.address, points: current.points })
      current = { address: point.address, end, points: [point] }
    }
    if (current !== undefined) blocks.push({ table, address: current.address, count: current.end - current.address, points: current.points })
  }
  return blocks
}

const scratch = new DataView(new ArrayBuffer(4))

/** The raw number in the words `words[0..width)` of a point (words are unsigned 16-bit). */
export const decodeWords = (words: ReadonlyArray<number>, type: ModbusType, wordOrder: WordOrder = "big"): number => {
  if (type === "uint16") return words[0]! & 0xffff
  if (type === "int16") {
    scratch.setUint16(0, words[0]! & 0xffff)
    return scratch.getInt16(0)
  }
  const [first, second] = [words[0]! & 0xffff, words[1]! & 0xffff]
  const [high, low] = wordOrder === "big" ? [first, second] : [second, first]
  scratch.setUint16(0, high)
  scratch.setUint16(2, low)
  return type === "uint32" ? scratch.getUint32(0) : type === "int32" ? scratch.getInt32(0) : scratch.getFloat32(0)
}

/** The words a raw value is sent as (the inverse of `decodeWords`; the simulated devices use it). */
export const encodeWords = (value: number, type: ModbusType, wordOrder: WordOrder = "big"): Array<number> => {
  switch (type) {
    case "uint16":
      scratch.setUint16(0, value)
      return [scratch.getUint16(0)]
    case "int16":
      scratch.setInt16(0, value)
      return [scratch.getUint16(0)]
    case "uint32":
      scratch.setUint32(0, value)
      break
    case "int32":
      scratch.setInt32(0, value)
      break
    case "float32":
      scratch.setFloat32(0, value)
      break
  }
  const high = scratch.getUint16(0)
  const low = scratch.getUint16(2)
  return wordOrder === "big" ? [high, low] : [low, high]
}

/** A point's engineering value from its raw value. */
export const scalePoint = (point: ModbusPoint, raw: number): number => raw * (point.scale ?? 1) + (point.offset ?? 0)

/**
 * The metrics of one block's answer: `values[i]` is the register (or bit, as 0/1) at
 * `block.address + i`. A float32 that is NaN or infinite is left out and reported in
 * `invalid`: it is not a reading, and a reading holds only finite numbers.
 */
export const decodeBlock = (
  block: ModbusBlock,
  values: ReadonlyArray<number>
): { readonly values: Record<string, number>; readonly invalid: ReadonlyArray<string> } => {
  const out: Record<string, number> = {}
  const invalid: Array<string> = []
  for (const point of block.points) {
    const at = point.address - block.address
    const raw = isBitTable(point.table)
      ? (values[at] ? 1 : 0)
      : decodeWords(values.slice(at, at + pointWidth(point)), point.type ?? "uint16", point.wordOrder)
    const value = scalePoint(point, raw)
    if (Number.isFinite(value)) out[point.metric] = value
    else invalid.push(point.metric)
  }
  return { values: out, invalid }
}

/** How a table is named in messages ("holding registers 10..11"). */
export const describeRange = (table: ModbusTable, address: number, count: number): string => {
  const name = { coil: "coils", discrete: "discrete inputs", input: "input registers", holding: "holding registers" }[table]
  return count === 1 ? `${name} ${address}` : `${name} ${address}..${address + count - 1}`
}
