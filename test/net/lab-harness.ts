/**
 * What the multi-host tests share: three lab hosts (network namespaces on a bridge), each a
 * Pi running its rendered `bramble-node.service`, the database on the lab's gateway, and the
 * fault-test tools of ../faults/cluster-harness.ts over them (ownership logs, checkpoint
 * watch, lost/duplicated checker, window oracle).
 */
import { join } from "node:path"
import { Effect } from "effect"
import { faultClusterOn, log, PROCESSING, type RunningLoad, WAIT_MS, WINDOWS } from "../faults/cluster-harness.js"
import { makeReadings, publishMqtt, publishNats, readRawPoints, steadyLoad, type TestReading, waitFor } from "../support/index.js"
import { makeNetworkLab } from "../support/net/NetworkLab.js"
import { startPiCluster } from "../support/net/PiCluster.js"

export const NODES = ["n1", "n2", "n3"] as const

/** Boot nothing yet: the test decides who starts when. */
export const startLab = (options: { readonly dir: string; readonly partitions?: number }) =>
  Effect.gen(function*() {
    const partitions = options.partitions ?? 6
    const lab = yield* makeNetworkLab({ hosts: NODES })
    const pis = yield* startPiCluster({
      lab,
      dir: options.dir,
      partitions,
      windows: WINDOWS,
      processing: PROCESSING,
      nodeArgs: (node) => ["--ownership-log", join(options.dir, "ownership", `${node}.jsonl`)]
    })
    yield* log(`lab network: gateway ${lab.gateway}, ${lab.hosts.map((h) => `${h.name} ${h.ip}`).join(", ")}; database ${pis.db.url}`)
    return {
      lab,
      pis,
      /** The fault-test tools; connects once a node's server is up (call after a powerOn). */
      attach: () => faultClusterOn(pis, { dir: options.dir, partitions })
    }
  })

export type Lab = Pick<Effect.Success<ReturnType<typeof startLab>>, "lab" | "pis">

let batch = 0

/**
 * Readings flow: a batch published over NATS (JetStream PubAck) through `via`, and, when
 * `mqtt` is given, one over MQTT QoS 1 to that node's broker, all of which reach the database.
 */
export const readingsFlow = (lab: Lab, label: string, via: ReadonlyArray<string>, mqtt?: string) =>
  Effect.gen(function*() {
    const started = Date.now()
    const n = ++batch
    const fresh = (transport: string): Array<TestReading> =>
      makeReadings({ devices: [`flow-${transport}-${n}-a`, `flow-${transport}-${n}-b`], perDevice: 10, startMs: Date.now() - 60_000, stepMs: 100, seqStart: n * 1_000 })
    const urls = lab.pis.nodes.filter((node) => via.includes(node.name)).map((node) => node.natsUrl)
    const viaNats = fresh("nats")
    const nats = yield* Effect.promise(() => publishNats(urls, viaNats, { timeoutMs: 30_000 }))
    const expected = [...nats.acknowledged]
    if (nats.acknowledged.length !== viaNats.length) {
      return yield* Effect.die(new Error(`${label}: ${viaNats.length - nats.acknowledged.length} NATS publishes not acknowledged: ${nats.failed.slice(0, 3).map((f) => f.error).join("; ")}`))
    }
    if (mqtt !== undefined) {
      const viaMqtt = fresh("mqtt")
      const node = lab.pis.nodes.find((x) => x.name === mqtt)!
      const report = yield* Effect.promise(() => publishMqtt(node.mqttUrl, viaMqtt, { qos: 1, timeoutMs: 30_000 }))
      if (report.acknowledged.length !== viaMqtt.length) {
        return yield* Effect.die(new Error(`${label}: ${viaMqtt.length - report.acknowledged.length} MQTT publishes to ${mqtt} not PUBACKed: ${report.failed.slice(0, 3).map((f) => f.error).join("; ")}`))
      }
      expected.push(...report.acknowledged)
    }
    const key = (r: { device: string; ts: number }) => `${r.device}@${r.ts}`
    const want = new Set(expected.map(key))
    yield* Effect.promise(() =>
      waitFor(async () => (await readRawPoints({ kind: "victoria-metrics", url: lab.pis.db.url })).filter((p) => want.has(key(p))).length, {
        until: (count) => count === want.size,
        timeoutMs: WAIT_MS,
        intervalMs: 500,
        show: (count) => `${count}/${want.size}`,
        label: `readings published ${label} stored`
      })
    )
    yield* log(`${label}: ${want.size} readings published${mqtt === undefined ? "" : ` (half over MQTT to ${mqtt})`} and stored within ${Date.now() - started} ms`)
  })

/**
 * An MQTT QoS 1 steady load with per-device seq, on each of `nodes`' brokers; with `roaming`,
 * one more publisher that lists every broker, `roaming[0]` first, set up as the docs tell
 * users to (test/support/internal/Senders.ts): it moves to another node when its own fails.
 */
export const startMqttLoad = (lab: Lab, nodes: ReadonlyArray<string>, ratePerSec: number, devicePrefix = "", roaming?: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const brokers = [...nodes.map((name) => [name]), ...(roaming === undefined ? [] : [roaming])]
    const loads = brokers.map((names, i) =>
      steadyLoad({
        url: names.map((name) => lab.pis.nodes.find((n) => n.name === name)!.mqttUrl),
        qos: 1,
        ratePerSec: ratePerSec / brokers.length,
        devices: Array.from({ length: 25 }, (_, d) => `${devicePrefix}m${i + 1}-dev-${String(d).padStart(2, "0")}`),
        seed: 100 + i,
        timeoutMs: 30_000
      })
    )
    yield* Effect.promise(() => Promise.all(loads.map((l) => l.started)))
    const running: RunningLoad = {
      loads,
      stop: async () => {
        const reports = await Promise.all(loads.map((l) => l.stop()))
        return {
          attempted: reports.flatMap((r) => r.attempted),
          acknowledged: reports.flatMap((r) => r.acknowledged),
          failed: reports.flatMap((r) => r.failed),
          duplicates: 0,
          elapsedMs: Math.max(...reports.map((r) => r.elapsedMs)),
          ackedPerSec: reports.reduce((a, r) => a + r.ackedPerSec, 0)
        }
      }
    }
    return running
  })
