/**
 * Rules that change while a device runs (docs/live-config.md): the rule set comes with each
 * Ingest and Advance; an unchanged rule keeps its state, a removed one clears its raised
 * alarm with `cleared: rule removed`, a changed one clears and starts fresh, and a device
 * restored from a checkpoint knows which definition its rule state was built under.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Reading } from "@bramble/protocol"
import { Deferred, Effect } from "effect"
import { type AlarmEvent, type DeviceMessage, type DevicePeek, type DeviceSnapshot, makeDeviceAggregators, type RuleSet, type RuleSpec } from "@bramble/actor-aggregator"

const reading = (ts: number, t: number): Reading => ({ device: "dev-1", sensor: "env", ts, values: { t } })
const ingest = (rules: RuleSet | undefined, items: ReadonlyArray<readonly [seq: number, ts: number, t: number]>): DeviceMessage => ({
  _tag: "Ingest",
  items: items.map(([seq, ts, t]) => ({ reading: reading(ts, t), seq, watermark: Number.NEGATIVE_INFINITY })),
  ...(rules === undefined ? {} : { rules })
})

const hot: RuleSpec = { kind: "threshold", name: "hot", metric: "t", above: 30 }
const cold: RuleSpec = { kind: "threshold", name: "cold", metric: "t", below: 0 }

const setup = (initial: ReadonlyArray<RuleSpec> | undefined, checkpoints = new Map<string, DeviceSnapshot>()) =>
  Effect.gen(function*() {
    const alarms: Array<AlarmEvent> = []
    const devices = yield* makeDeviceAggregators({
      partition: 0,
      windows: [{ name: "10s", size: 10_000 }],
      passivateAfterMs: 60_000,
      ...(initial === undefined ? {} : { rules: initial }),
      restore: (device) => Effect.sync(() => checkpoints.get(device)),
      emit: () => Effect.void,
      tooLate: () => Effect.void,
      alarm: (events) => Effect.sync(() => alarms.push(...events))
    })
    const peek = devices.ask("dev-1", (reply: Deferred.Deferred<DevicePeek>) => ({ _tag: "Peek", reply }))
    const snapshot = devices.ask("dev-1", (reply: Deferred.Deferred<DeviceSnapshot>) => ({ _tag: "Snapshot", reply }))
    return { devices, alarms, peek, snapshot }
  })

const brief = (alarms: ReadonlyArray<AlarmEvent>) => alarms.map((a) => `${a.rule} ${a.state} ${a.at} ${a.message}`)

describe("rule switch-over", () => {
  it.effect("switch - a rule added live raises from its first reading; removed, it clears with `rule removed`", () =>
    Effect.gen(function*() {
      const { devices, alarms, peek } = yield* setup(undefined)
      const v1: RuleSet = { version: 1, rules: [] }
      const v2: RuleSet = { version: 2, rules: [hot] }
      const v3: RuleSet = { version: 3, rules: [] }
      yield* devices.tell("dev-1", ingest(v1, [[1, 1_000, 40]]))
      yield* devices.tell("dev-1", ingest(v2, [[2, 2_000, 41]]))
      assert.deepStrictEqual((yield* peek).activeAlarms, ["hot"])
      yield* devices.tell("dev-1", ingest(v3, [[3, 3_000, 42]]))
      assert.deepStrictEqual((yield* peek).activeAlarms, [])
      assert.deepStrictEqual(brief(alarms), ["hot raised 2000 t 41 above 30", "hot cleared 3000 cleared: rule removed in version 3"])
    }))

  it.effect("switch - an unchanged rule keeps its raised alarm across versions; a changed one clears and starts fresh", () =>
    Effect.gen(function*() {
      const { devices, alarms, peek } = yield* setup([hot])
      yield* devices.tell("dev-1", ingest({ version: 1, rules: [hot] }, [[1, 1_000, 40]]))
      // Version 2 adds `cold`, keeps `hot` as it was: no event, still raised.
      yield* devices.tell("dev-1", ingest({ version: 2, rules: [hot, cold] }, [[2, 2_000, 40]]))
      assert.deepStrictEqual((yield* peek).activeAlarms, ["hot"])
      assert.strictEqual(alarms.length, 1)
      // Version 3 changes `hot`'s threshold: cleared as changed, then raised afresh under the new one.
      yield* devices.tell("dev-1", ingest({ version: 3, rules: [{ ...hot, above: 35 }, cold] }, [[3, 3_000, 40]]))
      assert.deepStrictEqual((yield* peek).activeAlarms, ["hot"])
      assert.deepStrictEqual(brief(alarms), [
        "hot raised 1000 t 40 above 30",
        "hot cleared 3000 cleared: rule changed in version 3",
        "hot raised 3000 t 40 above 35"
      ])
    }))

  it.effect("switch - a device restored from its checkpoint compares with the definitions its state was built under", () =>
    Effect.gen(function*() {
      const checkpoints = new Map<string, DeviceSnapshot>()
      const first = yield* setup([hot], checkpoints)
      yield* first.devices.tell("dev-1", ingest({ version: 1, rules: [hot] }, [[1, 1_000, 40]]))
      checkpoints.set("dev-1", structuredClone(yield* first.snapshot))
      // A new worker (restart, move) whose node started with version 2's rules: `hot` changed.
      const second = yield* setup([{ ...hot, above: 45 }], checkpoints)
      yield* second.devices.tell("dev-1", ingest({ version: 2, rules: [{ ...hot, above: 45 }] }, [[2, 2_000, 40]]))
      assert.deepStrictEqual((yield* second.peek).activeAlarms, [])
      assert.deepStrictEqual(brief(second.alarms), ["hot cleared 2000 cleared: rule changed in version 2"])
    }))

  it.effect("switch - a stale rule removed while the device is silent clears at the next watermark advance", () =>
    Effect.gen(function*() {
      const stale: RuleSpec = { kind: "stale", name: "quiet", after: 5_000 }
      const { devices, alarms } = yield* setup([stale])
      yield* devices.tell("dev-1", ingest({ version: 1, rules: [stale] }, [[1, 1_000, 20]]))
      const advance = (watermark: number, rules: RuleSet) =>
        devices.ask("dev-1", (reply: Deferred.Deferred<{ nextEnd: number; changed: boolean }>) => ({ _tag: "Advance", watermark, reply, rules }))
      yield* advance(7_000, { version: 1, rules: [stale] })
      yield* advance(8_000, { version: 2, rules: [] })
      assert.deepStrictEqual(alarms.map((a) => [a.rule, a.state, a.at]), [["quiet", "raised", 6_000], ["quiet", "cleared", 8_000]])
      assert.include(alarms[1]!.message, "rule removed")
    }))
})
