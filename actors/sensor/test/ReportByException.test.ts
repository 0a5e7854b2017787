import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { ReportByException, type ReportPolicy } from "@bramble/actor-sensor"

/**
 * The plain model: walk the series, keeping the index of the last published sample; a
 * sample is published when it is the first, when it differs from the last published one by
 * more than the band (absolute, or percent of the last published value), or when at least
 * maxSilence has passed since it.
 */
const model = (series: ReadonlyArray<{ t: number; v: number }>, policy: ReportPolicy): Array<number> => {
  const published: Array<number> = []
  for (let i = 0; i < series.length; i++) {
    const last = published.length === 0 ? undefined : series[published[published.length - 1]!]!
    if (last === undefined) {
      published.push(i)
      continue
    }
    const band = policy.deadband === undefined ? 0 : "absolute" in policy.deadband ? policy.deadband.absolute : Math.abs(last.v) * policy.deadband.percent / 100
    const silent = policy.maxSilenceMs !== undefined && series[i]!.t - last.t >= policy.maxSilenceMs
    if (silent || Math.abs(series[i]!.v - last.v) > band) published.push(i)
  }
  return published
}

const seriesArb = fc.array(fc.record({ dt: fc.integer({ min: 1, max: 5_000 }), v: fc.integer({ min: -50, max: 50 }).map((n) => n / 2) }), { maxLength: 200 })
  .map((steps) => {
    let t = 1_000_000
    return steps.map(({ dt, v }) => ({ t: (t += dt), v }))
  })

const policyArb: fc.Arbitrary<ReportPolicy> = fc.record({
  deadband: fc.option(fc.oneof(
    fc.integer({ min: 0, max: 10 }).map((absolute) => ({ absolute })),
    fc.integer({ min: 0, max: 50 }).map((percent) => ({ percent }))
  ), { nil: undefined }),
  maxSilenceMs: fc.option(fc.integer({ min: 1, max: 20_000 }), { nil: undefined })
}).map((p) => ({ ...(p.deadband === undefined ? {} : { deadband: p.deadband }), ...(p.maxSilenceMs === undefined ? {} : { maxSilenceMs: p.maxSilenceMs }) }))

describe("report by exception", () => {
  it("property - publishes exactly what the plain model publishes, per metric, independently", () => {
    fc.assert(fc.property(seriesArb, seriesArb, policyArb, (a, b, policy) => {
      const rbe = new ReportByException({ a: policy })
      const publishedA: Array<number> = []
      const publishedB: Array<number> = []
      const steps = Math.max(a.length, b.length)
      for (let i = 0; i < steps; i++) {
        // Metric b has no policy: every value of it is published, whatever a does.
        const values: Record<string, number> = {}
        if (i < a.length) values["a"] = a[i]!.v
        if (i < b.length) values["b"] = b[i]!.v
        const t = i < a.length ? a[i]!.t : 0
        const out = rbe.filter(values, t)
        if ("a" in out) publishedA.push(i)
        if ("b" in out) publishedB.push(i)
        if ("a" in out) assert.strictEqual(out["a"], a[i]!.v)
      }
      assert.deepStrictEqual(publishedA, model(a, policy))
      assert.deepStrictEqual(publishedB, b.map((_, i) => i))
    }))
  })

  it("property - every value left out lies within the band of the last published one, and silence never exceeds maxSilence", () => {
    fc.assert(fc.property(seriesArb, fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 20_000 }), (series, absolute, maxSilenceMs) => {
      const rbe = new ReportByException({ x: { deadband: { absolute }, maxSilenceMs } })
      let last: { t: number; v: number } | undefined
      for (const sample of series) {
        const out = rbe.filter({ x: sample.v }, sample.t)
        if ("x" in out) last = sample
        else {
          assert.isAtMost(Math.abs(sample.v - last!.v), absolute)
          assert.isBelow(sample.t - last!.t, maxSilenceMs)
        }
      }
    }))
  })

  it("reset - every metric's next value is published, even an unchanged one", () => {
    const rbe = new ReportByException({ x: { deadband: { absolute: 5 } } })
    assert.deepStrictEqual(rbe.filter({ x: 1 }, 0), { x: 1 })
    assert.deepStrictEqual(rbe.filter({ x: 1 }, 1), {})
    rbe.reset()
    assert.deepStrictEqual(rbe.filter({ x: 1 }, 2), { x: 1 })
  })
})
