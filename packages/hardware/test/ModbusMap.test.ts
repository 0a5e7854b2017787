import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { decodeBlock, decodeWords, encodeWords, type ModbusPoint, type ModbusType, planReads, pointWidth, type WordOrder } from "@bramble/hardware"

const RANGES: Record<ModbusType, fc.Arbitrary<number>> = {
  int16: fc.integer({ min: -32768, max: 32767 }),
  uint16: fc.integer({ min: 0, max: 65535 }),
  int32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  uint32: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  float32: fc.float({ noNaN: true, noDefaultInfinity: true }).map(Math.fround)
}

describe("modbus register map", () => {
  it("words - the datasheet examples: 0xFF15 is int16 -235, float32 1.5 is 0x3FC0 0x0000 (big) or 0x0000 0x3FC0 (little)", () => {
    assert.strictEqual(decodeWords([0xff15], "int16"), -235)
    assert.strictEqual(decodeWords([0xff15], "uint16"), 65301)
    assert.deepStrictEqual(encodeWords(1.5, "float32", "big"), [0x3fc0, 0x0000])
    assert.deepStrictEqual(encodeWords(1.5, "float32", "little"), [0x0000, 0x3fc0])
    assert.strictEqual(decodeWords([0x0001, 0x0000], "uint32", "big"), 65536)
    assert.strictEqual(decodeWords([0x0001, 0x0000], "uint32", "little"), 1)
    assert.strictEqual(decodeWords([0xffff, 0xfffe], "int32", "big"), -2)
  })

  it("words - decode(encode(v)) is v for every type and word order", () => {
    for (const type of Object.keys(RANGES) as Array<ModbusType>) {
      fc.assert(fc.property(RANGES[type], fc.constantFrom<WordOrder>("big", "little"), (value, order) => {
        const words = encodeWords(value, type, order)
        assert.isTrue(words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff))
        assert.strictEqual(decodeWords(words, type, order), value)
      }))
    }
  })

  it("planReads - every point in one block, blocks contiguous and within the limits, no gap address requested", () => {
    const point = fc.record({
      table: fc.constantFrom("coil" as const, "discrete" as const, "input" as const, "holding" as const),
      address: fc.integer({ min: 0, max: 400 }),
      type: fc.constantFrom<ModbusType>("int16", "uint16", "int32", "uint32", "float32")
    })
    fc.assert(fc.property(fc.array(point, { maxLength: 60 }), fc.integer({ min: 2, max: 125 }), (raw, maxRegisters) => {
      const points: Array<ModbusPoint> = raw.map((p, i) => ({ ...p, metric: `m${i}` }))
      const blocks = planReads(points, { maxRegisters, maxBits: maxRegisters })
      const seen = blocks.flatMap((b) => b.points.map((p) => p.metric)).sort()
      assert.deepStrictEqual(seen, points.map((p) => p.metric).sort())
      for (const block of blocks) {
        assert.isAtMost(block.count, maxRegisters)
        // Every address of the block belongs to one of its points: no gap is requested.
        for (let a = block.address; a < block.address + block.count; a++) {
          assert.isTrue(block.points.some((p) => p.table === block.table && a >= p.address && a < p.address + pointWidth(p)), `address ${a} of ${JSON.stringify(block)}`)
        }
      }
      // Two blocks of one table never touch unless merging them would pass the limit.
      for (const a of blocks) {
        for (const b of blocks) {
          if (a === b || a.table !== b.table || b.address !== a.address + a.count) continue
          assert.isAbove(a.count + b.count, maxRegisters)
        }
      }
    }))
  })

  it("decodeBlock - scaling and offset, bits as 0/1, a NaN float refused by name", () => {
    const points: Array<ModbusPoint> = [
      { metric: "t", table: "holding", address: 10, type: "int16", scale: 0.1, offset: -40 },
      { metric: "f", table: "holding", address: 11, type: "float32" }
    ]
    const [block] = planReads(points)
    assert.deepStrictEqual(block!.count, 3)
    const decoded = decodeBlock(block!, [650, 0x7fc0, 0x0000])
    assert.closeTo(decoded.values["t"]!, 25, 1e-9)
    assert.deepStrictEqual(decoded.invalid, ["f"])
    const [bits] = planReads([{ metric: "a", table: "coil", address: 0 }, { metric: "b", table: "coil", address: 1 }])
    assert.deepStrictEqual(decodeBlock(bits!, [0, 1]).values, { a: 0, b: 1 })
  })
})
