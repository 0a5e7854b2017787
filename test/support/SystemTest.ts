/**
 * What the system tests share: the small windows and fast checkpoints that let windows close
 * soon after publishing stops, the wait budget of a busy 2-core machine, and `settled`, which
 * waits until a node has made durable and acknowledged everything before the database is
 * read, so a check never races the pipeline.
 */
import { scopedTempDir, startVictoriaMetrics } from "@bramble/deploy"
import { Effect } from "effect"
import { join } from "node:path"
import { type Db, readRawPoints, readWindowResults, waitFor } from "./Db.js"
import { compareWindows } from "./Oracle.js"
import type { WindowRow } from "./Points.js"
import { type BrambleNode, requestAdmin, startBrambleNode, waitUntilCheckpointed } from "./BrambleNode.js"

/** Small windows and a fast checkpoint, so windows close soon after publishing stops. */
export const WINDOWS = [{ name: "1s", size: 1_000 }, { name: "5s", size: 5_000 }] as const

export const PROCESSING = { allowedLateness: "1s", idleAdvance: "1s", checkpointInterval: "500ms" } as const

/** Long enough for a busy 2-core machine; nothing here is a timing assertion. */
export const WAIT_MS = 120_000

/** A scratch directory for one test, removed afterwards unless BRAMBLE_KEEP_TEST_DIRS=1 (to read the logs). */
export const testDir = (prefix: string) => scopedTempDir({ prefix, keep: process.env["BRAMBLE_KEEP_TEST_DIRS"] === "1" })

export const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** The setup every single-node system test shares: a temp dir, one victoria-metrics, and a
 * `bramble node` writing to it with the standard windows and processing settings. */
export const startNodeOnVictoria = (prefix: string) =>
  Effect.gen(function*() {
    const dir = yield* testDir(prefix)
    const vm = yield* startVictoriaMetrics({ dir: join(dir, "db") })
    const db: Db = { kind: "victoria-metrics", url: vm.url }
    const node = yield* startBrambleNode({ dir: join(dir, "node"), sink: { kind: "influx-v2", url: vm.url }, windows: WINDOWS, processing: PROCESSING })
    return { dir, vm, db, node }
  })

/** Wraps a check so a failure carries the node's status and the end of its log. */
export const withNodeLog = <A, E, R>(node: BrambleNode, effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.tapCause(() =>
      Effect.gen(function*() {
        const status = yield* Effect.promise(() => node.status(2_000).then((s) => JSON.stringify(s), (error: unknown) => `no answer: ${String(error)}`))
        // Busy actors (non-empty mailboxes) point at where a stalled pipeline is stuck.
        const actors = yield* Effect.promise(() =>
          requestAdmin(node.natsUrl, node.name, "actors", 2_000).then(
            (reply) => {
              const list = (reply as { actors?: Array<{ mailboxSize?: number }> }).actors ?? []
              return JSON.stringify(list.filter((a) => (a.mailboxSize ?? 0) > 0))
            },
            (error: unknown) => `no answer: ${String(error)}`
          )
        )
        const tail = yield* node.logTail
        yield* Effect.sync(() =>
          console.error(`--- status of node ${node.name}: ${status}\n--- actors with queued messages: ${actors}\n--- last lines of ${node.logFile}:\n${tail}`)
        )
      })
    )
  )

/**
 * Waits until `db` holds at least `count` raw points and `windows` window rows, then until
 * the node has checkpointed (and acknowledged) everything the READINGS stream holds, and
 * returns what the database holds after that: nothing is still in flight when it is read.
 */
export const settled = (
  node: BrambleNode,
  db: Db,
  counts: { readonly raw: number; readonly windows: number },
  expected?: ReadonlyArray<WindowRow>
) =>
  Effect.gen(function*() {
    yield* promise(() =>
      waitFor(() => readRawPoints(db), {
        until: (points) => points.length >= counts.raw,
        timeoutMs: WAIT_MS,
        intervalMs: 500,
        show: (points) => `${points.length} raw points`,
        label: `${counts.raw} raw points in ${db.kind}`
      })
    )
    yield* promise(() =>
      waitFor(() => readWindowResults(db), {
        until: (rows) => rows.length >= counts.windows,
        timeoutMs: WAIT_MS,
        intervalMs: 500,
        // On a timeout, say which windows are missing rather than only how many.
        show: (rows) => expected === undefined ? `${rows.length} window rows` : compareWindows(expected, rows).text,
        label: `${counts.windows} window rows in ${db.kind}`
      })
    )
    yield* promise(() => waitUntilCheckpointed(node, WAIT_MS))
    return {
      raw: yield* promise(() => readRawPoints(db)),
      windows: yield* promise(() => readWindowResults(db))
    }
  })
