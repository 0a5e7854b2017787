/**
 * Notification de-duplication through a real forwarder: a `bramble node` with a webhook
 * target fed from ALARMS, and a device whose temperature flaps across a threshold every 5 s
 * for 50 s. The rule with `notifyEvery: 1m` reaches the receiver twice — its first raise and,
 * once the minute is over, the clear it ended with — while its twin without `notifyEvery`
 * reaches it at every flap; ALARMS keeps every event of both.
 */
import { assert, describe, it } from "@effect/vitest"
import { startVictoriaMetrics } from "@bramble/deploy"
import { Effect } from "effect"
import { join } from "node:path"
import { publishNats, readStreamAlarms, type TestReading, waitFor } from "../support/index.js"
import { promise, testDir, WAIT_MS, withNodeLog } from "../support/SystemTest.js"
import { forwarderStatus, makeWebhookReceiver, startForwardingNode } from "./forward-harness.js"

const readAlarms = readStreamAlarms

describe("forward - notification de-duplication", () => {
  it.live("notifyEvery - a flapping alarm reaches a webhook once per interval and ends with its true state; without it, at every flap", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* testDir("bramble-fwd-dedup-")
      const vm = yield* startVictoriaMetrics({ dir: join(dir, "vm") })
      const hook = yield* makeWebhookReceiver({})
      yield* hook.receiver.listen
      const node = yield* startForwardingNode({
        dir: join(dir, "node"),
        sinkUrl: vm.url,
        env: {},
        forward: [{ kind: "webhook", name: "alarm-hook", url: hook.receiver.url, source: "alarms", startFrom: "all", batchSize: 20 }],
        rules: [
          { kind: "threshold", name: "hot", metric: "temperature", above: 30, notifyEvery: "1m" },
          { kind: "threshold", name: "hot-every", metric: "temperature", above: 30 }
        ]
      })
      yield* withNodeLog(
        node,
        Effect.gen(function*() {
          // Ten readings 5 s apart, 10 minutes ago: 31, 29, 31, … 29 (five raises, five clears).
          const base = Math.floor((Date.now() - 600_000) / 60_000) * 60_000
          const readings: Array<TestReading> = Array.from({ length: 10 }, (_, i) => ({
            device: "flappy",
            sensor: "env",
            ts: base + i * 5_000,
            seq: i,
            values: { temperature: i % 2 === 0 ? 31 : 29 }
          }))
          const report = yield* promise(() => publishNats(node.natsUrl, readings))
          assert.deepStrictEqual(report.failed, [])

          // The partition's watermark moves on while it is idle: a minute after the first raise,
          // the clear held back is due.
          const told = (rule: string) => hook.accepted.filter((i) => i.data["rule"] === rule).map((i) => [i.data["state"], i.data["at"]])
          yield* promise(() =>
            waitFor(() => hook.accepted.length, { until: () => told("hot").length >= 2 && told("hot-every").length >= 10, timeoutMs: WAIT_MS, label: "alarm notifications" })
          )
          assert.deepStrictEqual(told("hot"), [["raised", base], ["cleared", base + 60_000]])
          assert.deepStrictEqual(
            told("hot-every"),
            readings.map((r, i) => [i % 2 === 0 ? "raised" : "cleared", r.ts])
          )

          // ALARMS has every change of both (for `bramble alarms`, MQTT, actuators), the held-back ones marked.
          const stored = yield* promise(() => readAlarms(node.natsUrl))
          const hot = stored.filter((a) => a.rule === "hot")
          assert.deepStrictEqual(hot.map((a) => [a.state, a.at, a.notify !== false]), [
            ...readings.map((r, i) => [i % 2 === 0 ? "raised" : "cleared", r.ts, i === 0]),
            ["cleared", base + 60_000, true]
          ])
          const status = yield* promise(() => forwarderStatus(node))
          assert.strictEqual(status.find((f) => f.name === "alarm-hook")?.heldBack, 9)
        })
      )
    })), { timeout: 300_000 })
})
