/**
 * Benchmark: memory of one node with 1k, 10k and 100k active devices, and what a passivated
 * (idle, checkpointed, evicted) device still costs. RSS from /proc, V8 heap from /metrics.
 *
 *   node --import tsx test/bench/memory.ts [--devices 1000,10000,100000]
 */
import { freePort, scopedTempDir } from "@bramble/deploy"
import { Effect } from "effect"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import { makeReadings, publishNats } from "../support/index.js"
import { startNodeUnderTest } from "./NodeUnderTest.js"

const { values: args } = parseArgs({ options: { devices: { type: "string", default: "1000,10000,100000" } } })
const counts = args.devices.split(",").map(Number)

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024
const heapOf = async (url: string) => {
  const text = await (await fetch(`${url}/metrics`)).text()
  return Number(/^nodejs_heap_used_bytes(?:\{[^}]*\})? ([0-9.e+]+)/m.exec(text)?.[1] ?? NaN)
}
/**
 * The node's heap after a full garbage collection: the node runs with `--expose-gc`, which
 * makes it collect on SIGUSR2 (cluster/src/cli/NodeCommand.ts); the heap is then read from
 * /metrics.
 */
const heapAfterGc = async (pid: number, url: string) => {
  process.kill(pid, "SIGUSR2")
  await new Promise((r) => setTimeout(r, 1000))
  return heapOf(url)
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)

const measure = (devices: number) =>
  Effect.scoped(Effect.gen(function*() {
    const dir = yield* scopedTempDir({ prefix: "bramble-memory-" })
    const httpPort = yield* freePort
    const node = yield* startNodeUnderTest({
      dir,
      nodeFlags: ["--expose-gc"],
      httpPort,
      windows: [{ name: "10s", size: "10s" }],
      extra: "processing: { idleAdvance: 1s, watermarkDelay: 500ms, allowedLateness: 1s, passivateAfter: 15s }"
    })
    const http = `http://127.0.0.1:${httpPort}`
    const pid = (yield* node.process.pid)!
    yield* Effect.sleep(2000)
    const baseline = { rss: rssOf(pid), heap: yield* Effect.promise(() => heapOf(http)), heapAfterGc: yield* Effect.promise(() => heapAfterGc(pid, http)) }
    const readings = makeReadings({ devices, perDevice: 3, startMs: Date.now() - 120_000, stepMs: 1000 })
    const published = yield* Effect.promise(() => publishNats(node.natsUrl, readings, { window: 4096 }))
    while ((yield* Effect.promise(() => node.status())).storage.readingsWritten < published.acknowledged.length) yield* Effect.sleep(200)
    const active = { rss: rssOf(pid), heap: yield* Effect.promise(() => heapOf(http)), heapAfterGc: yield* Effect.promise(() => heapAfterGc(pid, http)) }
    // Windows close after the idle advance, then the devices are passivated after 15 s idle.
    yield* Effect.sleep(30_000)
    const passivated = { rss: rssOf(pid), heap: yield* Effect.promise(() => heapOf(http)), heapAfterGc: yield* Effect.promise(() => heapAfterGc(pid, http)) }
    return {
      devices,
      baseline,
      active,
      passivated,
      heapPerActiveDevice: (active.heapAfterGc - baseline.heapAfterGc) / devices,
      heapPerPassivatedDevice: (passivated.heapAfterGc - baseline.heapAfterGc) / devices
    }
  }))

const program = Effect.gen(function*() {
  const results = []
  for (const n of counts) results.push(yield* measure(n))
  console.log("\nBramble memory, one node (RSS includes the V8 heap; bytes per device from the heap after a full GC)")
  console.log(`${"devices".padStart(8)} ${"RSS base".padStart(9)} ${"RSS active".padStart(11)} ${"RSS idle".padStart(9)} ${"heap active".padStart(12)} ${"B/active dev".padStart(13)} ${"B/passivated dev".padStart(17)}`)
  for (const r of results) {
    console.log(`${String(r.devices).padStart(8)} ${mb(r.baseline.rss).padStart(9)} ${mb(r.active.rss).padStart(11)} ${mb(r.passivated.rss).padStart(9)} ${mb(r.active.heap).padStart(12)} ${r.heapPerActiveDevice.toFixed(0).padStart(13)} ${r.heapPerPassivatedDevice.toFixed(0).padStart(17)}`)
  }
  const out = resolve(import.meta.dirname, "results")
  mkdirSync(out, { recursive: true })
  const file = join(out, `memory-${new Date().toISOString().replace(/[:.]/g, "-")}.json`)
  writeFileSync(file, JSON.stringify({ benchmark: "memory", results }, null, 2))
  console.log(`result: ${file} (MB = MiB)`)
})

Effect.runPromise(program).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
