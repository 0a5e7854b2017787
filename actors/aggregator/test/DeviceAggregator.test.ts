import { assert, describe, it } from "@effect/vitest"
import type { Reading, WindowResult } from "@bramble/protocol"
import { Deferred, Effect } from "effect"
import { TestClock } from "effect/testing"
import {
  type DeviceMessage,
  type DevicePeek,
  type DeviceSnapshot,
  type Forecast,
  makeDeviceAggregators
} from "@bramble/actor-aggregator"
import { yieldUntil } from "../../../test/support/Eventually.js"

const reading = (ts: number, t: number): Reading => ({ device: "dev-1", sensor: "env", ts, values: { t } })
const ingest = (items: ReadonlyArray<readonly [seq: number, ts: number, t: number]>): DeviceMessage => ({
  _tag: "Ingest",
  items: items.map(([seq, ts, t]) => ({ reading: reading(ts, t), seq, watermark: Number.NEGATIVE_INFINITY }))
})

describe("DeviceAggregator", () => {
  it.effect("aggregator - a passivated device comes back from its checkpoint: replayed readings are skipped, rule and forecast state continue", () =>
    Effect.gen(function*() {
      const checkpoints = new Map<string, DeviceSnapshot>()
      const emitted: Array<WindowResult> = []
      const forecasts: Array<Forecast> = []
      const devices = yield* makeDeviceAggregators({
        partition: 0,
        windows: [{ name: "10s", size: 10_000 }],
        passivateAfterMs: 60_000,
        rules: [{ kind: "threshold", name: "hot", metric: "t", above: 30 }],
        restore: (device) => Effect.sync(() => checkpoints.get(device)),
        emit: (results) => Effect.sync(() => emitted.push(...results)),
        tooLate: () => Effect.void,
        alarm: () => Effect.void,
        forecast: (fs) => Effect.sync(() => forecasts.push(...fs))
      })
      const advance = (watermark: number) =>
        devices.ask("dev-1", (reply: Deferred.Deferred<{ nextEnd: number; changed: boolean }>) => ({ _tag: "Advance", watermark, reply }))
      const peek = devices.ask("dev-1", (reply: Deferred.Deferred<DevicePeek>) => ({ _tag: "Peek", reply }))
      const snapshot = devices.ask("dev-1", (reply: Deferred.Deferred<DeviceSnapshot>) => ({ _tag: "Snapshot", reply }))

      yield* devices.tell("dev-1", ingest([[1, 1_000, 20], [2, 2_000, 40]]))
      assert.deepStrictEqual(yield* advance(10_000), { nextEnd: Number.POSITIVE_INFINITY, changed: true })
      assert.deepStrictEqual(emitted.map((r) => [r.start, r.count, r.mean]), [[0, 2, 30]])
      assert.deepStrictEqual(forecasts.map((f) => [f.start, f.mean, f.basedOn]), [[10_000, 30, 1]])
      const before = yield* peek
      assert.deepStrictEqual(before.activeAlarms, ["hot"])
      assert.deepStrictEqual(before.forecasts, forecasts)
      assert.strictEqual(before.lastReading?.ts, 2_000)

      const saved = yield* snapshot
      assert.strictEqual(saved.seq, 2)
      assert.deepStrictEqual(saved.windows, [])
      checkpoints.set("dev-1", structuredClone(saved))

      yield* TestClock.adjust("60 seconds")
      yield* yieldUntil("every device passivated", () => Effect.map(devices.size, (n) => n === 0))

      // The log is replayed from before the checkpoint: seq 1 and 2 are already in it.
      yield* devices.tell("dev-1", ingest([[1, 1_000, 20], [2, 2_000, 40], [3, 12_000, 50]]))
      yield* advance(20_000)
      assert.deepStrictEqual(emitted.map((r) => [r.start, r.count, r.mean]), [[0, 2, 30], [10_000, 1, 50]])
      // Holt's state came back: the second forecast is based on two windows.
      assert.deepStrictEqual(forecasts.map((f) => [f.start, f.basedOn]), [[10_000, 1], [20_000, 2]])
      const after = yield* peek
      assert.strictEqual(after.seq, 3)
      assert.deepStrictEqual(after.activeAlarms, ["hot"], "the raised alarm survived passivation")
      assert.deepStrictEqual(after.forecasts.map((f) => f.start), [20_000])
    }))

  it.effect("aggregator - a device without rules or closed windows checkpoints empty rule and forecast state", () =>
    Effect.gen(function*() {
      const devices = yield* makeDeviceAggregators({
        partition: 0,
        windows: [{ name: "10s", size: 10_000 }],
        passivateAfterMs: 60_000,
        restore: () => Effect.succeed(undefined),
        emit: () => Effect.void,
        tooLate: () => Effect.void
      })
      yield* devices.tell("dev-1", ingest([[7, 1_000, 20]]))
      const saved = yield* devices.ask("dev-1", (reply: Deferred.Deferred<DeviceSnapshot>) => ({ _tag: "Snapshot", reply }))
      assert.deepStrictEqual(saved, {
        seq: 7,
        windows: [["env", "t", "10s", 0, 10_000, {
          count: 1,
          sum: 20,
          wMean: 20,
          m2: 0,
          min: 20,
          max: 20,
          first: 20,
          firstTs: 1_000,
          last: 20,
          lastTs: 1_000
        }, false]],
        // The event times counted, for recognising duplicates after a restore.
        seen: [["env", [1_000], ["t"]]],
        rules: {},
        holt: {}
      } as DeviceSnapshot)
      const peek = yield* devices.ask("dev-1", (reply: Deferred.Deferred<DevicePeek>) => ({ _tag: "Peek", reply }))
      assert.deepStrictEqual(peek.activeAlarms, [])
      assert.deepStrictEqual(peek.forecasts, [])
    }))
})
