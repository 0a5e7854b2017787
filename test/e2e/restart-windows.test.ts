/**
 * A device that goes quiet keeps its last windows open until the watermark passes them. If
 * the node restarts meanwhile (or the partition moves), the new worker must still close
 * them: the device is not in memory (no reading of it arrives), only its checkpoint is.
 *
 * The first run never advances the watermark by idleness (idleAdvance 1 h), so the last
 * windows are open when it stops; the second run, with idleAdvance 1 s and nothing new to
 * read, must emit every window the oracle expects.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { expectedWindows, makeReadings, publishNats, readWindowResults } from "../support/index.js"
import { startBrambleNode, waitUntilCheckpointed } from "../support/BrambleNode.js"
import { startVictoriaMetrics } from "@bramble/deploy"
import { PROCESSING, promise, settled, testDir, WINDOWS, withNodeLog } from "../support/SystemTest.js"

describe("windows across a restart", () => {
  it.live("a quiet device's open windows are closed by the next run of its partition", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* testDir("bramble-restart-windows-")
      const vm = yield* startVictoriaMetrics({ dir: join(dir, "db") })
      const db = { kind: "victoria-metrics" as const, url: vm.url }
      const node = yield* startBrambleNode({
        dir: join(dir, "node"),
        sink: { kind: "influx-v2", url: vm.url },
        windows: WINDOWS,
        processing: { ...PROCESSING, idleAdvance: "1h" }
      })
      yield* withNodeLog(node, Effect.gen(function*() {
        const readings = makeReadings({ devices: ["quiet-1", "quiet-2", "quiet-3"], perDevice: 40, startMs: Date.now() - 60_000, stepMs: 250 })
        const published = yield* promise(() => publishNats(node.natsUrl, readings, { window: 256 }))
        assert.strictEqual(published.acknowledged.length, readings.length)
        yield* promise(() => waitUntilCheckpointed(node))
        const expected = expectedWindows(readings, WINDOWS)
        const before = yield* promise(() => readWindowResults(db))
        // The premise: without idle advance the last windows of each device are still open.
        assert.isBelow(before.length, expected.length, "some windows should still be open before the restart")

        yield* node.process.stop
        const config = JSON.parse(readFileSync(node.configFile, "utf8")) as { processing: Record<string, string> }
        config.processing["idleAdvance"] = "1s"
        writeFileSync(node.configFile, JSON.stringify(config, null, 2))
        yield* node.restart

        const stored = yield* settled(node, db, { raw: readings.length, windows: expected.length }, expected)
        assert.strictEqual(stored.windows.length, expected.length)
      }))
    })), { timeout: 300_000 })
})
