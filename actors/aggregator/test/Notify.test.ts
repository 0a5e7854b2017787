import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { type AlarmEvent, evaluateReading, evaluateWatermark, nextStaleDue, type RuleSpec, type RulesState } from "@bramble/actor-aggregator"

const hot = (notifyEvery: number): RuleSpec => ({ kind: "threshold", name: "hot", metric: "t", above: 30, notifyEvery })

/** Readings, each followed by a watermark advance to its time (as a partition does), then one far past the end. */
const run = (rule: RuleSpec, series: ReadonlyArray<readonly [ts: number, t: number]>, endAt?: number) => {
  const states: RulesState = {}
  const events: Array<AlarmEvent> = []
  const advance = (watermark: number) => {
    if (watermark >= nextStaleDue([rule], states)) events.push(...evaluateWatermark([rule], states, "d", watermark))
  }
  for (const [ts, t] of series) {
    advance(ts)
    events.push(...evaluateReading([rule], states, "d", { t }, ts))
  }
  if (endAt !== undefined) advance(endAt)
  return { events, notified: events.filter((e) => e.notify !== false), raised: states["hot"]?.raised ?? false }
}

describe("notification de-duplication", () => {
  it("notifyEvery - a flapping alarm: the first raise is told, the flaps are held back, the state is told once the interval is over", () => {
    // Raise at 0, clear at 10 s, raise at 20 s, clear at 30 s, raise at 40 s; notifyEvery 60 s.
    const { events, notified } = run(hot(60_000), [[0, 31], [10_000, 29], [20_000, 31], [30_000, 29], [40_000, 31], [50_000, 31]], 70_000)
    assert.deepStrictEqual(events.map((e) => [e.state, e.at, e.notify !== false]), [
      ["raised", 0, true],
      ["cleared", 10_000, false],
      ["raised", 20_000, false],
      ["cleared", 30_000, false],
      ["raised", 40_000, false]
    ])
    // Still raised at 60 s, as the receiver was told: nothing more to say.
    assert.deepStrictEqual(notified.map((e) => e.state), ["raised"])
  })

  it("notifyEvery - a clear held back is told when the interval ends, even with no reading after it", () => {
    const { notified } = run(hot(60_000), [[0, 31], [10_000, 29]], 60_000)
    assert.deepStrictEqual(notified.map((e) => [e.state, e.at]), [["raised", 0], ["cleared", 60_000]])
    assert.match(notified[1]!.message, /held back: the alarm flapped/)
  })

  it("without notifyEvery every event is told", () => {
    const { events } = run(hot(0), [[0, 31], [10_000, 29], [20_000, 31]])
    assert.isTrue(events.every((e) => e.notify === undefined))
    assert.strictEqual(events.length, 3)
  })

  it("property - told raises are at least notifyEvery apart, told states alternate, and the receiver ends with the truth", () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 20_000 }),
      fc.array(fc.tuple(fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 25, max: 35 })), { minLength: 1, maxLength: 100 }),
      (every, steps) => {
        let ts = 0
        const series = steps.map(([dt, t]) => [ts += dt, t] as const)
        const { events, notified, raised } = run(hot(every), series, ts + every)
        const raises = notified.filter((e) => e.state === "raised").map((e) => e.at)
        for (let i = 1; i < raises.length; i++) assert.isAtLeast(raises[i]! - raises[i - 1]!, every)
        notified.forEach((e, i) => assert.strictEqual(e.state, i % 2 === 0 ? "raised" : "cleared"))
        const told = notified.length === 0 ? false : notified[notified.length - 1]!.state === "raised"
        assert.strictEqual(told, raised, `told ${told}, raised ${raised}, events ${JSON.stringify(events.map((e) => [e.state, e.at, e.notify]))}`)
      }
    ), { numRuns: 500 })
  })
})
