/**
 * Benchmark: memory of one node with 1k, 10k and 100k active devices, and what a passivated
 * (idle, checkpointed, evicted) device still costs. RSS from /proc, V8 heap from /metrics.
 *
 *   node --import tsx test/bench/memory.ts [--devices 1000,10000,100000] [--heap-limit 768MiB]
 *
 * The node runs with the heap limit of its cluster file (`heapLimit`, default 768 MiB), passed
 * as `NODE_OPTIONS` as on a Pi; `--heap-limit` sets another, `BENCH_NODE_FLAGS` (on the node's
 * command line) overrides it (e.g. `BENCH_NODE_FLAGS=--max-old-space-size=4096` for V8's own
 * limit on a big machine).
 *
 * A figure is taken only once the node has settled, so it measures what the devices cost and
 * not a backlog in flight: every published reading stored in the database, and nothing pending
 * or awaiting acknowledgement on any partition's consumer. "Active" is taken then, while every
 * device's actor is still live (`passivateAfter` is 60 s; the live count is in the result),
 * "passivated" once no actor is live. The heap is the least of several reads, each right
 * after a full collection the node runs on SIGUSR2 (it is started with `--expose-gc`): between
 * collections the node keeps allocating (checkpoints, timers), so a single read is noisy.
 * RSS is read before those collections (what the process holds in normal running) and after.
 */
import { freePort, scopedTempDir } from "@bramble/deploy"
import { Effect } from "effect"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { loadavg } from "node:os"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import { makeReadings, publishNats } from "../support/index.js"
import { startNodeUnderTest } from "./NodeUnderTest.js"

const { values: args } = parseArgs({
  options: {
    devices: { type: "string", default: "1000,10000,100000" },
    "heap-limit": { type: "string" },
    /** Full collections per heap figure. */
    gcs: { type: "string", default: "5" }
  }
})
const counts = args.devices.split(",").map(Number)
const GCS = Math.max(1, Number(args.gcs))
/** Long enough that the first devices are still live when the last reading of 100k is stored. */
const PASSIVATE_AFTER_S = 60

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024
const nodeOptionsOf = (pid: number) =>
  readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").find((v) => v.startsWith("NODE_OPTIONS="))?.slice("NODE_OPTIONS=".length)
const load = () => loadavg().map((l) => Number(l.toFixed(2)))

/**
 * The node's /metrics, as a function from a metric's name to the sum of its samples over all
 * labels (NaN when the node does not export it). One request per poll: each lists every live
 * actor, which is work for a node with 100,000 of them.
 */
const metricsOf = async (url: string): Promise<(name: string) => number> => {
  const text = await (await fetch(`${url}/metrics`)).text()
  return (name) => {
    const samples = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "gm"))]
    return samples.length === 0 ? NaN : samples.reduce((sum, m) => sum + Number(m[1]), 0)
  }
}
const metricOf = async (url: string, name: string): Promise<number> => (await metricsOf(url))(name)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The least V8 heap in use over `GCS` reads, each after a full collection (SIGUSR2). */
const leastHeapAfterGc = async (pid: number, url: string) => {
  const reads: Array<number> = []
  for (let i = 0; i < GCS; i++) {
    process.kill(pid, "SIGUSR2")
    // A full collection of a few hundred MB takes well under a second; the read queues behind it.
    await sleep(i === 0 ? 1000 : 400)
    reads.push(await metricOf(url, "nodejs_heap_used_bytes"))
  }
  return { least: Math.min(...reads), reads }
}

/** One figure: RSS as it is, the heap as it is, then the heap after collections and RSS after. */
const snapshot = async (pid: number, url: string) => {
  const rss = rssOf(pid)
  const metric = await metricsOf(url)
  const heap = metric("nodejs_heap_used_bytes")
  const live = metric("bramble_aggregators_live")
  const gc = await leastHeapAfterGc(pid, url)
  return { rss, heap, heapAfterGc: gc.least, heapAfterGcReads: gc.reads, rssAfterGc: rssOf(pid), live, load: load() }
}

interface Progress {
  readonly stored: number
  readonly pending: number
  readonly ackPending: number
  readonly live: number
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)

const measure = (devices: number) =>
  Effect.scoped(Effect.gen(function*() {
    // BENCH_KEEP=1 keeps the directory (the node's log: a run whose partitions restarted).
    const keep = process.env["BENCH_KEEP"] === "1"
    const dir = yield* scopedTempDir({ prefix: "bramble-memory-", keep })
    if (keep) console.log(`kept: ${dir}`)
    const httpPort = yield* freePort
    const node = yield* startNodeUnderTest({
      dir,
      nodeFlags: ["--expose-gc"],
      httpPort,
      windows: [{ name: "10s", size: "10s" }],
      extra: `processing: { idleAdvance: 1s, watermarkDelay: 500ms, allowedLateness: 1s, passivateAfter: ${PASSIVATE_AFTER_S}s }`,
      ...(args["heap-limit"] === undefined ? {} : { heapLimit: args["heap-limit"] })
    })
    const http = `http://127.0.0.1:${httpPort}`
    const pid = (yield* node.process.pid)!
    const progress = async (): Promise<Progress> => {
      // A busy node may answer with an error instead of its status: -1, asked again next poll.
      const stored = await node.status().then((s) => s.storage?.readingsWritten ?? -1, () => -1)
      const metric = await metricsOf(http).catch(() => () => NaN)
      return { stored, pending: metric("bramble_consumer_pending"), ackPending: metric("bramble_consumer_ack_pending"), live: metric("bramble_aggregators_live") }
    }
    let rssPeak = 0
    /** Polls until `done`, keeping the highest RSS seen; gives up after `limitMs`. */
    const waitUntil = (what: string, done: (p: Progress) => boolean, limitMs: number) =>
      Effect.promise(async () => {
        const start = Date.now()
        let last: Progress | undefined
        let said = 0
        while (Date.now() - start < limitMs) {
          rssPeak = Math.max(rssPeak, rssOf(pid))
          last = await progress()
          if (done(last)) return { ok: true, ms: Date.now() - start, last }
          if (Date.now() - said > 10_000) {
            said = Date.now()
            console.log(`  ${devices} devices, ${what}: stored ${last.stored}, pending ${last.pending}, ack pending ${last.ackPending}, live actors ${last.live}`)
          }
          await sleep(1000)
        }
        console.log(`  ${devices} devices: NOT ${what} after ${limitMs / 1000} s (${JSON.stringify(last)}); the figure below is not settled`)
        return { ok: false, ms: Date.now() - start, last }
      })

    // Baseline: the node has claimed its partitions and checkpointed once with nothing to do.
    yield* waitUntil("idle", (p) => p.pending === 0 && p.ackPending === 0, 60_000)
    yield* Effect.sleep(3000)
    const baseline = yield* Effect.promise(() => snapshot(pid, http))

    const readings = makeReadings({ devices, perDevice: 3, startMs: Date.now() - 120_000, stepMs: 1000 })
    const published = yield* Effect.promise(() => publishNats(node.natsUrl, readings, { window: 4096 }))
    const expected = published.acknowledged.length
    const caughtUp = yield* waitUntil(
      "caught up",
      (p) => p.stored >= expected && p.pending === 0 && p.ackPending === 0,
      15 * 60_000
    )
    const settled = yield* Effect.promise(() => snapshot(pid, http))
    const active = { ...settled, rssPeak: Math.max(rssPeak, settled.rss), catchUpMs: caughtUp.ms, settled: caughtUp.ok }
    if (active.live < devices) console.log(`  ${devices} devices: only ${active.live} actors live when measured (some already passivated)`)

    // Windows close after the idle advance, then the devices are passivated once idle.
    const passivation = yield* waitUntil("passivated", (p) => p.live === 0 && p.pending === 0 && p.ackPending === 0, PASSIVATE_AFTER_S * 1000 + 5 * 60_000)
    yield* Effect.sleep(2000)
    const passivated = { ...(yield* Effect.promise(() => snapshot(pid, http))), settled: passivation.ok }
    return {
      devices,
      readings: expected,
      heapLimit: node.heapLimit,
      /** What the node process really got (a command-line flag in nodeFlags wins over it). */
      nodeOptions: nodeOptionsOf(pid),
      nodeFlags: ["--expose-gc", ...(process.env["BENCH_NODE_FLAGS"]?.split(" ").filter((f) => f !== "") ?? [])],
      baseline,
      active,
      passivated,
      heapPerActiveDevice: (active.heapAfterGc - baseline.heapAfterGc) / devices,
      heapPerPassivatedDevice: (passivated.heapAfterGc - baseline.heapAfterGc) / devices
    }
  }))

const program = Effect.gen(function*() {
  const loadBefore = load()
  console.log(`load average ${loadBefore.join(" ")}`)
  const results = []
  for (const n of counts) results.push(yield* measure(n))
  const loadAfter = load()
  const flags = results[0]?.nodeFlags.join(" ") ?? ""
  console.log(`\nBramble memory, one node (NODE_OPTIONS ${results[0]?.nodeOptions ?? "unset"}; node flags ${flags}; load ${loadBefore.join(" ")} → ${loadAfter.join(" ")})`)
  console.log("RSS: as running / peak while catching up; heap: least in use after a full GC; MB = MiB")
  console.log([
    "devices".padStart(8),
    "RSS base".padStart(9),
    "RSS active".padStart(11),
    "RSS peak".padStart(9),
    "RSS idle".padStart(9),
    "heap base".padStart(10),
    "heap active".padStart(12),
    "heap idle".padStart(10),
    "B/active dev".padStart(13),
    "B/passivated dev".padStart(17),
    "live".padStart(7)
  ].join(" "))
  for (const r of results) {
    console.log([
      String(r.devices).padStart(8),
      mb(r.baseline.rss).padStart(9),
      mb(r.active.rss).padStart(11),
      mb(r.active.rssPeak).padStart(9),
      mb(r.passivated.rss).padStart(9),
      mb(r.baseline.heapAfterGc).padStart(10),
      mb(r.active.heapAfterGc).padStart(12),
      mb(r.passivated.heapAfterGc).padStart(10),
      r.heapPerActiveDevice.toFixed(0).padStart(13),
      r.heapPerPassivatedDevice.toFixed(0).padStart(17),
      String(r.active.live).padStart(7)
    ].join(" ") + (r.active.settled && r.passivated.settled ? "" : "  (not settled)"))
  }
  const out = resolve(import.meta.dirname, "results")
  mkdirSync(out, { recursive: true })
  const file = join(out, `memory-${new Date().toISOString().replace(/[:.]/g, "-")}.json`)
  writeFileSync(file, JSON.stringify({ benchmark: "memory", node: process.version, load: { before: loadBefore, after: loadAfter }, results }, null, 2))
  console.log(`result: ${file}`)
})

Effect.runPromise(program).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
