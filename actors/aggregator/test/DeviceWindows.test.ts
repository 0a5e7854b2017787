import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { DeviceWindows, Watermark, windowStarts } from "@bramble/actor-aggregator"
import type { Reading } from "@bramble/protocol"

const reading = (ts: number, values: Record<string, number>): Reading => ({ device: "d1", sensor: "env", ts, values })

describe("window assignment", () => {
  it("tumbling - a reading belongs to exactly one window and start <= ts < end", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3_600_000 }), fc.integer({ min: 0, max: 2 ** 42 }), (size, ts) => {
      const starts = windowStarts({ name: "w", size }, ts)
      assert.strictEqual(starts.length, 1)
      assert.isTrue(starts[0]! <= ts && ts < starts[0]! + size)
      assert.strictEqual(starts[0]! % size, 0)
    }))
  })

  it("any size and hop (gaps, uneven hops) - exactly the aligned starts whose window holds ts, oldest first", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 50_000 }), fc.integer({ min: 1, max: 50_000 }), fc.integer({ min: 0, max: 2 ** 40 }), (size, hop, ts) => {
      const expected: Array<number> = []
      for (let k = Math.floor((ts - size) / hop) - 1; k * hop <= ts; k++) if (k * hop <= ts && ts < k * hop + size && k * hop > ts - size) expected.push(k * hop)
      assert.deepStrictEqual(windowStarts({ name: "w", size, hop }, ts), expected)
    }), { numRuns: 2_000 })
  })

  it("boundaries - a reading exactly at a window's end opens the next window", () => {
    assert.deepStrictEqual(windowStarts({ name: "1m", size: 60_000 }, 120_000), [120_000])
    assert.deepStrictEqual(windowStarts({ name: "1m", size: 60_000 }, 119_999), [60_000])
  })

  it("hopping - a reading belongs to size/hop windows, each containing it", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 60_000 }), fc.integer({ min: 0, max: 2 ** 40 }), (k, hop, ts) => {
      const size = hop * k
      const starts = windowStarts({ name: "w", size, hop }, ts)
      assert.strictEqual(starts.length, k)
      for (const s of starts) assert.isTrue(s <= ts && ts < s + size && s % hop === 0)
    }))
  })
})

describe("device windows", () => {
  it("statistics - count, mean, min, max, first, last, stddev match an independent computation", () => {
    // Distinct event times: a second value at the same time is a duplicate (tested below).
    fc.assert(fc.property(fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 59_999 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })), { minLength: 1, maxLength: 60, selector: ([ts]) => ts }), (points) => {
      const state = new DeviceWindows("d1", [{ name: "1m", size: 60_000 }])
      points.forEach(([ts, v], i) => state.apply(reading(ts, { t: v }), i + 1, Number.NEGATIVE_INFINITY))
      const [result] = state.close(60_000)
      const values = points.map(([, v]) => v)
      const sum = values.reduce((a, b) => a + b, 0)
      assert.strictEqual(result!.count, values.length)
      assert.strictEqual(result!.mean, sum / values.length)
      assert.strictEqual(result!.min, Math.min(...values))
      assert.strictEqual(result!.max, Math.max(...values))
      const minTs = Math.min(...points.map(([ts]) => ts))
      const maxTs = Math.max(...points.map(([ts]) => ts))
      assert.strictEqual(result!.first, points.find(([ts]) => ts === minTs)![1])
      assert.strictEqual(result!.last, points.filter(([ts]) => ts === maxTs).at(-1)![1])
      const m = sum / values.length
      const expected = values.length < 2 ? 0 : Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1))
      assert.closeTo(result!.stddev, expected, 1e-6 * Math.max(1, expected))
    }))
  })

  it("close - only windows whose end is at or before the watermark are emitted", () => {
    const state = new DeviceWindows("d1", [{ name: "1m", size: 60_000 }])
    state.apply(reading(10_000, { t: 1 }), 1, 0)
    state.apply(reading(70_000, { t: 2 }), 2, 0)
    assert.deepStrictEqual(state.close(59_999), [])
    assert.deepStrictEqual(state.close(60_000).map((r) => [r.start, r.end, r.count]), [[0, 60_000, 1]])
    assert.strictEqual(state.openWindows, 1)
  })

  it("lateness - a reading for an already-closed window is refused", () => {
    const state = new DeviceWindows("d1", [{ name: "1m", size: 60_000 }])
    assert.strictEqual(state.apply(reading(10_000, { t: 1 }), 1, 60_000), "tooLate")
    assert.strictEqual(state.apply(reading(60_000, { t: 1 }), 2, 60_000), "applied")
  })

  it("lateness - a late reading within the allowed lateness corrects the emitted window, which is emitted again", () => {
    const state = new DeviceWindows("d1", [{ name: "1m", size: 60_000 }], 10_000)
    state.apply(reading(10_000, { t: 1 }), 1, 0)
    assert.deepStrictEqual(state.close(60_000).map((r) => [r.start, r.count, r.mean]), [[0, 1, 1]])
    // Nothing changed: nothing to emit again.
    assert.deepStrictEqual(state.close(65_000), [])
    assert.strictEqual(state.apply(reading(20_000, { t: 3 }), 2, 65_000), "applied")
    assert.deepStrictEqual(state.close(66_000).map((r) => [r.start, r.count, r.mean]), [[0, 2, 2]])
    // Past end + lateness the window is retired, and a reading for it is refused.
    assert.deepStrictEqual(state.close(70_000), [])
    assert.strictEqual(state.openWindows, 0)
    assert.strictEqual(state.apply(reading(30_000, { t: 5 }), 3, 70_000), "tooLate")
  })

  it("lateness - the final result equals the result without late data reordering", () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 119_999 }), fc.integer({ min: -50, max: 50 })), { minLength: 1, maxLength: 40 }), (points) => {
      // Every reading arrives while its window is still within the lateness: the last
      // emission of each window equals the in-order result.
      const late = new DeviceWindows("d1", [{ name: "1m", size: 60_000 }], 1_000_000)
      const emitted = new Map<number, number>()
      points.forEach(([ts, v], i) => {
        late.apply(reading(ts, { t: v }), i + 1, 130_000)
        for (const r of late.close(130_000)) emitted.set(r.start, r.count)
      })
      const inOrder = new DeviceWindows("d1", [{ name: "1m", size: 60_000 }])
      points.forEach(([ts, v], i) => inOrder.apply(reading(ts, { t: v }), i + 1, Number.NEGATIVE_INFINITY))
      const expected = new Map(inOrder.close(Infinity).map((r) => [r.start, r.count]))
      assert.deepStrictEqual(emitted, expected)
    }))
  })

  it("snapshot - restoring a snapshot and continuing equals never stopping (bit-identical)", () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 600_000 }), fc.double({ min: -100, max: 100, noNaN: true })), { minLength: 2, maxLength: 80 }), fc.nat(), (points, cut) => {
      const specs = [{ name: "1m", size: 60_000 }, { name: "5m", size: 300_000, hop: 60_000 }]
      const split = cut % points.length
      const straight = new DeviceWindows("d1", specs)
      points.forEach(([ts, v], i) => straight.apply(reading(ts, { t: v }), i + 1, Number.NEGATIVE_INFINITY))
      const first = new DeviceWindows("d1", specs)
      points.slice(0, split).forEach(([ts, v], i) => first.apply(reading(ts, { t: v }), i + 1, Number.NEGATIVE_INFINITY))
      const restored = DeviceWindows.fromSnapshot("d1", specs, structuredClone(first.snapshot()))
      points.slice(split).forEach(([ts, v], i) => restored.apply(reading(ts, { t: v }), split + i + 1, Number.NEGATIVE_INFINITY))
      assert.deepStrictEqual(restored.close(Infinity), straight.close(Infinity))
      assert.strictEqual(restored.seq, straight.seq)
    }))
  })

  it("many open windows - a device with dozens of metrics and hopping windows gets the same results as an independent computation, across a snapshot and the closing of some", () => {
    // Beyond a few open windows a device finds them through an index; this checks that
    // path (and switching to and from it) against a plain recomputation.
    let indexed = 0
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 119_999 }), fc.integer({ min: 0, max: 19 }), fc.integer({ min: -1000, max: 1000 })), { minLength: 1, maxLength: 150 }),
      fc.nat(),
      (points, cut) => {
        const spec = { name: "1m/10s", size: 60_000, hop: 10_000 }
        const split = cut % points.length
        const straight = new DeviceWindows("d1", [spec])
        let restored = new DeviceWindows("d1", [spec])
        const expected = new Map<string, Array<number>>()
        // A metric's value at an event time already counted is a duplicate: the first counts.
        const counted = new Set<string>()
        let most = 0
        points.forEach(([ts, m, v], i) => {
          const values = { [`m${m}`]: v, [`n${m}`]: -v }
          straight.apply(reading(ts, values), i + 1, Number.NEGATIVE_INFINITY)
          restored.apply(reading(ts, values), i + 1, Number.NEGATIVE_INFINITY)
          if (i === split) restored = DeviceWindows.fromSnapshot("d1", [spec], structuredClone(restored.snapshot()))
          most = Math.max(most, straight.openWindows)
          for (const start of windowStarts(spec, ts)) {
            for (const [metric, value] of Object.entries(values)) {
              if (counted.has(`${metric}@${ts}@${start}`)) continue
              counted.add(`${metric}@${ts}@${start}`)
              const k = `${metric}@${start}`
              expected.set(k, [...(expected.get(k) ?? []), value])
            }
          }
        })
        if (most > 16) indexed++
        // Close the first minute's windows, then the rest: both keep matching.
        const early = straight.close(60_000)
        assert.deepStrictEqual(restored.close(60_000), early)
        const results = [...early, ...straight.close(Infinity)]
        assert.deepStrictEqual(restored.close(Infinity), results.slice(early.length))
        assert.strictEqual(results.length, expected.size)
        for (const r of results) {
          const values = expected.get(`${r.metric}@${r.start}`)!
          assert.strictEqual(r.count, values.length)
          assert.strictEqual(r.min, Math.min(...values))
          assert.strictEqual(r.max, Math.max(...values))
          assert.strictEqual(r.mean, values.reduce((a, b) => a + b, 0) / values.length)
        }
        assert.strictEqual(straight.openWindows, 0)
      }
    ))
    assert.isAbove(indexed, 0, "no run had enough open windows to use the index")
  })
})

describe("watermark", () => {
  it("never moves backwards and trails the newest event time by the lateness", () => {
    let w = Watermark.observe(Watermark.initial, 100_000, 5_000)
    assert.strictEqual(w.watermark, 95_000)
    w = Watermark.observe(w, 50_000, 5_000)
    assert.strictEqual(w.watermark, 95_000)
  })

  it("idle - advances with processing time only after idleAdvance", () => {
    const w = Watermark.observe(Watermark.initial, 100_000, 5_000)
    assert.strictEqual(Watermark.idle(w, 4_000, 5_000).watermark, 95_000)
    assert.strictEqual(Watermark.idle(w, 8_000, 5_000).watermark, 103_000)
    assert.strictEqual(Watermark.idle(Watermark.initial, 8_000, 5_000).watermark, Number.NEGATIVE_INFINITY)
  })
})

describe("watermark - a device's clock", () => {
  it("a reading stamped ahead of the time the log stored it moves the watermark no further than that time", () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: -3_600_000, max: 3_600_000 })), { minLength: 1, maxLength: 50 }),
      fc.integer({ min: 0, max: 10_000 }),
      (readings, delay) => {
        // [stored time, the device's skew]: event time = stored time + skew.
        let w = Watermark.initial
        let bound = Number.NEGATIVE_INFINITY
        for (const [storedAt, skew] of readings) {
          const before = w.watermark
          w = Watermark.observeReading(w, storedAt + skew, storedAt, delay)
          bound = Math.max(bound, Math.min(storedAt, storedAt + skew) - delay)
          assert.isAtLeast(w.watermark, before)
        }
        // The watermark is the newest capped event time: never ahead of the log's own time.
        assert.strictEqual(w.watermark, bound)
      }
    ))
  })
})

describe("device windows - duplicates", () => {
  /** What the windows must hold: every value counted once per (sensor, metric, event time), the first one. */
  const oracle = (readings: ReadonlyArray<Reading>, size: number) => {
    const counted = new Set<string>()
    const windows = new Map<string, Array<number>>()
    for (const r of readings) {
      for (const [metric, value] of Object.entries(r.values)) {
        const key = `${r.sensor}/${metric}/${r.ts}`
        if (counted.has(key)) continue
        counted.add(key)
        const w = `${r.sensor}/${metric}/${Math.floor(r.ts / size) * size}`
        windows.set(w, [...(windows.get(w) ?? []), value])
      }
    }
    return windows
  }

  const metricSets = [["t"], ["h"], ["t", "h"]] as const
  // Distinct readings (sensor, event time, which metrics, values), then a log in which each
  // appears once and some again later — an MQTT QoS 1 retransmission, with the same values or
  // (a device bug) others — cut at a random point by a checkpoint and a restore.
  const logs = fc.uniqueArray(
    fc.record({
      sensor: fc.constantFrom("env", "soil"),
      ts: fc.integer({ min: 0, max: 299_999 }),
      metrics: fc.constantFrom(...metricSets),
      value: fc.integer({ min: -100, max: 100 })
    }),
    { minLength: 1, maxLength: 60, selector: (r) => `${r.sensor}/${r.ts}/${r.metrics.join()}` }
  ).chain((originals) =>
    fc.tuple(
      fc.constant(originals),
      fc.array(fc.tuple(fc.nat({ max: originals.length - 1 }), fc.nat(), fc.boolean()), { maxLength: 40 }),
      fc.nat()
    )
  ).map(([originals, copies, cut]) => {
    const log: Array<Reading> = originals.map((o) => ({
      device: "d1",
      sensor: o.sensor,
      ts: o.ts,
      values: Object.fromEntries(o.metrics.map((m) => [m, o.value]))
    }))
    for (const [which, at, same] of copies) {
      const original = log[which]!
      const copy = same ? original : { ...original, values: Object.fromEntries(Object.keys(original.values).map((m) => [m, 1_000])) }
      // Later than the original, anywhere after it.
      const after = log.indexOf(original) + 1
      log.splice(after + (at % (log.length - after + 1)), 0, copy)
    }
    return { log, cut: cut % log.length }
  })

  it("windows count each value once per sensor, metric and event time, across a checkpoint and restore", () => {
    let duplicates = 0
    fc.assert(fc.property(logs, ({ log, cut }) => {
      const spec = { name: "1m", size: 60_000 }
      let state = new DeviceWindows("d1", [spec])
      log.forEach((r, i) => {
        if (i === cut) state = DeviceWindows.fromSnapshot("d1", [spec], structuredClone(state.snapshot()))
        if (state.apply(r, i + 1, Number.NEGATIVE_INFINITY) === "duplicate") duplicates++
      })
      const expected = oracle(log, spec.size)
      const results = state.close(Number.POSITIVE_INFINITY)
      assert.strictEqual(results.length, expected.size)
      for (const r of results) {
        const values = expected.get(`${r.sensor}/${r.metric}/${r.start}`)!
        assert.strictEqual(r.count, values.length, `${r.sensor}/${r.metric}/${r.start}`)
        assert.strictEqual(r.mean, values.reduce((a, b) => a + b, 0) / values.length)
        assert.strictEqual(r.min, Math.min(...values))
        assert.strictEqual(r.max, Math.max(...values))
      }
    }), { numRuns: 500 })
    assert.isAbove(duplicates, 0, "no run replayed a duplicate")
  })

  it("a duplicate is recognised while its window can change, and forgotten once no window takes its time", () => {
    const state = new DeviceWindows("d1", [{ name: "1m", size: 60_000 }], 5_000)
    assert.strictEqual(state.apply(reading(10_000, { t: 1 }), 1, 0), "applied")
    assert.strictEqual(state.apply(reading(10_000, { t: 1 }), 2, 0), "duplicate")
    // A metric not counted at that time yet is counted.
    assert.strictEqual(state.apply(reading(10_000, { t: 1, h: 2 }), 3, 0), "applied")
    assert.deepStrictEqual(state.close(60_000).map((r) => [r.metric, r.count]), [["h", 1], ["t", 1]])
    // Within the allowed lateness: still a duplicate, the emitted window unchanged.
    assert.strictEqual(state.apply(reading(10_000, { t: 1 }), 4, 60_000), "duplicate")
    assert.deepStrictEqual(state.close(61_000), [])
    // Past it the window is retired, the time forgotten, and the same reading is too late.
    state.close(65_000)
    assert.strictEqual(state.snapshot().seen, undefined)
    assert.strictEqual(state.apply(reading(10_000, { t: 1 }), 5, 65_000), "tooLate")
  })
})
