/**
 * Benchmark: what one node holds at idle (its partitions claimed, no device), RSS from /proc
 * and the V8 heap after full collections. Several fresh nodes in a row, each measured after
 * it settled; prints each and the median.
 *
 *   node --import tsx test/bench/idle.ts [--runs 3] [--settle 15]
 *
 * Also the checkpoint puts per second over the settle time after the first 5 s (what a quiet
 * node writes to its KV bucket, and so to disk, while nothing arrives).
 *
 * `BENCH_NODE_FLAGS` passes V8 flags to the node (e.g. `--max-semi-space-size=1`).
 */
import { freePort, scopedTempDir } from "@bramble/deploy"
import { CHECKPOINT_BUCKET } from "@bramble/nats"
import { jetstreamManager } from "@nats-io/jetstream"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { loadavg } from "node:os"
import { parseArgs } from "node:util"
import { startNodeUnderTest } from "./NodeUnderTest.js"

const { values: args } = parseArgs({
  options: { runs: { type: "string", default: "3" }, settle: { type: "string", default: "15" }, "heap-limit": { type: "string" } }
})
const MiB = 1024 * 1024
const statusOf = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024
/** A figure of /proc/<pid>/smaps_rollup in bytes: Pss (shared pages divided among the processes
 * that map them: what this process really costs when several Node.js processes run) and
 * Pss_Anon (its own memory, not the binary's file-backed pages). */
const rollupOf = (pid: number, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1]) * 1024
const heapOf = async (url: string) => Number(/^nodejs_heap_used_bytes ([0-9.e+]+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1])
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const once = Effect.scoped(Effect.gen(function*() {
  const dir = yield* scopedTempDir({ prefix: "bramble-idle-" })
  const httpPort = yield* freePort
  const node = yield* startNodeUnderTest({
    dir,
    httpPort,
    nodeFlags: ["--expose-gc"],
    ...(args["heap-limit"] === undefined ? {} : { heapLimit: args["heap-limit"] })
  })
  const pid = (yield* node.process.pid)!
  const url = `http://127.0.0.1:${httpPort}`
  // Messages ever stored in the checkpoint bucket (its stream's last sequence): one per put.
  const puts = async () => (await (await jetstreamManager(node.nc)).streams.info(`KV_${CHECKPOINT_BUCKET}`)).state.last_seq
  return yield* Effect.promise(async () => {
    await sleep(5000)
    const putsFrom = await puts()
    const from = Date.now()
    await sleep(Math.max(1, Number(args.settle) - 5) * 1000)
    const checkpointPutsPerSec = (await puts() - putsFrom) / ((Date.now() - from) / 1000)
    const rss = statusOf(pid, "VmRSS")
    const heaps: Array<number> = []
    for (let i = 0; i < 3; i++) {
      process.kill(pid, "SIGUSR2")
      await sleep(500)
      heaps.push(await heapOf(url))
    }
    return {
      rss,
      rssAfterGc: statusOf(pid, "VmRSS"),
      heapAfterGc: Math.min(...heaps),
      rssAnon: statusOf(pid, "RssAnon"),
      rssFile: statusOf(pid, "RssFile"),
      pss: rollupOf(pid, "Pss"),
      pssAnon: rollupOf(pid, "Pss_Anon"),
      checkpointPutsPerSec
    }
  })
}))

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const program = Effect.gen(function*() {
  console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}; BENCH_NODE_FLAGS=${process.env["BENCH_NODE_FLAGS"] ?? ""}`)
  const runs: Array<Effect.Success<typeof once>> = []
  for (let i = 0; i < Number(args.runs); i++) {
    const r = yield* once
    runs.push(r)
    console.log(`run ${i + 1}: RSS ${(r.rss / MiB).toFixed(1)} MB, after GC ${(r.rssAfterGc / MiB).toFixed(1)} MB (anon ${(r.rssAnon / MiB).toFixed(1)}, file ${(r.rssFile / MiB).toFixed(1)}; PSS ${(r.pss / MiB).toFixed(1)}, PSS anon ${(r.pssAnon / MiB).toFixed(1)}), heap after GC ${(r.heapAfterGc / MiB).toFixed(1)} MB, checkpoint puts ${r.checkpointPutsPerSec.toFixed(2)}/s`)
  }
  const m = (k: keyof (typeof runs)[number]) => (median(runs.map((r) => r[k])) / MiB).toFixed(1)
  console.log(`median: RSS idle ${m("rss")} MB, after GC ${m("rssAfterGc")} MB (anon ${m("rssAnon")}, file ${m("rssFile")}), heap after GC ${m("heapAfterGc")} MB, PSS after GC ${m("pss")} MB (anon ${m("pssAnon")}); load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`)
})
Effect.runPromise(program).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
