/**
 * Expression rules end to end: a real node, nats-server and InfluxDB 1.x. Readings of a
 * greenhouse go in over NATS; the `dry-heat` rule of docs/alarm-rules.md (temperature and
 * humidity, with `for` and `clearWhen`) and a rule over a window statistic raise and clear
 * their alarms in the ALARMS stream with their severity, and `bramble alarms --all` shows them.
 * An alarm acknowledged with `bramble alarms ack` stays acknowledged across a SIGKILL and
 * restart of the node (the ack is in its own replicated KV bucket, not in partition state),
 * shows in the CLI and the HTTP API, and a new raise of the same rule is unacknowledged again.
 */
import { describe, expect, it } from "@effect/vitest"
import { scopedTempDir, startInfluxDb1 } from "@bramble/deploy"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { join } from "node:path"
import { promisify } from "node:util"
import { BRAMBLE_CLI, startBrambleNode } from "../support/BrambleNode.js"
import { publishNats, readStreamAlarms, type TestReading, waitFor } from "../support/index.js"

const cli = (args: ReadonlyArray<string>) =>
  promisify(execFile)(process.execPath, [BRAMBLE_CLI, ...args])
    .then((r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }))
    .catch((error: { stdout: string; stderr: string; code: number }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }))

const readAlarms = readStreamAlarms

describe("expression rules", () => {
  it.live("expr - dry-heat and a window-mean rule raise and clear their alarms through a real node with their severity; an ack survives a kill -9 and ends with the raise", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-expr-" })
      const db = yield* startInfluxDb1({ dir: join(dir, "influx"), database: "bramble" })
      const node = yield* startBrambleNode({
        dir: join(dir, "node"),
        http: true,
        sink: { kind: "influx-v1", url: db.url, database: "bramble" },
        windows: [{ name: "5s", size: 5_000 }],
        processing: { watermarkDelay: "200ms", allowedLateness: "1s", idleAdvance: "2s", checkpointInterval: "300ms" },
        rules: [
          { kind: "expr", name: "dry-heat", when: "temperature > 30 && humidity < 40", for: "1s", clearWhen: "temperature < 28", severity: "critical", metrics: ["temperature", "humidity"] },
          { kind: "expr", name: "warm-5s", when: "mean_5s(temperature) > 32", metrics: ["temperature"], devices: ["greenhouse"] }
        ]
      })

      // 20 s of event time, 10 minutes ago, aligned to the 5 s window; one reading every 250 ms.
      const base = Math.floor((Date.now() - 600_000) / 5_000) * 5_000
      // 0-4 s mild; 4-12 s hot (33) and dry (30 %); 12-16 s 29 °C (dry-heat stays raised:
      // clearWhen is below 28); 16 s on 27 °C.
      const temperature = (i: number) => i < 16 ? 25 : i < 48 ? 33 : i < 64 ? 29 : 27
      const readings: Array<TestReading> = []
      for (let i = 0; i < 80; i++) {
        readings.push({ device: "greenhouse", sensor: "env", ts: base + i * 250, seq: i, values: { temperature: temperature(i), humidity: i < 16 ? 60 : 30 } })
        // Another device, never hot: neither rule fires for it.
        readings.push({ device: "shed", sensor: "env", ts: base + i * 250 + 1, seq: i, values: { temperature: 20, humidity: 30 } })
        // A cellar hot and dry throughout: its dry-heat alarm stays raised (to acknowledge).
        readings.push({ device: "cellar", sensor: "env", ts: base + i * 250 + 2, seq: i, values: { temperature: 35, humidity: 20 } })
      }
      const sent = yield* Effect.promise(() => publishNats(node.natsUrl, readings))
      expect(sent.failed).toEqual([])

      const alarms = yield* Effect.promise(() =>
        waitFor(() => readAlarms(node.natsUrl), {
          until: (a) => a.filter((x) => x.rule === "dry-heat").length >= 3 && a.filter((x) => x.rule === "warm-5s").length >= 2,
          timeoutMs: 60_000,
          label: "alarms"
        })
      )
      // dry-heat: the condition holds from reading 16 (4 s); raised 1 s later, at reading 20;
      // cleared at the first reading below 28 (reading 64), not when it went false at 48.
      expect(alarms.filter((a) => a.rule === "dry-heat" && a.device === "cellar").map((a) => [a.state, a.at])).toEqual([["raised", base + 4 * 250 + 2]])
      expect(alarms.filter((a) => a.rule === "dry-heat" && a.device !== "cellar").map((a) => [a.device, a.state, a.at, a.severity])).toEqual([
        ["greenhouse", "raised", base + 20 * 250, "critical"],
        ["greenhouse", "cleared", base + 64 * 250, "critical"]
      ])
      // warm-5s: the 5-10 s window's mean is 33 from its first reading (20, at 5 s); the
      // 10-15 s window's mean stays above 32 until its third reading of 29 (reading 50:
      // (8 x 33 + 3 x 29) / 11 = 31.9).
      expect(alarms.filter((a) => a.rule === "warm-5s").map((a) => [a.device, a.state, a.at, a.severity])).toEqual([
        ["greenhouse", "raised", base + 20 * 250, "warning"],
        ["greenhouse", "cleared", base + 50 * 250, "warning"]
      ])

      const shown = yield* Effect.promise(() =>
        promisify(execFile)(process.execPath, [BRAMBLE_CLI, "alarms", "--all", "--server", node.natsUrl])
      )
      expect(shown.stdout).toMatch(/greenhouse\s+dry-heat\s+\S*cleared\S*\s+\S*critical/)

      // `bramble status` counts what is raised and not acknowledged.
      const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "")
      expect(plain((yield* Effect.promise(() => cli(["status", "--server", node.natsUrl]))).stdout)).toContain("Alarms: 1 raised (1 critical), 1 not acknowledged")

      // Acknowledge: a cleared alarm cannot be, a raised one can, with a note.
      const refused = yield* Effect.promise(() => cli(["alarms", "ack", "greenhouse", "dry-heat", "--server", node.natsUrl]))
      expect(refused.code).not.toBe(0)
      expect(refused.stderr + refused.stdout).toMatch(/no raised alarm "dry-heat" on device "greenhouse" \(it was cleared\)/)
      const acked = yield* Effect.promise(() => cli(["alarms", "ack", "cellar", "dry-heat", "--note", "vents opened", "--server", node.natsUrl]))
      expect(acked.code, acked.stderr).toBe(0)
      const ackOf = async () => {
        const listed = await cli(["alarms", "--json", "--server", node.natsUrl])
        if (listed.code !== 0) throw new Error(`bramble alarms exited ${listed.code}: ${listed.stderr}`)
        const reply = JSON.parse(listed.stdout) as { alarms: Array<{ device: string; rule: string; at: number; ack?: { note?: string; raisedAt: number } }> }
        return reply.alarms.find((a) => a.device === "cellar" && a.rule === "dry-heat")
      }
      const before = yield* Effect.promise(ackOf)
      expect(before?.ack?.note).toBe("vents opened")
      expect(before?.ack?.raisedAt).toBe(before?.at)
      expect((yield* Effect.promise(() => cli(["alarms", "--server", node.natsUrl]))).stdout).toMatch(/cellar\s+dry-heat.*acked .*vents opened/)
      expect(plain((yield* Effect.promise(() => cli(["status", "--server", node.natsUrl]))).stdout)).toContain("Alarms: 1 raised (1 critical), 0 not acknowledged")

      // Killed and restarted: the ack is still there, in the CLI and the HTTP API.
      yield* node.process.signal("SIGKILL")
      // `restart` does nothing while the process still runs: wait for the kill to land.
      while ((yield* node.process.pid) !== undefined) yield* Effect.sleep("100 millis")
      yield* node.restart
      const after = yield* Effect.promise(() => waitFor(ackOf, { until: (a) => a !== undefined, timeoutMs: 60_000, label: "alarms after restart" }))
      expect(after?.ack?.note).toBe("vents opened")
      const api = yield* Effect.promise(async () => (await fetch(`${node.httpUrl}/api/v1/alarms`)).json() as Promise<{ alarms: Array<{ device: string; ack?: { note?: string } }> }>)
      expect(api.alarms.find((a) => a.device === "cellar")?.ack?.note).toBe("vents opened")

      // Cleared and raised again: the new raise is not acknowledged.
      const later = base + 30_000
      const again: Array<TestReading> = [
        { device: "cellar", sensor: "env", ts: later, seq: 100, values: { temperature: 20, humidity: 20 } },
        ...Array.from({ length: 6 }, (_, i): TestReading => ({ device: "cellar", sensor: "env", ts: later + 250 * (i + 1), seq: 101 + i, values: { temperature: 35, humidity: 20 } }))
      ]
      expect((yield* Effect.promise(() => publishNats(node.natsUrl, again))).failed).toEqual([])
      const reraised = yield* Effect.promise(() => waitFor(ackOf, { until: (a) => a !== undefined && a.at === later + 250 * 5, timeoutMs: 60_000, label: "the second raise" }))
      expect(reraised?.ack).toBeUndefined()
    })), 240_000)
})
