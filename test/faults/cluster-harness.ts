/**
 * What the cluster fault tests share: a local 3-node bramble (deploy DevCluster: three
 * nats-servers in one JetStream cluster, three `bramble node` processes, VictoriaMetrics),
 * a steady load through all three servers, an independent record of every partition
 * checkpoint write, and the end-of-run checks:
 *
 * - every acknowledged publish is stored exactly once as a raw point, and so is every
 *   reading the READINGS log holds (Jepsen's lost/duplicated checker);
 * - every window result equals the oracle computed from the log (minus readings the nodes
 *   dead-lettered as too late, which no window includes);
 * - no partition ever had two owners: from every node's ownership log, the interval in
 *   which each ownership could write (claim → last fence deadline or release) never
 *   overlaps another ownership of the same partition; and the fencing tokens (lease claim
 *   revisions) stamped on `part.<p>` checkpoint writes never go backwards.
 *
 * Times to recover are measured from the checkpoint record: "processing resumed" is when
 * every partition has checkpointed beyond where it stood at the fault.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { assert } from "@effect/vitest"
import { type DevCluster, startDevCluster } from "@bramble/deploy"
import { CHECKPOINT_BUCKET } from "@bramble/nats"
import { jetstreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { Admin, Codec } from "@bramble/protocol"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, type Scope } from "effect"
import { assignPartitions, type OwnershipEvent, overlappingOwnerships, ownershipIntervals } from "@bramble/cluster"
import { BRAMBLE_CLI, requestNodeStatus } from "../support/BrambleNode.js"
import { readDeadLetters } from "../support/DeadLetters.js"
import {
  checkExactlyOnce,
  compareWindows,
  expectedWindows,
  type PublishReport,
  type RawPoint,
  readRawPoints,
  readStreamReadings,
  readWindowResults,
  steadyLoad,
  type SteadyLoad,
  type TestReading,
  waitFor,
  WINDOW_FIELDS,
  windowKey,
  type WindowRow,
  withoutDuplicates
} from "../support/index.js"

/** Small windows: many results to compare, all closed soon after the load stops. */
export const WINDOWS = [{ name: "1s", size: 1_000 }, { name: "5s", size: 5_000 }] as const
/** Lateness well above any publish reordering three publishers and a failover cause. */
export const PROCESSING = { allowedLateness: "5s", idleAdvance: "1s", checkpointInterval: "500ms" } as const
/** Generous for a busy 2-core machine; nothing here is a timing assertion. */
export const WAIT_MS = 150_000
/** The load every cluster fault test runs (readings/s over the three servers). */
export const RATE = 2_100

export const promise = <A>(f: () => Promise<A>) => Effect.promise(f)
export const log = (line: string) => Effect.sync(() => console.log(`[cluster-faults] ${line}`))

/** One `part.<p>` checkpoint write, as a watcher saw it. */
interface CheckpointWrite {
  readonly partition: number
  readonly seq: number
  readonly watermark: number
  readonly lease: number | undefined
  readonly incarnation: string | undefined
  readonly node: string | undefined
  readonly at: number
}

/** What the checks need of a running cluster, however it was started (DevCluster on
 * loopback, or hosts in network namespaces: test/support/net/PiCluster.ts). */
export interface ClusterUnderTest {
  readonly natsUrls: ReadonlyArray<string>
  readonly db: { readonly url: string }
  readonly nodeInfos: ReadonlyArray<{ readonly name: string; readonly logFile: string }>
}

export interface FaultCluster<C extends ClusterUnderTest = DevCluster> {
  readonly cluster: C
  readonly dir: string
  readonly partitions: number
  /** A connection to every server (fails over when one dies). */
  readonly nc: NatsConnection
  readonly map: () => Promise<Admin.PartitionsReply>
  /** Waits until the partitions are owned as the assignment says for `members`; ms waited. */
  readonly waitBalanced: (members: ReadonlyArray<string>, label: string) => Effect.Effect<number>
  /** Waits until every partition checkpointed past where it stood at `since` (those of the
   * `faulted` node, by another node); ms after `since`. */
  readonly waitResumed: (since: number, label: string, faulted?: string) => Effect.Effect<number>
  readonly checkpoints: ReadonlyArray<CheckpointWrite>
  readonly ownershipEvents: () => ReadonlyArray<OwnershipEvent>
  /** NATS publishers, one per server (default RATE readings/s, devices `s<i>-dev-NN`). */
  readonly startLoad: (options?: { readonly ratePerSec?: number; readonly devicePrefix?: string }) => Effect.Effect<RunningLoad>
  /** The end-of-run checks; a one-line summary. With `mqtt`, the MQTT QoS 1 load's
   * PUBACKed readings must each be stored once or lie in a reported `Gap` range. */
  readonly verify: (load: RunningLoad, options?: VerifyOptions) => Effect.Effect<string>
  /** The same checks, with the figures behind the summary. */
  readonly verifyFigures: (load: RunningLoad, options?: VerifyOptions) => Effect.Effect<VerifiedRun>
  readonly dumpLogs: Effect.Effect<void>
}

/** What a verified run counted (everything the checks passed on). */
export interface VerifiedRun {
  readonly summary: string
  readonly nats: {
    readonly attempted: number
    readonly acknowledged: number
    readonly failed: number
    readonly storedAnyway: number
    /** Acknowledged and lost by the server, each inside a reported Gap (see `logLossIsFinding`). */
    readonly lost: number
  }
  readonly mqtt?: {
    readonly attempted: number
    readonly pubacked: number
    readonly lost: number
    readonly gaps: number
    readonly gapReadings: number
    /** Put back from `$MQTT_msgs` by the nodes (their status counters, since they started). */
    readonly recovered: number
  }
  /** Readings in READINGS, raw points in the database (each stored once: checked). */
  readonly logged: number
  /** Readings stored once that the stream leader's READINGS no longer holds (see `logLossIsFinding`). */
  readonly logLost: number
  readonly stored: number
}

export interface VerifyOptions {
  readonly mqtt?: RunningLoad
  /** The loads' devices start with this: earlier rounds' points in the database are theirs. */
  readonly devicePrefix?: string
  /**
   * Report overlapping ownership intervals instead of failing on them. Only for network faults
   * on nats-server 2.9.10, where a lease claim was seen to succeed 21 ms before the previous
   * owner's fence deadline (docs/cluster-formation.md); the fencing tokens on checkpoint writes
   * and the exactly-once checks still hold the run to what was actually written.
   */
  readonly overlapsAreFindings?: boolean
  /**
   * For network faults on nats-server 2.9.10 (docs/cluster-formation.md), report instead of
   * failing: readings in the database (sent by the test's publishers, stored once) that the
   * stream leader's READINGS no longer holds; and acknowledged NATS publishes the leader's
   * READINGS never held, when each is inside a Gap the partitions reported.
   */
  readonly logLossIsFinding?: boolean
  /** Compare only these devices' windows with the oracle (default: all). */
  readonly compareWindowsOf?: (device: string) => boolean
}

export interface RunningLoad {
  readonly loads: ReadonlyArray<SteadyLoad>
  readonly stop: () => Promise<PublishReport>
}

const ownershipLogOf = (dir: string, node: string) => join(dir, "ownership", `${node}.jsonl`)

/** Starts the cluster (and a spare node `n4` when `spare`); closing the scope stops it. */
export const startFaultCluster = (options: { readonly dir: string; readonly spare?: boolean; readonly partitions?: number }) =>
  Effect.gen(function*() {
    const dir = resolve(options.dir)
    const partitions = options.partitions ?? 8
    const cluster = yield* startDevCluster({
      dir,
      nodes: 3,
      spareNodes: options.spare === true ? 1 : 0,
      partitions,
      // BRAMBLE_CLI_PATH runs another build of the CLI (e.g. one built elsewhere while the
      // shared dist is being rebuilt).
      bramble: [process.execPath, process.env["BRAMBLE_CLI_PATH"] ?? BRAMBLE_CLI],
      sensorsPerNode: 0,
      windows: WINDOWS.map((w) => ({ name: w.name, size: `${w.size}ms` })),
      processing: PROCESSING,
      dashboards: false,
      nodeArgs: (node) => ["--ownership-log", ownershipLogOf(dir, node)]
    })
    return yield* faultClusterOn(cluster, { dir, partitions })
  })

/** The fault-test tools over a cluster that is already running. */
export const faultClusterOn = <C extends ClusterUnderTest>(cluster: C, options: { readonly dir: string; readonly partitions: number }) =>
  Effect.gen(function*() {
    const { dir, partitions } = options
    const nc = yield* Effect.acquireRelease(
      promise(() => connect({ servers: [...cluster.natsUrls], name: "cluster-fault-test", maxReconnectAttempts: -1, reconnectTimeWait: 250, waitOnFirstConnect: true })),
      (c) => promise(() => c.close().catch(() => undefined))
    )
    const checkpoints = yield* watchCheckpoints([...cluster.natsUrls])

    const map = async () => {
      const reply = await nc.request(Admin.adminClusterSubject(Admin.AdminCalls.partitions.name), undefined, { timeout: 5_000 })
      return reply.json<Admin.PartitionsReply>()
    }

    const waitBalanced = (members: ReadonlyArray<string>, label: string) =>
      Effect.gen(function*() {
        const started = Date.now()
        const target = assignPartitions(members, partitions)
        yield* promise(() =>
          waitFor(map, {
            until: (m) => m.owners.every((p) => p.owner === target[p.partition] && p.renewedAgoMs !== undefined && p.renewedAgoMs < 4_000),
            timeoutMs: WAIT_MS,
            intervalMs: 250,
            show: (m) => m.owners.map((p) => `${p.partition}:${p.owner ?? "-"}→${target[p.partition]}`).join(" "),
            label: `partitions owned as assigned to ${members.join(",")} (${label})`
          })
        )
        return Date.now() - started
      })

    const waitResumed = (since: number, label: string, faulted?: string) =>
      Effect.gen(function*() {
        const before = new Map<number, number>()
        const lastWriter = new Map<number, string | undefined>()
        for (const w of checkpoints) {
          if (w.at >= since) continue
          before.set(w.partition, Math.max(before.get(w.partition) ?? 0, w.seq))
          lastWriter.set(w.partition, w.node)
        }
        const resumedAt = () => {
          let latest = since
          for (let p = 0; p < partitions; p++) {
            // A partition of the faulted node resumes when another node checkpoints it (its
            // own writes seen just after the fault were made before it).
            const moved = faulted !== undefined && lastWriter.get(p) === faulted
            // Without a faulted node, a write seen just after the fault may have been sent
            // before it: the second advancing write is the proof of progress.
            const needed = moved ? 1 : 2
            let seq = before.get(p) ?? 0
            let seen = 0
            let at: number | undefined
            for (const w of checkpoints) {
              if (w.partition !== p || w.at < since || w.seq <= seq || (moved && w.node === faulted)) continue
              seq = w.seq
              if (++seen === needed) {
                at = w.at
                break
              }
            }
            if (at === undefined) return undefined
            latest = Math.max(latest, at)
          }
          return latest
        }
        const at = yield* promise(() =>
          waitFor(resumedAt, { until: (t) => t !== undefined, timeoutMs: WAIT_MS, intervalMs: 100, label: `every partition checkpointing again (${label})` })
        )
        return at! - since
      })

    const ownershipEvents = () =>
      cluster.nodeInfos.flatMap((n) => {
        try {
          return readFileSync(ownershipLogOf(dir, n.name), "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as OwnershipEvent)
        } catch {
          return []
        }
      })

    const startLoad = (loadOptions: { readonly ratePerSec?: number; readonly devicePrefix?: string } = {}) =>
      Effect.gen(function*() {
        // One publisher per server, each with its own devices: readings enter the cluster
        // through all three servers, and a server's death takes only its publisher's
        // in-flight publishes with it (they count as failed, not acknowledged).
        const loads = cluster.natsUrls.map((url, i) =>
          steadyLoad({
            url,
            ratePerSec: (loadOptions.ratePerSec ?? RATE) / cluster.natsUrls.length,
            devices: Array.from({ length: 40 }, (_, d) => `${loadOptions.devicePrefix ?? ""}s${i + 1}-dev-${String(d).padStart(2, "0")}`),
            seed: i + 1,
            timeoutMs: 5_000
          })
        )
        yield* promise(() => Promise.all(loads.map((l) => l.started)))
        return {
          loads,
          stop: async () => merge(await Promise.all(loads.map((l) => l.stop())))
        }
      })

    const dumpLogs = Effect.sync(() => {
      for (const n of cluster.nodeInfos) {
        try {
          const lines = readFileSync(n.logFile, "utf8").trimEnd().split("\n")
          console.error(`--- last lines of ${n.logFile}:\n${lines.slice(-25).join("\n")}`)
        } catch {
          // never started
        }
      }
    })

    const fc: FaultCluster<C> = {
      cluster,
      dir,
      partitions,
      nc,
      map,
      waitBalanced,
      waitResumed,
      checkpoints,
      ownershipEvents,
      startLoad,
      verify: (load, verifyOptions) => Effect.map(verify(fc, load, verifyOptions), (run) => run.summary),
      verifyFigures: (load, verifyOptions) => verify(fc, load, verifyOptions),
      dumpLogs
    }
    return fc
  })

const merge = (reports: ReadonlyArray<PublishReport>): PublishReport => ({
  attempted: reports.flatMap((r) => r.attempted),
  acknowledged: reports.flatMap((r) => r.acknowledged),
  failed: reports.flatMap((r) => r.failed),
  duplicates: reports.reduce((a, r) => a + r.duplicates, 0),
  elapsedMs: Math.max(...reports.map((r) => r.elapsedMs)),
  ackedPerSec: reports.reduce((a, r) => a + r.ackedPerSec, 0)
})

/** How long the checkpoint watch may see nothing before it is started again. */
const WATCH_SILENCE_MS = 5_000

/** Records every `part.<p>` write, in stream order, restarting the watch if it ends. It
 * connects in the background: a cluster that is still forming is watched once it exists. */
const watchCheckpoints = (servers: ReadonlyArray<string>): Effect.Effect<Array<CheckpointWrite>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const writes: Array<CheckpointWrite> = []
    let lastRevision = 0
    let stopped = false
    let stopWatch = () => {}
    let nc: NatsConnection | undefined
    const run = async () => {
      nc = await connect({ servers: [...servers], name: "cluster-fault-checkpoints", maxReconnectAttempts: -1, reconnectTimeWait: 250, waitOnFirstConnect: true })
      if (stopped) return
      const kvm = new Kvm(nc)
      while (!stopped) {
        try {
          const kv = await kvm.open(CHECKPOINT_BUCKET)
          const iterator = await kv.watch({ key: "part.>", ...(lastRevision > 0 ? { resumeFromRevision: lastRevision + 1 } : {}) })
          stopWatch = () => iterator.stop()
          // A watch can go quiet for good without ending (its consumer lost across a heal:
          // seen as a 150 s "every partition checkpointing again" timeout while the nodes
          // went on checkpointing). Checkpoints come every second under load, so a watch
          // silent for WATCH_SILENCE_MS is started again from the next revision (nothing is
          // skipped; an idle cluster only pays a new watch now and then).
          let lastEntryAt = Date.now()
          const silence = setInterval(() => {
            if (Date.now() - lastEntryAt > WATCH_SILENCE_MS) iterator.stop()
          }, 1_000)
          try {
            for await (const entry of iterator) {
              lastEntryAt = Date.now()
              if (entry.revision <= lastRevision) continue
              lastRevision = entry.revision
              if (entry.operation !== "PUT") continue
              const value = Codec.decode(entry.value) as { seq: number; watermark?: { watermark: number }; owner?: { node: string; incarnation: string; lease: number } }
              writes.push({
                partition: Number(entry.key.split(".")[1]),
                seq: value.seq,
                watermark: value.watermark?.watermark ?? Number.NEGATIVE_INFINITY,
                lease: value.owner?.lease,
                incarnation: value.owner?.incarnation,
                node: value.owner?.node,
                // The server's time of the write: a watcher that fell behind (its server died)
                // still dates each write right when it catches up.
                at: entry.created.getTime()
              })
            }
          } finally {
            clearInterval(silence)
          }
        } catch {
          // the server went away, or the bucket does not exist yet; watch again from where we were
        }
        if (!stopped) await new Promise((r) => setTimeout(r, 250))
      }
    }
    const running = run().catch(() => undefined)
    yield* Effect.addFinalizer(() =>
      promise(async () => {
        stopped = true
        stopWatch()
        await nc?.close().catch(() => undefined)
        await running
      })
    )
    return writes
  })

const verify = (fc: FaultCluster<ClusterUnderTest>, load: RunningLoad, options: VerifyOptions = {}) =>
  Effect.gen(function*() {
    const [report, mqttReport] = yield* promise(() => Promise.all([load.stop(), options.mqtt?.stop()]))
    const urls = [...fc.cluster.natsUrls]
    // 1. Drained: every partition owned, nothing pending, everything acknowledged (= checkpointed);
    //    and MQTT recovery done (it may still be putting PUBACKed readings back into READINGS).
    // Per recovery consumer: pending and delivered-unacknowledged (shown when the wait fails).
    const mqttRecoveryBacklog = async (): Promise<{ total: number; detail: string }> => {
      const jsm = await jetstreamManager(fc.nc)
      try {
        let total = 0
        const parts: Array<string> = []
        for await (const c of jsm.consumers.list("$MQTT_msgs")) {
          if (!c.name.startsWith("bramble-mqtt-p")) continue
          total += c.num_pending + c.num_ack_pending
          if (c.num_pending + c.num_ack_pending > 0) parts.push(`${c.name} pending ${c.num_pending} unacked ${c.num_ack_pending} redelivered ${c.num_redelivered}`)
        }
        return { total, detail: parts.join(", ") }
      } catch {
        return { total: 0, detail: "" } // no MQTT client ever connected: no $MQTT_msgs
      }
    }
    yield* promise(() =>
      waitFor(async () => ({ map: await fc.map(), mqtt: await mqttRecoveryBacklog() }), {
        until: ({ map, mqtt }) => mqtt.total === 0 && map.owners.every((p) => p.owner !== null && p.pending === 0 && p.ackPending === 0),
        timeoutMs: WAIT_MS,
        intervalMs: 500,
        show: ({ map, mqtt }) => `MQTT recovery backlog ${mqtt.total} (${mqtt.detail}); ` + map.owners.map((p) => `${p.partition}:${p.owner ?? "-"} pending ${p.pending} unacked ${p.ackPending}`).join("; "),
        label: "every partition drained and checkpointed, MQTT recovery done"
      })
    )
    // 2. The oracle, from the log in its own order.
    // The log as the cluster serves it: the stream leader's copy (a replica that was cut off
    // can hold other messages at some sequences, see replicaDisagreement).
    const logged = yield* promise(() => readStreamReadings(urls, "READINGS", { timeoutMs: WAIT_MS, server: "leader" }))
    const deadLetters = yield* promise(() => readDeadLetters(urls))
    const tooLate = new Set(deadLetters.filter((d) => d.entry.reason === "TooLate").map((d) => d.entry.streamSeq))
    // Gap entries report readings that never reached the log (checked against the MQTT
    // publishers' record below); they refuse nothing.
    const gaps = deadLetters.flatMap((d) => (d.entry.reason === "Gap" && d.entry.gap !== undefined ? [d.entry.gap] : []))
    const others = deadLetters.filter((d) => d.entry.reason !== "TooLate" && d.entry.reason !== "Gap")
    assert.deepStrictEqual(others.map((d) => `${d.entry.reason}: ${d.entry.message}`).slice(0, 5), [], "readings were refused")
    const raw = (m: { device: string; sensor: string; ts: number; values: Readonly<Record<string, number>> }): RawPoint => ({
      device: m.device,
      sensor: m.sensor,
      ts: m.ts,
      values: m.values
    })
    const loggedRaw = logged.map(raw)
    // A reading the log holds twice (an MQTT client resending what it sent before its broker
    // closed the connection) counts once in a window, the first copy (docs/neighbours.md).
    const windowed = withoutDuplicates(logged.filter((m) => !tooLate.has(m.streamSeq)).map(raw))
    let expected = expectedWindows(windowed, WINDOWS)
    const distinctLogged = withoutDuplicates(loggedRaw).length
    const db = { kind: "victoria-metrics" as const, url: fc.cluster.db.url }
    const stored = yield* promise(() =>
      waitFor(async () => ({ raw: await readRawPoints(db), windows: await readWindowResults(db) }), {
        until: (s) => s.raw.length >= distinctLogged && compareWindows(expected, s.windows).ok,
        timeoutMs: WAIT_MS,
        intervalMs: 1_000,
        show: (s) => `${s.raw.length}/${distinctLogged} raw points; ${compareWindows(expected, s.windows).text.split("\n").slice(0, 6).join(" | ")}`,
        label: "every reading and window result in the database"
      }).catch((error) => ({ error }))
    )
    const points = "error" in stored ? yield* promise(() => readRawPoints(db)) : stored.raw
    const windows = "error" in stored ? yield* promise(() => readWindowResults(db)) : stored.windows

    // 3. Exactly once.
    // What the MQTT load published is expected in the database too (checked below).
    const prefix = options.devicePrefix
    const ours = prefix === undefined ? points : points.filter((p) => p.device.startsWith(prefix))
    const acked = checkExactlyOnce(report.acknowledged as ReadonlyArray<TestReading>, ours, { attempted: [...report.attempted, ...(mqttReport?.attempted ?? [])] })
    // Acknowledged NATS publishes that nats-server 2.9.10 lost (not in the stream leader's
    // READINGS) after a leader change under network faults: reported, when every one is
    // inside a Gap the partitions dead-lettered; anything else — a reading the log holds
    // and the database does not, a loss no Gap reports — fails (docs/cluster-formation.md).
    const keyOf = (p: { readonly device: string; readonly sensor: string; readonly ts: number }) => `${p.device}\u0000${p.sensor}\u0000${p.ts}`
    const inLog = new Set(loggedRaw.map(keyOf))
    const inGap = (r: TestReading) => gaps.some((g) => g.device === r.device && g.sensor === r.sensor && r.seq >= g.first && r.seq <= g.last)
    const natsLost = acked.missing as ReadonlyArray<TestReading>
    const natsLossReported = !acked.ok && acked.duplicated.length === 0 && acked.unexpected.length === 0 && acked.corrupted.length === 0 &&
      natsLost.every((r) => !inLog.has(keyOf(r)) && inGap(r))
    if (options.logLossIsFinding === true && natsLossReported) {
      console.error(
        `FINDING: ${natsLost.length} acknowledged NATS reading(s) are not in the stream leader's READINGS (lost by the server), ` +
          `each inside a reported Gap (first: ${natsLost.slice(0, 3).map((r) => `${r.device}/${r.sensor} seq ${r.seq}`).join(", ")})`
      )
    } else {
      const inLogNotStored = natsLost.filter((r) => inLog.has(keyOf(r))).length
      const silent = natsLost.filter((r) => !inGap(r)).length
      assert.isTrue(acked.ok, `acknowledged readings vs. database: ${acked.text} (of the missing: ${inLogNotStored} in the log, ${silent} in no reported gap)`)
    }
    // With a device prefix, this round's readings only: earlier rounds were checked (and their
    // findings reported) when they ran.
    const fromLog = prefix === undefined ? checkExactlyOnce(loggedRaw, points) : checkExactlyOnce(loggedRaw.filter((m) => m.device.startsWith(prefix)), ours)
    // Readings the database holds, that a publisher sent and a worker processed, which the
    // stream leader's READINGS no longer has: a replica's copy that the server's later leader
    // did not keep (nats-server 2.9.10 after network faults, docs/cluster-formation.md). For
    // network faults that is reported, not failed on; they then count in the oracle's windows.
    const sentKeys = new Set([...report.attempted, ...(mqttReport?.attempted ?? [])].map((r) => `${r.device}\u0000${r.sensor}\u0000${r.ts}`))
    const logLost = fromLog.unexpected.filter((p) => sentKeys.has(`${p.device}\u0000${p.sensor}\u0000${p.ts}`))
    const onlyLogLost = !fromLog.ok && fromLog.missing.length === 0 && fromLog.duplicated.length === 0 && fromLog.corrupted.length === 0 &&
      logLost.length === fromLog.unexpected.length
    if (options.logLossIsFinding === true && onlyLogLost) {
      console.error(
        `FINDING: ${logLost.length} reading(s) processed and stored once are no longer in the stream leader's READINGS ` +
          `(first: ${logLost.slice(0, 3).map((p) => `${p.device}/${p.sensor}@${p.ts}`).join(", ")})`
      )
      expected = expectedWindows(withoutDuplicates([...windowed, ...logLost]), WINDOWS)
    } else {
      assert.isTrue(fromLog.ok, `READINGS log vs. database: ${fromLog.text}`)
    }
    // MQTT QoS 1: nats-server 2.9 can PUBACK a reading its READINGS copy never reaches
    // (docs/delivery-guarantees.md). Each such loss must be reported: inside a Gap range.
    let mqttSummary = ""
    let mqttFigures: VerifiedRun["mqtt"]
    if (mqttReport !== undefined) {
      const storedKeys = new Set(ours.map((p) => `${p.device}\u0000${p.sensor}\u0000${p.ts}`))
      const lost = mqttReport.acknowledged.filter((r) => !storedKeys.has(`${r.device}\u0000${r.sensor}\u0000${r.ts}`))
      const silent = lost.filter((r) => !inGap(r))
      assert.deepStrictEqual(
        silent.slice(0, 10).map((r) => `${r.device}/${r.sensor} seq ${r.seq}`),
        [],
        `${silent.length} PUBACKed MQTT readings are missing and no Gap reports them`
      )
      const mqttStoredOnce = checkExactlyOnce(mqttReport.acknowledged.filter((r) => !lost.includes(r)), ours, { attempted: [...mqttReport.attempted, ...report.attempted] })
      assert.isTrue(mqttStoredOnce.ok, `PUBACKed MQTT readings vs. database: ${mqttStoredOnce.text}`)
      // A replay after the duplicate window stores a Gap entry again: count each once.
      const distinct = [...new Map(gaps.map((g) => [`${g.device}/${g.sensor}/${g.first}`, g])).values()]
      const reported = distinct.reduce((n, g) => n + g.count, 0)
      let recovered = 0
      for (const node of fc.cluster.nodeInfos) {
        const status = yield* promise(() => requestNodeStatus(urls[0]!, node.name).catch(() => undefined))
        recovered += (status?.totals as { sequence?: { recovered?: number } } | undefined)?.sequence?.recovered ?? 0
      }
      mqttFigures = { attempted: mqttReport.attempted.length, pubacked: mqttReport.acknowledged.length, lost: lost.length, gaps: distinct.length, gapReadings: reported, recovered }
      mqttSummary = `; MQTT QoS 1: ${mqttReport.attempted.length} attempted, ${mqttReport.acknowledged.length} PUBACKed, ` +
        `${lost.length} PUBACKed and lost${lost.length === 0 ? "" : ` (${lost.slice(0, 5).map((r) => `${r.device}/${r.sensor} seq ${r.seq}`).join(", ")})`} ` +
        `(all inside ${distinct.length} reported gaps of ${reported} readings), ${recovered} recovered from $MQTT_msgs`
    }
    // A reading put back from $MQTT_msgs (cluster/src/partition/MqttRecovery.ts) arrives
    // seconds after its window: whether it still counts there depends on the lateness the
    // watermark had then. Its raw point is checked above; its windows are left out here.
    const recoveredWindows = new Set<string>()
    for (const m of logged) {
      if (!m.msgId?.startsWith("mqtt-recovered.")) continue
      for (const w of WINDOWS) recoveredWindows.add(`${m.device}/${m.sensor}/${w.name}/${Math.floor(m.ts / w.size) * w.size}`)
    }
    const compared = options.compareWindowsOf ?? (() => true)
    const checked = (rows: ReadonlyArray<WindowRow>) =>
      rows.filter((r) => compared(r.device) && !recoveredWindows.has(`${r.device}/${r.sensor}/${r.window}/${r.start}`))
    const diff = compareWindows(checked(expected), checked(windows))
    // A window emitted more than once — a correction, when a reading inside the allowed
    // lateness arrives after the window's first emission, as readings delayed by a fault do —
    // is rewritten in the database at the same timestamp. InfluxDB overwrites;
    // VictoriaMetrics 1.79, the test database, keeps one of the samples of each field, not
    // necessarily the last (docs/databases.md), so a stored row can mix two emissions. Such
    // a row passes when the worker's last emission of it (AGGREGATES, in stream order)
    // equals the oracle's and every stored field is a value the worker emitted for it.
    let correctionsMixed = 0
    if (!diff.ok && diff.missing.length === 0 && diff.extra.length === 0) {
      const emitted = yield* promise(() => readStreamReadings(urls, "AGGREGATES", { timeoutMs: WAIT_MS, server: "leader" }))
      const emissions = new Map<string, Array<WindowRow>>()
      for (const m of emitted) {
        const row = m.payload as WindowRow
        const key = windowKey(row)
        const list = emissions.get(key)
        if (list === undefined) emissions.set(key, [row])
        else list.push(row)
      }
      const expectedByKey = new Map(expected.map((r) => [windowKey(r), r]))
      const storedByKey = new Map(windows.map((r) => [windowKey(r), r]))
      const same = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b))
      const unexplained = diff.mismatched.filter(({ key }) => {
        const list = emissions.get(key)
        const wanted = expectedByKey.get(key)
        const stored = storedByKey.get(key)
        if (list === undefined || list.length < 2 || wanted === undefined || stored === undefined) return true
        if (!compareWindows([wanted], [list[list.length - 1]!]).ok) return true
        return !WINDOW_FIELDS.every((field) => list.some((e) => same(e[field], stored[field])))
      })
      if (unexplained.length === 0) correctionsMixed = diff.mismatched.length
    }
    const windowsOk = diff.ok || correctionsMixed > 0
    if (!windowsOk) {
      // Where the watermark stood: the checkpoint history of the partitions involved.
      const bad = new Set([...diff.mismatched.map((m) => m.key.split("/")[0]), ...diff.missing.map((m) => m.device)])
      const parts = new Set(logged.filter((m) => bad.has(m.device)).map((m) => m.partition))
      writeFileSync(join(fc.dir, "checkpoints.json"), JSON.stringify(fc.checkpoints.filter((w) => parts.has(w.partition))))
      console.error(`checkpoint history of partitions ${[...parts].join(",")} written to ${join(fc.dir, "checkpoints.json")}`)
      // What the oracle counted for each differing window, as the leader's log holds it, and
      // the dead letters of those messages: tells a reading the worker never saw from one it
      // refused (TooLate) without the refusal reaching DEADLETTER.
      const windowOf = (key: string) => {
        const [device, sensor, , windowAt = ""] = key.split("/")
        const [window, start] = windowAt.split("@")
        const size = WINDOWS.find((w) => w.name === window)?.size ?? 0
        return { device, sensor, from: Number(start), to: Number(start) + size }
      }
      const keys = [...diff.mismatched.map((m) => m.key), ...diff.missing.map((m) => windowKey(m))].slice(0, 60)
      const detail = keys.map((key) => {
        const w = windowOf(key)
        const readings = logged.filter((m) => m.device === w.device && m.sensor === w.sensor && m.ts >= w.from && m.ts < w.to)
        return {
          key,
          expected: expected.find((r) => windowKey(r) === key),
          stored: windows.find((r) => windowKey(r) === key),
          log: readings.map((m) => ({ streamSeq: m.streamSeq, partition: m.partition, ts: m.ts, msgId: m.msgId, values: m.values, tooLate: tooLate.has(m.streamSeq) })),
          deadLetters: deadLetters.filter((d) => readings.some((m) => m.streamSeq === d.entry.streamSeq)).map((d) => ({ reason: d.entry.reason, streamSeq: d.entry.streamSeq, message: d.entry.message }))
        }
      })
      writeFileSync(join(fc.dir, "window-diff.json"), JSON.stringify(detail, null, 1))
      console.error(`the log's readings and dead letters of ${detail.length} differing windows written to ${join(fc.dir, "window-diff.json")}`)
    }
    assert.isTrue(windowsOk, diff.text)

    // 4. One owner at a time.
    const events = fc.ownershipEvents()
    const intervals = ownershipIntervals(events)
    const overlaps = overlappingOwnerships(intervals).map(([a, b]) =>
      `p${a.partition}: ${a.node}/${a.lease} [${a.start}, ${a.end}] overlaps ${b.node}/${b.lease} [${b.start}, ${b.end}]`
    )
    if (options.overlapsAreFindings === true && overlaps.length > 0) {
      console.error(`FINDING: ownership intervals overlapped (a lease claimed before the previous owner's fence deadline): ${overlaps.join("; ")}`)
    } else {
      assert.deepStrictEqual(overlaps, [], "two ownerships of one partition overlapped")
    }
    const backwards: Array<string> = []
    const highest = new Map<number, CheckpointWrite>()
    for (const w of fc.checkpoints) {
      if (w.lease === undefined) continue
      const top = highest.get(w.partition)
      if (top !== undefined && w.lease < top.lease!) backwards.push(`p${w.partition}: ${w.node} (lease ${w.lease}) wrote after ${top.node} (lease ${top.lease})`)
      else highest.set(w.partition, w)
    }
    assert.deepStrictEqual(backwards.slice(0, 10), [], "a stale owner's checkpoint write landed")
    const ownerships = intervals.length
    const summary = `${report.attempted.length} attempted, ${report.acknowledged.length} acknowledged (${Math.round(report.ackedPerSec)}/s), ` +
      `${report.failed.length} failed (${acked.recovered.length} of those stored anyway); log ${logged.length}, ${tooLate.size} too late; ` +
      `${points.length} raw points, ${windows.length} window rows; ${correctionsMixed > 0 ? `windows match the oracle in the worker's last emissions; ${correctionsMixed} stored rows mix two emissions of their window (corrections the test database kept field by field)` : diff.text}${recoveredWindows.size > 0 ? ` (${recoveredWindows.size} windows holding readings recovered from $MQTT_msgs not compared)` : ""}; ${ownerships} ownerships, ${fc.checkpoints.length} checkpoint writes, no overlap${mqttSummary}`

    return {
      summary,
      nats: {
        attempted: report.attempted.length,
        acknowledged: report.acknowledged.length,
        failed: report.failed.length,
        storedAnyway: acked.recovered.length,
        lost: natsLossReported ? natsLost.length : 0
      },
      ...(mqttFigures === undefined ? {} : { mqtt: mqttFigures }),
      logged: logged.length,
      logLost: onlyLogLost ? logLost.length : 0,
      stored: points.length
    } satisfies VerifiedRun  })

/** Fails the test with the nodes' logs attached. */
export const withLogs = <A, E, R>(fc: FaultCluster<ClusterUnderTest>, effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.tapCause(() => fc.dumpLogs))
