/**
 * The end-of-fault check shared by the fault tests, after Jepsen's lost/duplicated checker:
 * once the node has drained and acknowledged everything, every acknowledged reading is
 * stored exactly once, everything the READINGS log holds is stored exactly once, and the
 * windows equal the oracle's computed from the log itself (its order is the order the
 * node processed, which decides sums and ties).
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import {
  checkExactlyOnce,
  compareWindows,
  type Db,
  expectedWindows,
  type PublishReport,
  type RawPoint,
  readStreamReadings,
  type StreamReading
} from "../support/index.js"
import { type BrambleNode, waitUntilCheckpointed } from "../support/BrambleNode.js"
import { promise, settled, WAIT_MS, WINDOWS } from "../support/SystemTest.js"

const asRaw = (m: StreamReading): RawPoint => ({ device: m.device, sensor: m.sensor, ts: m.ts, values: m.values })

/** Runs the checks; returns a one-line summary for the test output. */
export const checkNothingLost = (node: BrambleNode, db: Db, report: PublishReport) =>
  Effect.gen(function*() {
    yield* promise(() => waitUntilCheckpointed(node, WAIT_MS))
    const log = yield* promise(() => readStreamReadings(node.natsUrl, "READINGS", { timeoutMs: WAIT_MS }))
    // The load is all that was published: every message in the log is one of its readings.
    const strays = log.filter((m) => !Number.isFinite(m.ts) || Object.keys(m.values).length === 0)
    assert.deepStrictEqual(strays.slice(0, 5).map((m) => `${m.subject} ${JSON.stringify(m.payload)}`), [], "READINGS holds messages the load did not publish")
    const logged = log.map(asRaw)
    const expected = expectedWindows(logged, WINDOWS)
    const stored = yield* settled(node, db, { raw: Math.max(logged.length, report.acknowledged.length), windows: expected.length }, expected)

    const acked = checkExactlyOnce(report.acknowledged, stored.raw, { attempted: report.attempted })
    assert.isTrue(acked.ok, `acknowledged readings vs. database: ${acked.text}`)
    const fromLog = checkExactlyOnce(logged, stored.raw)
    assert.isTrue(fromLog.ok, `READINGS log vs. database: ${fromLog.text}`)
    const diff = compareWindows(expected, stored.windows)
    assert.isTrue(diff.ok, diff.text)

    const status = yield* promise(() => node.status())
    assert.strictEqual(status.totals.rejected, 0, JSON.stringify(status.totals))
    assert.strictEqual(status.totals.tooLate, 0, JSON.stringify(status.totals))
    return `${report.attempted.length} attempted, ${report.acknowledged.length} acknowledged, ${report.failed.length} failed ` +
      `(${acked.recovered.length} of those stored anyway); log ${logged.length}, stored ${stored.raw.length} raw points, ` +
      `${stored.windows.length} window rows; ${diff.text}`
  })
