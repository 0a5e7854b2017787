import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { evaluateReading, evaluateWatermark, holtUpdate, nextStaleDue, type RuleSpec, type RulesState } from "@bramble/actor-aggregator"

const refuel: RuleSpec = { kind: "threshold", name: "refuel", metric: "fuel", below: 500, clearAbove: 550, for: 60_000 }

const run = (rules: ReadonlyArray<RuleSpec>, series: ReadonlyArray<readonly [number, number]>, metric = "fuel") => {
  const states: RulesState = {}
  return series.flatMap(([ts, v]) => evaluateReading(rules, states, "gen-1", { [metric]: v }, ts))
}

describe("rules", () => {
  it("threshold - raises refuel only after fuel < 500 held for 1 min, clears only above 550", () => {
    const events = run([refuel], [[0, 600], [10_000, 490], [40_000, 480], [70_000, 470], [80_000, 520], [90_000, 540], [100_000, 560]])
    assert.deepStrictEqual(events.map((e) => [e.state, e.at]), [["raised", 70_000], ["cleared", 100_000]])
  })

  it("threshold - a dip shorter than the minimum duration raises nothing", () => {
    assert.deepStrictEqual(run([refuel], [[0, 490], [30_000, 510], [61_000, 490], [90_000, 600]]), [])
  })

  it("hysteresis - a value hovering at the limit does not flap", () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 480, max: 570 }), { minLength: 1, maxLength: 200 }), (values) => {
      const events = run([{ ...refuel, for: 0 }], values.map((v, i) => [i * 1000, v] as const))
      // Alternates strictly, starting with a raise.
      events.forEach((e, i) => assert.strictEqual(e.state, i % 2 === 0 ? "raised" : "cleared"))
      // Every clear needs a value above 550, every raise a value below 500.
      for (const e of events) assert.isTrue(e.state === "raised" ? e.value! < 500 : e.value! > 550)
    }))
  })

  it("rate - raises on a fast change and clears when the change slows", () => {
    const events = run([{ kind: "rate", name: "fast-rise", metric: "t", maxPerMinute: 2 }], [[0, 20], [60_000, 21], [120_000, 25], [180_000, 26]], "t")
    assert.deepStrictEqual(events.map((e) => [e.state, e.at]), [["raised", 120_000], ["cleared", 180_000]])
  })

  it("stale - raises when the watermark passes the last reading by `after`, clears on the next reading", () => {
    const rules: ReadonlyArray<RuleSpec> = [{ kind: "stale", name: "silent", after: 300_000 }]
    const states: RulesState = {}
    evaluateReading(rules, states, "d", { t: 1 }, 1_000)
    assert.strictEqual(nextStaleDue(rules, states), 301_000)
    assert.deepStrictEqual(evaluateWatermark(rules, states, "d", 300_000), [])
    assert.deepStrictEqual(evaluateWatermark(rules, states, "d", 302_000).map((e) => [e.state, e.at]), [["raised", 301_000]])
    assert.deepStrictEqual(evaluateWatermark(rules, states, "d", 900_000), [])
    assert.deepStrictEqual(evaluateReading(rules, states, "d", { t: 1 }, 950_000).map((e) => e.state), ["cleared"])
  })

  it("scope - a rule limited to some devices ignores the others", () => {
    const states: RulesState = {}
    assert.deepStrictEqual(evaluateReading([{ ...refuel, for: 0, devices: ["gen-2"] }], states, "gen-1", { fuel: 1 }, 0), [])
  })
})

describe("forecast", () => {
  it("Holt's method follows a linear trend exactly", () => {
    let state
    let next = 0
    for (let i = 0; i < 20; i++) ({ state, next } = holtUpdate(state, 10 + 2 * i))
    assert.closeTo(next, 10 + 2 * 20, 1e-9)
  })
})
