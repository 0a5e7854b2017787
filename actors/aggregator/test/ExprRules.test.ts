import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { compileExpression } from "@bramble/config"
import {
  type AlarmEvent,
  type DeviceMessage,
  type DeviceSnapshot,
  DeviceWindows,
  evaluateReading,
  type ExprInputs,
  makeDeviceAggregators,
  type Predicate,
  type RuleSpec,
  type RulesState
} from "@bramble/actor-aggregator"
import { type Deferred, Effect } from "effect"
import { TestClock } from "effect/testing"

const compile = (text: string, metrics = ["temperature", "humidity", "x"], windows = ["1m", "10m"]): Predicate => {
  const compiled = compileExpression(text, { metrics, windows })
  if (!("ok" in compiled)) throw new Error(compiled.problem.message)
  return compiled.ok
}

const dryHeat: RuleSpec = {
  kind: "expr",
  name: "dry-heat",
  when: compile("temperature > 30 && humidity < 40"),
  clearWhen: compile("temperature < 28"),
  for: 120_000,
  severity: "critical"
}

/** Latest values kept as DeviceAggregator keeps them (by event time), window statistics from real DeviceWindows. */
const device = (specs = [{ name: "10m", size: 600_000 }]) => {
  const windows = new DeviceWindows("d", specs)
  const latest: Record<string, number> = {}
  const inputs: ExprInputs = { latest, stat: (stat, window, metric, ts) => windows.statAt(stat, window, metric, ts) }
  const states: RulesState = {}
  let seq = 0
  return (rules: ReadonlyArray<RuleSpec>, ts: number, values: Record<string, number>, sensor = "env") => {
    windows.apply({ device: "d", sensor, ts, values }, ++seq, Number.NEGATIVE_INFINITY)
    Object.assign(latest, values)
    return evaluateReading(rules, states, "d", values, ts, inputs)
  }
}

describe("expr rules", () => {
  it("expr - dry-heat raises after the condition held 2 min, clears only on clearWhen, with its severity", () => {
    const read = device()
    const events = [
      ...read([dryHeat], 0, { temperature: 31 }), // humidity unknown yet: not evaluated
      ...read([dryHeat], 10_000, { humidity: 35 }), // holds from here
      ...read([dryHeat], 60_000, { temperature: 32, humidity: 30 }),
      ...read([dryHeat], 130_000, { temperature: 31, humidity: 30 }), // 120 s held: raised
      ...read([dryHeat], 140_000, { temperature: 29, humidity: 50 }), // `when` false, clearWhen not yet
      ...read([dryHeat], 150_000, { temperature: 27 }) // cleared
    ]
    assert.deepStrictEqual(events.map((e) => [e.state, e.at, e.severity]), [["raised", 130_000, "critical"], ["cleared", 150_000, "critical"]])
    assert.match(events[0]!.message, /temperature > 30 && humidity < 40 for 120000 ms \(temperature=31, humidity=30\)/)
  })

  it("expr - a break in the condition restarts the `for` wait; without clearWhen it clears when `when` is false", () => {
    const read = device()
    const rule: RuleSpec = { kind: "expr", name: "hot", when: compile("temperature > 30"), for: 60_000 }
    const events = [[0, 31], [50_000, 29], [60_000, 31], [100_000, 32], [120_000, 33], [130_000, 30]]
      .flatMap(([ts, t]) => read([rule], ts!, { temperature: t! }))
    assert.deepStrictEqual(events.map((e) => [e.state, e.at, e.severity]), [["raised", 120_000, "warning"], ["cleared", 130_000, "warning"]])
  })

  it("expr - a window statistic is that of the open window holding the reading", () => {
    const read = device()
    const rule: RuleSpec = { kind: "expr", name: "warm-10m", when: compile("mean_10m(temperature) > 30 && count_10m(temperature) >= 3") }
    const events = [
      ...read([rule], 0, { temperature: 40 }), // mean 40, count 1
      ...read([rule], 60_000, { temperature: 20 }), // mean 30
      ...read([rule], 120_000, { temperature: 34 }), // mean 31.33, count 3: raised
      ...read([rule], 600_000, { temperature: 35 }) // a new window: count 1, cleared
    ]
    assert.deepStrictEqual(events.map((e) => [e.state, e.at]), [["raised", 120_000], ["cleared", 600_000]])
    assert.match(events[0]!.message, /mean_10m\(temperature\)=31\.333/)
  })

  it("expr - a reading that names none of the rule's metrics does not evaluate it", () => {
    const read = device()
    const rule: RuleSpec = { kind: "expr", name: "hot", when: compile("temperature > 30") }
    assert.deepStrictEqual(read([rule], 0, { humidity: 10 }), [])
    assert.strictEqual(read([rule], 1_000, { temperature: 31 }).length, 1)
  })

  it("property - `x > k` for d as an expr rule raises and clears exactly as the threshold rule `above: k, for: d`", () => {
    fc.assert(fc.property(
      fc.integer({ min: -5, max: 5 }),
      fc.integer({ min: 0, max: 5_000 }),
      fc.array(fc.tuple(fc.integer({ min: 1, max: 3_000 }), fc.integer({ min: -10, max: 10 })), { minLength: 1, maxLength: 80 }),
      (k, forMs, steps) => {
        const threshold: RuleSpec = { kind: "threshold", name: "r", metric: "x", above: k, for: forMs }
        const expr: RuleSpec = { kind: "expr", name: "r", when: compile(`x > ${k}`), for: forMs }
        const a = device()
        const b = device()
        let ts = 0
        for (const [dt, x] of steps) {
          ts += dt
          const viaThreshold = a([threshold], ts, { x })
          const viaExpr = b([expr], ts, { x })
          assert.deepStrictEqual(viaExpr.map((e) => [e.state, e.at]), viaThreshold.map((e) => [e.state, e.at]))
        }
      }
    ), { numRuns: 300 })
  })
})

describe("expr rules in the device aggregator", () => {
  it.effect("aggregator - an expr rule's latest values survive passivation (checkpoint and restore)", () =>
    Effect.gen(function*() {
      const checkpoints = new Map<string, DeviceSnapshot>()
      const alarms: Array<AlarmEvent> = []
      const devices = yield* makeDeviceAggregators({
        partition: 0,
        windows: [{ name: "1m", size: 60_000 }],
        passivateAfterMs: 60_000,
        rules: [{ kind: "expr", name: "dry-heat", when: compile("temperature > 30 && humidity < 40") }],
        restore: (device) => Effect.sync(() => checkpoints.get(device)),
        emit: () => Effect.void,
        tooLate: () => Effect.void,
        alarm: (events) => Effect.sync(() => void alarms.push(...events))
      })
      const ingest = (seq: number, ts: number, values: Record<string, number>): DeviceMessage => ({
        _tag: "Ingest",
        items: [{ reading: { device: "d", sensor: seq === 1 ? "thermo" : "hygro", ts, values }, seq, watermark: Number.NEGATIVE_INFINITY }]
      })
      yield* devices.tell("d", ingest(1, 1_000, { temperature: 35 }))
      const saved = yield* devices.ask("d", (reply: Deferred.Deferred<DeviceSnapshot>) => ({ _tag: "Snapshot", reply }))
      checkpoints.set("d", structuredClone(saved))
      yield* TestClock.adjust("120 seconds")
      for (let i = 0; i < 10_000 && (yield* devices.size) > 0; i++) yield* Effect.yieldNow
      assert.strictEqual(yield* devices.size, 0, "passivated")
      // The humidity reading alone raises the alarm: the temperature came back from the checkpoint.
      yield* devices.tell("d", ingest(2, 2_000, { humidity: 30 }))
      yield* devices.ask("d", (reply: Deferred.Deferred<DeviceSnapshot>) => ({ _tag: "Snapshot", reply }))
      assert.deepStrictEqual(alarms.map((a) => [a.rule, a.state, a.at]), [["dry-heat", "raised", 2_000]])
    }))
})
