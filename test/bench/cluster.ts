/**
 * Cluster benchmark: what a bramble of several nodes costs and buys on one machine.
 *
 * - Throughput: a burst of readings published through every server of a 1-node and of a
 *   3-node local bramble (deploy DevCluster: nats-servers in one JetStream cluster with R3
 *   streams, `bramble node` processes, VictoriaMetrics), timed from the first publish until
 *   every partition has processed, stored and checkpointed everything (consumer lag 0,
 *   nothing unacknowledged).
 * - Failover: under a steady load, SIGKILL a node and time until every partition
 *   checkpoints again (the dead node's under their new owners). Floor: the lease TTL (4 s)
 *   plus the expiry check and a claim tick.
 * - Rebalance: a fourth node joins; time from its start until the partitions are owned as
 *   the assignment says (graceful handovers); then SIGTERM it and time the way back.
 *
 * Prints a table and a JSON line (`BENCH_RESULT {...}`), and writes the JSON to
 * test/bench/results/cluster-<time>.json.
 *
 *   npm run build && node --import tsx test/bench/cluster.ts [--readings 60000] [--repeat 2]
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import { assignPartitions, leaseTiming } from "@bramble/cluster"
import { type DevCluster, scopedTempDir, startDevCluster } from "@bramble/deploy"
import { CHECKPOINT_BUCKET, NatsClient } from "@bramble/nats"
import { Admin, Codec } from "@bramble/protocol"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { makeReadings, publishNats, steadyLoad, waitFor } from "../support/index.js"

const { values: args } = parseArgs({
  options: {
    readings: { type: "string", default: "60000" },
    repeat: { type: "string", default: "2" },
    rate: { type: "string", default: "2000" },
    partitions: { type: "string", default: "8" }
  }
})
const READINGS = Number(args.readings)
const REPEAT = Number(args.repeat)
const RATE = Number(args.rate)
const PARTITIONS = Number(args.partitions)
const CLI = process.env["BRAMBLE_CLI_PATH"] ?? resolve(import.meta.dirname, "../../cluster/dist/bin/bramble.js")
const WAIT_MS = 300_000

const say = (line: string) => Effect.sync(() => console.log(`[bench] ${line}`))

const startCluster = (dir: string, nodes: number, spare: boolean) =>
  startDevCluster({
    dir,
    nodes,
    spareNodes: spare ? 1 : 0,
    partitions: PARTITIONS,
    bramble: [process.execPath, CLI],
    sensorsPerNode: 0,
    windows: [{ name: "10s", size: "10s" }, { name: "1m", size: "1m" }],
    processing: { allowedLateness: "5s", idleAdvance: "2s", checkpointInterval: "1s" },
    dashboards: false
  })

const connection = (cluster: DevCluster) =>
  Effect.acquireRelease(
    Effect.promise(() => connect({ servers: [...cluster.natsUrls], name: "bramble-bench", maxReconnectAttempts: -1, reconnectTimeWait: 250 })),
    (nc) => Effect.promise(() => nc.close().catch(() => undefined))
  )

const partitionMap = (nc: NatsConnection) => async () => (await nc.request(Admin.adminClusterSubject(Admin.AdminCalls.partitions.name), undefined, { timeout: 5_000 })).json<Admin.PartitionsReply>()

const waitBalanced = (nc: NatsConnection, members: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    const started = Date.now()
    const target = assignPartitions(members, PARTITIONS)
    await waitFor(partitionMap(nc), {
      until: (m) => m.owners.every((p) => p.owner === target[p.partition] && p.renewedAgoMs !== undefined && p.renewedAgoMs < 4_000),
      timeoutMs: WAIT_MS,
      intervalMs: 100,
      label: `partitions owned as assigned to ${members.join(",")}`
    })
    return Date.now() - started
  })

const waitDrained = (nc: NatsConnection) =>
  Effect.promise(() =>
    waitFor(partitionMap(nc), {
      until: (m) => m.owners.every((p) => p.owner !== null && p.pending === 0 && p.ackPending === 0),
      timeoutMs: WAIT_MS,
      intervalMs: 200,
      label: "every partition drained"
    })
  )

/** `part.<p>` checkpoint writes as they happen: when every partition resumed after a fault. */
const checkpointWatch = (cluster: DevCluster) =>
  Effect.gen(function*() {
    const client = yield* NatsClient.make({ servers: [...cluster.natsUrls], name: "bramble-bench-checkpoints" }).pipe(Effect.orDie)
    const kv = yield* Effect.promise(() => client.kvm.open(CHECKPOINT_BUCKET))
    const writes: Array<{ partition: number; seq: number; node: string | undefined; at: number }> = []
    let stopped = false
    let iterator: Awaited<ReturnType<typeof kv.watch>> | undefined
    let last = 0
    const run = (async () => {
      while (!stopped) {
        try {
          iterator = await kv.watch({ key: "part.>", ...(last > 0 ? { resumeFromRevision: last + 1 } : {}) })
          for await (const e of iterator) {
            if (e.revision <= last) continue
            last = e.revision
            if (e.operation !== "PUT") continue
            const v = Codec.decode(e.value) as { seq: number; owner?: { node: string } }
            writes.push({ partition: Number(e.key.split(".")[1]), seq: v.seq, node: v.owner?.node, at: e.created.getTime() })
          }
        } catch {
          // watch again
        }
        if (!stopped) await new Promise((r) => setTimeout(r, 200))
      }
    })()
    yield* Effect.addFinalizer(() => Effect.promise(async () => {
      stopped = true
      iterator?.stop()
      await run
    }))
    const resumed = (since: number, faulted: string) =>
      Effect.promise(async () => {
        const before = new Map<number, { seq: number; node: string | undefined }>()
        for (const w of writes) if (w.at < since) before.set(w.partition, { seq: Math.max(before.get(w.partition)?.seq ?? 0, w.seq), node: w.node })
        const at = await waitFor(() => {
          let latest = since
          for (let p = 0; p < PARTITIONS; p++) {
            const b = before.get(p)
            const moved = b?.node === faulted
            const first = writes.find((w) => w.partition === p && w.at >= since && w.seq > (b?.seq ?? 0) && (!moved || w.node !== faulted))
            if (first === undefined) return undefined
            latest = Math.max(latest, first.at)
          }
          return latest
        }, { until: (t) => t !== undefined, timeoutMs: WAIT_MS, intervalMs: 50, label: "every partition checkpointing again" })
        return at! - since
      })
    return { resumed }
  })

/** Publishes `READINGS` readings through every server at once; ms until all processed. */
const throughput = (cluster: DevCluster, nc: NatsConnection) =>
  Effect.gen(function*() {
    const servers = cluster.natsUrls
    const perServer = Math.ceil(READINGS / servers.length / 100)
    const started = Date.now()
    const reports = yield* Effect.promise(() =>
      Promise.all(servers.map((url, i) =>
        publishNats(url, makeReadings({ devices: Array.from({ length: 100 }, (_, d) => `b${i}-${d}`), perDevice: perServer, startMs: Date.now() - 3_600_000, stepMs: 1_000, seed: i + 7 }), { window: 2_048 })
      ))
    )
    const published = Date.now() - started
    yield* waitDrained(nc)
    const elapsed = Date.now() - started
    const acked = reports.reduce((a, r) => a + r.acknowledged.length, 0)
    const failed = reports.reduce((a, r) => a + r.failed.length, 0)
    return { readings: acked, failed, publishMs: published, endToEndMs: elapsed, publishedPerSec: Math.round(acked / (published / 1000)), processedPerSec: Math.round(acked / (elapsed / 1000)) }
  })

const program = Effect.gen(function*() {
  const home = yield* scopedTempDir({ prefix: "bramble-bench-cluster-" })
  const result: Record<string, unknown> = { readings: READINGS, partitions: PARTITIONS, rate: RATE }

  // 1. One node.
  const one = yield* Effect.scoped(Effect.gen(function*() {
    const cluster = yield* startCluster(join(home, "one"), 1, false)
    const nc = yield* connection(cluster)
    yield* waitBalanced(nc, ["n1"])
    const t = yield* throughput(cluster, nc)
    yield* say(`1 node: ${t.readings} readings in ${t.endToEndMs} ms end to end (${t.processedPerSec}/s; published at ${t.publishedPerSec}/s)`)
    return t
  }))
  result["oneNode"] = one

  // 2. Three nodes (and a spare).
  const three = yield* Effect.scoped(Effect.gen(function*() {
    const cluster = yield* startCluster(join(home, "three"), 3, true)
    const nc = yield* connection(cluster)
    const all = ["n1", "n2", "n3"]
    yield* waitBalanced(nc, all)
    const t = yield* throughput(cluster, nc)
    yield* say(`3 nodes: ${t.readings} readings in ${t.endToEndMs} ms end to end (${t.processedPerSec}/s; published at ${t.publishedPerSec}/s)`)

    const watch = yield* checkpointWatch(cluster)
    const loads = cluster.natsUrls.map((url, i) => steadyLoad({ url, ratePerSec: RATE / cluster.natsUrls.length, devices: Array.from({ length: 40 }, (_, d) => `l${i}-${d}`), seed: 40 + i }))
    yield* Effect.promise(() => Promise.all(loads.map((l) => l.started)))
    yield* Effect.sleep("5 seconds")

    const failovers: Array<number> = []
    for (let i = 0; i < REPEAT; i++) {
      const victim = all[i % all.length]!
      const at = Date.now()
      yield* cluster.node(victim)!.process.signal("SIGKILL")
      const ms = yield* watch.resumed(at, victim)
      failovers.push(ms)
      yield* say(`SIGKILL ${victim}: every partition processing again after ${ms} ms`)
      yield* waitBalanced(nc, all.filter((n) => n !== victim))
      yield* cluster.node(victim)!.process.start
      yield* waitBalanced(nc, all)
      yield* Effect.sleep("3 seconds")
    }

    const joinStart = Date.now()
    yield* cluster.startNode("n4")
    const ready = Date.now()
    const rebalance = yield* waitBalanced(nc, [...all, "n4"])
    yield* say(`n4 joined: ready after ${ready - joinStart} ms, partitions rebalanced ${rebalance} ms later`)
    yield* Effect.sleep("3 seconds")
    const leaveStart = Date.now()
    yield* cluster.node("n4")!.process.stop
    const exited = Date.now() - leaveStart
    yield* waitBalanced(nc, all)
    const leave = Date.now() - leaveStart
    yield* say(`n4 left (SIGTERM): exited after ${exited} ms, partitions owned again ${leave} ms after SIGTERM`)
    const reports = yield* Effect.promise(() => Promise.all(loads.map((l) => l.stop())))
    return {
      throughput: t,
      failoverMs: failovers,
      joinReadyMs: ready - joinStart,
      rebalanceOnJoinMs: rebalance,
      leaveExitMs: exited,
      rebalanceOnLeaveMs: leave,
      steadyLoadAcked: reports.reduce((a, r) => a + r.acknowledged.length, 0)
    }
  }))
  result["threeNodes"] = three

  const rows = [
    ["1-node throughput (end to end)", `${one.processedPerSec} readings/s`, `${one.readings} readings in ${one.endToEndMs} ms`],
    ["3-node throughput (end to end)", `${three.throughput.processedPerSec} readings/s`, `${three.throughput.readings} readings in ${three.throughput.endToEndMs} ms; ${(three.throughput.processedPerSec / one.processedPerSec).toFixed(2)}x one node`],
    ["failover after SIGKILL", `${Math.max(...three.failoverMs)} ms (max)`, `each: ${three.failoverMs.join(", ")} ms (lease TTL ${leaseTiming().ttlMs / 1000} s)`],
    ["rebalance on join", `${three.rebalanceOnJoinMs} ms`, `after the joiner was ready (${three.joinReadyMs} ms to start)`],
    ["rebalance on leave (SIGTERM)", `${three.rebalanceOnLeaveMs} ms`, `from SIGTERM; the node exited after ${three.leaveExitMs} ms`]
  ]
  const width = rows.reduce((w, r) => Math.max(w, r[0]!.length), 0)
  yield* Effect.sync(() => {
    console.log("")
    for (const [what, value, detail] of rows) console.log(`${what!.padEnd(width)}  ${value!.padStart(18)}  ${detail}`)
    console.log(`\nBENCH_RESULT ${JSON.stringify(result)}`)
    const dir = resolve(import.meta.dirname, "results")
    mkdirSync(dir, { recursive: true })
    const file = join(dir, `cluster-${new Date().toISOString().replace(/[:.]/g, "-")}.json`)
    writeFileSync(file, `${JSON.stringify({ ...result, at: new Date().toISOString(), cpus: cpus().length }, null, 2)}\n`)
    console.log(`written to ${file}`)
  })
}).pipe(Effect.scoped)

await Effect.runPromise(program)
