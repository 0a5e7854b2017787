/**
 * A node's `status` reply, assembled from its live counters, rates and consumer lag. Also
 * what the dashboard shows per node and what `/metrics` exports, so all three agree.
 */
import { lagQuantile } from "@bramble/actor-storage"
import type { ForwarderStats } from "@bramble/actor-forwarder"
import type { SensorStats } from "@bramble/actor-sensor"
import type { StorageStats } from "@bramble/actor-storage"
import type { Admin } from "@bramble/protocol"
import type { PartitionFailure, PartitionStats } from "../partition/PartitionStats.js"
import type { LagByPartition } from "./ConsumerLag.js"
import type { RateCounters } from "./RateMeter.js"

/** The parts of a running node the admin actor reads (a `RunningNode` is one). */
export interface AdminNode {
  readonly name: string
  readonly natsUrl: string
  readonly mqttUrl: string | undefined
  /** The node's HTTP server (dashboard, /metrics), when it runs. */
  readonly httpUrl: string | undefined
  readonly startedAt: number
  readonly partitions: ReadonlyArray<PartitionStats>
  readonly sensors: ReadonlyArray<SensorStats>
  readonly storage: StorageStats
  /** The forward targets' forwarders (actors/forwarder), when the cluster file has any. */
  readonly forwarders?: ReadonlyArray<ForwarderStats>
  /** The ingest router's counts (cluster/src/ingest). */
  readonly ingest?: Admin.IngestStatus
  /** Whether the node's own clock is synchronized (../node/ClockSync.ts), when it checks. */
  readonly clock?: () => Admin.NodeClock
  /** The version of the cluster file it runs (../config/ClusterVersion.ts). */
  readonly configVersion?: () => Admin.NodeConfigVersion
}

/** The counters rates are computed from. */
export const rateCounters = (node: AdminNode): RateCounters => {
  let readingsIn = 0
  let windowsOut = 0
  for (const p of node.partitions) {
    readingsIn += p.received
    windowsOut += p.windowsEmitted
  }
  return { readingsIn, readingsOut: node.storage.readingsWritten, windowsOut }
}

const sumLag = (lag: LagByPartition, owned: ReadonlyArray<number>): Admin.ConsumerLag => {
  let pending = 0
  let ackPending = 0
  for (const p of owned) {
    const l = lag.get(p)
    if (l !== undefined) {
      pending += l.pending
      ackPending += l.ackPending
    }
  }
  return { pending, ackPending }
}

/**
 * The status reply. Partitions listed are those this node owns now and those it processed
 * readings of before (so counters never go backwards when a partition moves away); lag is
 * reported for owned partitions only (the consumer belongs to whoever owns the partition).
 * `lag` is undefined when JetStream could not be asked.
 */
export const nodeStatus = (options: {
  readonly node: AdminNode
  readonly versions: Admin.Versions
  readonly rates: Admin.Rates
  readonly lag: LagByPartition | undefined
  readonly owns: (partition: number) => boolean
  readonly now: number
}): Admin.NodeStatus => {
  const { node, lag, owns } = options
  const s = node.storage
  const totals = { received: 0, accepted: 0, rejected: 0, tooLate: 0, windowsEmitted: 0, pointsWritten: s.pointsWritten }
  const sequence = { gaps: 0, gapReadings: 0, lateFilled: 0, missing: 0, restarts: 0, duplicates: 0, recovered: 0 }
  const shown = node.partitions.filter((p) => owns(p.partition) || p.received > 0)
  const owned = shown.filter((p) => owns(p.partition)).map((p) => p.partition)
  const partitions = shown.map((p): Admin.PartitionStatus => {
    totals.received += p.received
    totals.accepted += p.accepted
    totals.rejected += p.rejected
    totals.tooLate += p.tooLate
    totals.windowsEmitted += p.windowsEmitted
    const seqs = sequenceStatus(p)
    for (const key of SEQUENCE_KEYS) sequence[key] += seqs[key] ?? 0
    const l = owns(p.partition) ? lag?.get(p.partition) : undefined
    return {
      partition: p.partition,
      received: p.received,
      accepted: p.accepted,
      rejected: p.rejected,
      tooLate: p.tooLate,
      windowsEmitted: p.windowsEmitted,
      checkpointedSeq: p.checkpointedSeq,
      lastCheckpointAt: p.lastCheckpointAt,
      sequence: seqs,
      ...(l === undefined ? {} : { lag: l }),
      duplicates: p.duplicates,
      clockAhead: p.clockAhead,
      failures: p.failures,
      batches: p.batches,
      deviceMessages: p.deviceMessages,
      ...(p.failing === undefined || !owns(p.partition) ? {} : { failing: failingStatus(p.failing) })
    }
  })
  const clocks = deviceClocks(shown, options.now)
  return {
    node: node.name,
    versions: options.versions,
    startedAt: node.startedAt,
    uptimeMs: Math.max(0, options.now - node.startedAt),
    nats: node.natsUrl,
    ...(node.mqttUrl === undefined ? {} : { mqtt: node.mqttUrl }),
    ...(node.httpUrl === undefined ? {} : { http: node.httpUrl }),
    partitions,
    sensors: node.sensors.map((x) => ({
      device: x.device,
      reads: x.reads,
      readFailures: x.readFailures,
      consecutiveFailures: x.consecutiveFailures,
      published: x.published,
      dropped: x.dropped,
      buffered: x.buffered
    })),
    storage: {
      pointsWritten: s.pointsWritten,
      readingsWritten: s.readingsWritten,
      writes: s.writes,
      writeFailures: s.writeFailures,
      pointsRejected: s.pointsRejected,
      lastWriteMs: s.lastWriteMs,
      ...(s.unavailableSince === undefined ? {} : { unavailableSince: s.unavailableSince }),
      ...(s.lastError === undefined ? {} : { lastError: s.lastError }),
      ...(s.storedLag.count === 0 ? {} : {
        storedLag: { count: s.storedLag.count, p50: lagQuantile(s.storedLag, 0.5)!, p99: lagQuantile(s.storedLag, 0.99)!, max: s.storedLag.max }
      })
    },
    totals: { ...totals, sequence },
    rates: options.rates,
    ...(lag === undefined ? {} : { lag: sumLag(lag, owned) }),
    ...(node.forwarders === undefined || node.forwarders.length === 0 ? {} : { forwarders: node.forwarders.map(forwarderStatus) }),
    ...(node.ingest === undefined ? {} : { ingest: { ...node.ingest } }),
    ...(clocks.length === 0 ? {} : { clocks }),
    ...(node.clock === undefined ? {} : { clock: node.clock() }),
    ...(node.configVersion === undefined ? {} : { config: node.configVersion() })
  }
}

const failingStatus = (f: PartitionFailure): Admin.PartitionFailing => ({
  since: f.since,
  at: f.at,
  failures: f.failures,
  reason: f.reason,
  ...(f.seq === undefined ? {} : { seq: f.seq }),
  checkpointedSeq: f.checkpointedSeq
})

/** Devices listed in a status reply at most (the rest are in DEADLETTER, by reason). */
const MAX_CLOCKS = 50

const deviceClocks = (partitions: ReadonlyArray<PartitionStats>, now: number): Array<Admin.DeviceClock> =>
  partitions
    .flatMap((p) => p.clocks.list(now).map((c) => ({ ...c, partition: p.partition })))
    .sort((a, b) => b.at - a.at)
    .slice(0, MAX_CLOCKS)
    .map((c) => ({ device: c.device, partition: c.partition, skewMs: c.skewMs, refused: c.refused, reason: c.reason, at: c.at }))

const SEQUENCE_KEYS = ["gaps", "gapReadings", "lateFilled", "missing", "restarts", "duplicates", "recovered"] as const

/** What a partition's devices' seqs showed (../partition/SequenceGaps.ts). */
const sequenceStatus = (p: PartitionStats): Admin.SequenceStatus => {
  const c = p.sequence
  return {
    gaps: c.gaps,
    gapReadings: c.gapReadings,
    lateFilled: c.lateFilled,
    missing: Math.max(0, c.gapReadings - c.lateFilled),
    restarts: c.restarts,
    duplicates: c.duplicates,
    recovered: c.recovered
  }
}

const forwarderStatus = (f: ForwarderStats): Admin.ForwarderStatus => ({
  name: f.name,
  kind: f.kind,
  source: f.source,
  sent: f.sent,
  batches: f.batches,
  failures: f.failures,
  deadLettered: f.deadLettered,
  skipped: f.skipped,
  heldBack: f.heldBack,
  ...(f.lag === undefined ? {} : { lag: f.lag }),
  ...(f.unavailableSince === undefined ? {} : { unavailableSince: f.unavailableSince }),
  ...(f.lastError === undefined ? {} : { lastError: f.lastError })
})
