import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { assignPartitions, partitionsOf } from "../src/ownership/Assignment.js"

const name = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/)
const members = fc.uniqueArray(name, { minLength: 1, maxLength: 9 })
const partitions = fc.integer({ min: 1, max: 128 })

const moved = (before: ReadonlyArray<string | undefined>, after: ReadonlyArray<string | undefined>) =>
  before.filter((owner, p) => owner !== after[p]).length

const roundRobin = (names: ReadonlyArray<string>, count: number) => {
  const sorted = [...names].sort()
  return Array.from({ length: count }, (_, p) => sorted[p % sorted.length])
}

describe("Assignment", () => {
  it("assignment - every partition has exactly one owner, a live member", () =>
    fc.assert(fc.property(members, partitions, (ms, p) => {
      const owners = assignPartitions(ms, p)
      assert.strictEqual(owners.length, p)
      for (const owner of owners) assert.isTrue(owner !== undefined && ms.includes(owner), `owner ${owner} is not a member`)
    })))

  it("assignment - partitions are spread evenly: every member owns floor(P/N) or ceil(P/N)", () =>
    fc.assert(fc.property(members, partitions, (ms, p) => {
      const owners = assignPartitions(ms, p)
      const counts = ms.map((m) => partitionsOf(owners, m).length)
      assert.isAtMost(Math.max(...counts) - Math.min(...counts), 1, `counts ${counts}`)
      assert.strictEqual(counts.reduce((a, b) => a + b, 0), p)
    })))

  it("assignment - depends only on the set of members (order and duplicates do not matter)", () =>
    fc.assert(fc.property(members, partitions, fc.integer(), (ms, p, seed) => {
      const shuffled = [...ms].sort((a, b) => ((a.charCodeAt(0) * 31 + seed) % 7) - ((b.charCodeAt(0) * 31 + seed) % 7))
      assert.deepStrictEqual(assignPartitions([...shuffled, ...shuffled.slice(0, 2)], p), assignPartitions(ms, p))
    })))

  it("assignment - a joining member takes its share and few others move (at most its share plus N - 1 more)", () =>
    fc.assert(fc.property(members, name, partitions, (ms, joiner, p) => {
      fc.pre(!ms.includes(joiner))
      const before = assignPartitions(ms, p)
      const after = assignPartitions([...ms, joiner], p)
      const share = partitionsOf(after, joiner).length
      assert.isAtLeast(share, Math.floor(p / (ms.length + 1)))
      assert.isAtMost(moved(before, after), 2 * share + ms.length - 1, `P=${p}, N=${ms.length}: moved ${moved(before, after)}, share ${share}`)
    }), { numRuns: 500 }))

  it("assignment - a leaving member's partitions move, and few others (at most its share plus N - 2 more)", () =>
    fc.assert(fc.property(members, fc.nat(), partitions, (ms, pick, p) => {
      fc.pre(ms.length >= 2)
      const gone = ms[pick % ms.length]!
      const before = assignPartitions(ms, p)
      const after = assignPartitions(ms.filter((m) => m !== gone), p)
      const share = partitionsOf(before, gone).length
      for (const partition of partitionsOf(before, gone)) assert.notStrictEqual(after[partition], gone)
      assert.isAtMost(moved(before, after), 2 * share + ms.length - 2)
    }), { numRuns: 500 }))

  it("assignment - over many joins it moves fewer partitions than round-robin over sorted names", () => {
    let hrw = 0
    let rr = 0
    fc.assert(fc.property(members, name, fc.integer({ min: 8, max: 64 }), (ms, joiner, p) => {
      fc.pre(!ms.includes(joiner))
      hrw += moved(assignPartitions(ms, p), assignPartitions([...ms, joiner], p))
      rr += moved(roundRobin(ms, p), roundRobin([...ms, joiner], p))
    }), { numRuns: 300, seed: 42 })
    assert.isBelow(hrw, rr, `rendezvous moved ${hrw}, round-robin ${rr}`)
  })

  it("assignment - with no members nothing is owned", () => {
    assert.deepStrictEqual(assignPartitions([], 3), [undefined, undefined, undefined])
  })
})
