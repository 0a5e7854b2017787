/**
 * Gap detection: readings that never reached READINGS, found through the `seq` a device puts
 * in each reading (one count per device and sensor, +1 per reading; sensor actors send one).
 *
 * nats-server 2.9 PUBACKs an MQTT QoS 1 publish once its own `$MQTT_msgs` stream holds it,
 * but the copy for READINGS is a plain routed publish that a broken route loses (issue 14):
 * the device was told "stored" and the reading is gone. Bramble cannot undo that; it makes
 * the loss visible. Per (device, sensor) the partition worker keeps the highest seq seen,
 * and each gap becomes a `Gap` dead letter with the exact missing range, and counters in
 * `bramble status`, `/metrics` and the dashboard (docs/delivery-guarantees.md "Gap
 * detection" says what users are promised).
 *
 * The rule, per stream, for a reading with seq `s` and event time `ts` (`step`):
 * - the stream's first reading sets its baseline (what came before it is unknown);
 * - `s = high + 1`: in order; `s > high + 1`: a gap `high+1 .. s-1`, reported at once;
 * - `s ≤ high` and inside a reported range not yet filled: late-filled (reordered, not lost;
 *   the range stays reported, the late arrival is counted so `missing` goes down);
 * - `s ≤ high - RESTART_DISTANCE` with `ts` later than the newest reading's: the device
 *   restarted its count (a new baseline, counted as a restart — never a gap of 2^53);
 * - anything else `≤ high` is a duplicate (a retransmission): neither a gap nor a fill.
 * Reporting at once (rather than after a reordering delay) keeps the outcome a function of
 * the log alone, so a replay reports the same gap under the same dead-letter id.
 *
 * Restarts and lease moves: each device's state is saved in its checkpoint record, with its
 * window state and in the same write (`sequences` in ./Checkpoints.ts), and says up to which
 * READINGS sequence it is (`through`). A new run loads it on the device's first reading and
 * skips what it already covers — so a replay after a crash neither reports a gap twice nor
 * forgets one (the aggregator skips by the same position).
 */
import type { DeviceItem, DeviceSnapshot } from "@bramble/actor-aggregator"
import { encodeDeadLetter, type SequenceGap, Subjects } from "@bramble/protocol"
import type { NatsError } from "@bramble/nats"
import { Effect } from "effect"
import type { Checkpoints, DeviceRecord } from "./Checkpoints.js"

// ---------------------------------------------------------------------------------------
// One stream: the rule

/** How far a seq must fall below the highest seen, with a later event time, to be taken as
 * the device restarting its count. Smaller drops are late or duplicate readings: a sensor's
 * outbox and MQTT retransmissions reorder by at most a few hundred readings. */
export const RESTART_DISTANCE = 1_000

/** Reported ranges a stream remembers for late fills; beyond, the oldest are forgotten (a
 * late arrival in them then counts as a duplicate: `missing` errs towards too high; and MQTT
 * recovery no longer takes anything up to them as seen: `StreamState.forgotten`). */
export const MAX_OPEN_RANGES = 32

/** One (device, sensor) stream as checkpointed. */
export interface StreamState {
  /** Highest seq since the baseline or the last restart. */
  readonly high: number
  /** Event time of the reading that set `high`. */
  readonly highTs: number
  /** Reported ranges with seqs still missing, `[first, last]`, oldest report first. */
  readonly open: ReadonlyArray<readonly [number, number]>
  /** The highest seq of a range dropped from `open` (beyond `MAX_OPEN_RANGES`): what is
   * missing at or below it is no longer known, so `seen` says no for it. */
  readonly forgotten?: number
}

export type Outcome =
  | { readonly _tag: "First" }
  | { readonly _tag: "InOrder" }
  | { readonly _tag: "Gap"; readonly first: number; readonly last: number }
  | { readonly _tag: "LateFilled" }
  | { readonly _tag: "Duplicate" }
  | { readonly _tag: "Restart"; readonly previousHigh: number }

const FIRST: Outcome = { _tag: "First" }
const IN_ORDER: Outcome = { _tag: "InOrder" }
const LATE_FILLED: Outcome = { _tag: "LateFilled" }
const DUPLICATE: Outcome = { _tag: "Duplicate" }

/** The rule above: the stream's next state and what `seq` was. Pure; `maxOpen` is a parameter for tests. */
export const step = (
  state: StreamState | undefined,
  seq: number,
  ts: number,
  maxOpen: number = MAX_OPEN_RANGES
): readonly [StreamState, Outcome] => {
  if (state === undefined) return [{ high: seq, highTs: ts, open: [] }, FIRST]
  const { high, open } = state
  const forgotten = state.forgotten === undefined ? {} : { forgotten: state.forgotten }
  if (seq === high + 1) return [{ high: seq, highTs: ts, open, ...forgotten }, IN_ORDER]
  if (seq > high) {
    const gap: readonly [number, number] = [high + 1, seq - 1]
    const kept = maxOpen <= 0 ? [] : open.length < maxOpen ? open : open.slice(open.length - maxOpen + 1)
    const opened = maxOpen > 0 ? [...kept, gap] : []
    // Ranges dropped here are still missing, unknown from now on: remember how far they went.
    const dropped = [...open.slice(0, open.length - kept.length), ...(maxOpen > 0 ? [] : [gap])]
    const forgot = dropped.reduce((m, [, last]) => Math.max(m, last), state.forgotten ?? Number.NEGATIVE_INFINITY)
    return [
      { high: seq, highTs: ts, open: opened, ...(forgot === Number.NEGATIVE_INFINITY ? {} : { forgotten: forgot }) },
      { _tag: "Gap", first: gap[0], last: gap[1] }
    ]
  }
  const at = open.findIndex(([first, last]) => first <= seq && seq <= last)
  if (at >= 0) {
    const [first, last] = open[at]!
    const split: Array<readonly [number, number]> = []
    if (first < seq) split.push([first, seq - 1])
    if (seq < last) split.push([seq + 1, last])
    return [{ high, highTs: state.highTs, open: [...open.slice(0, at), ...split, ...open.slice(at + 1)], ...forgotten }, LATE_FILLED]
  }
  if (high - seq >= RESTART_DISTANCE && ts > state.highTs) {
    return [{ high: seq, highTs: ts, open: [] }, { _tag: "Restart", previousHigh: high }]
  }
  return [state, DUPLICATE]
}

// ---------------------------------------------------------------------------------------
// One device: its streams, as its checkpoint record holds them

/** What a device's checkpoint record holds about its seqs. */
export interface DeviceSequences {
  /** The READINGS sequence of the last reading of the device these states include. */
  readonly through: number
  readonly streams: Readonly<Record<string, StreamState>>
}

interface LiveDevice {
  through: number
  readonly streams: Map<string, StreamState>
}

const fromRecord = (record: DeviceRecord | undefined): LiveDevice => {
  const saved = record?.sequences
  if (saved !== undefined) return { through: saved.through, streams: new Map(Object.entries(saved.streams)) }
  // A record from before gap detection (or of a device that sent no seq): its readings up to
  // the position it covers were applied without being followed; the next one is a baseline.
  return { through: record?.seq ?? 0, streams: new Map() }
}

// StreamStates are never mutated (step returns new ones), so a shallow copy is a snapshot.
const toRecord = (live: LiveDevice): DeviceSequences => ({ through: live.through, streams: Object.fromEntries(live.streams) })

// ---------------------------------------------------------------------------------------
// One partition

/** A partition's counters of what the seqs showed (`PartitionStats.sequence`). They count
 * again what a replay after a crash goes over again, as the other counters do. */
export interface SequenceCounters {
  /** Gaps reported, one `Gap` dead letter each. */
  gaps: number
  /** Readings in those gaps when they were reported. */
  gapReadings: number
  /** Readings of reported gaps that arrived afterwards. */
  lateFilled: number
  /** MQTT readings put back into READINGS from `$MQTT_msgs` (./MqttRecovery.ts). */
  recovered: number
  restarts: number
  duplicates: number
}

export const makeSequenceCounters = (): SequenceCounters => ({ gaps: 0, gapReadings: 0, lateFilled: 0, restarts: 0, duplicates: 0, recovered: 0 })

/** The worker's publish: de-duplicated by `msgID`, awaited before the next checkpoint is saved. */
export type Publish = (subject: string, data: Uint8Array, msgID: string, streamSeq?: number) => void

export interface SequenceGaps {
  /**
   * Follows one batch's readings (each device's in log order, as the worker hands them to
   * the aggregators): dead-letters every gap through `publish` and counts into the stats.
   * A device's saved state is loaded the first time it is seen in this run.
   */
  readonly observe: (perDevice: ReadonlyMap<string, ReadonlyArray<DeviceItem>>) => Effect.Effect<void, NatsError>
  /**
   * Whether (device, sensor, seq) is known to be processed for good, as far as the last
   * durable checkpoint shows: at or below the stream's highest seq and in no reported range
   * still missing. Unknown streams and seqs above the highest are not known
   * (./MqttRecovery.ts). What this run observed since that checkpoint does not count: a
   * reading delivered from a replica's copy of READINGS that the next leader did not keep
   * (docs/cluster-formation.md) was seen by a run that then stopped; its replay reports it
   * missing — and recovery, told "seen", had already dropped the `$MQTT_msgs` copy that
   * could put it back.
   */
  readonly seen: (device: string, sensor: string, seq: number) => Effect.Effect<boolean, NatsError>
  /** The records `attach` gave are saved (their checkpoint is durable): `seen` answers from them. */
  readonly saved: (records: ReadonlyArray<readonly [string, DeviceRecord]>) => void
  /** The device records to save at a checkpoint: each snapshot with its device's seq state as of now. */
  readonly attach: (
    snapshots: ReadonlyArray<readonly [string, DeviceSnapshot]>
  ) => Effect.Effect<ReadonlyArray<readonly [string, DeviceRecord]>, NatsError>
}

/** The dead letter of one gap; its id is the READINGS sequence that revealed it, so a replay stores it once. */
export const gapDeadLetter = (partition: number, gap: SequenceGap, streamSeq: number, at: number) => {
  const range = gap.first === gap.last ? `seq ${gap.first} is` : `seqs ${gap.first}..${gap.last} (${gap.count}) are`
  return {
    subject: Subjects.deadLetterSubject("Gap"),
    data: encodeDeadLetter({
      reason: "Gap",
      message: `device ${gap.device} sensor ${gap.sensor}: readings with ${range} missing from the log ` +
        `(seq ${gap.revealedBy} arrived after ${gap.first - 1})`,
      subject: Subjects.readingsSubject(partition, gap.device, gap.sensor),
      streamSeq,
      at,
      payload: new Uint8Array(),
      gap
    }),
    msgID: `dl.Gap.${streamSeq}`
  }
}

/** Gap detection for one run of a partition worker. */
export const makeSequenceGaps = (options: {
  readonly partition: number
  readonly checkpoints: Checkpoints
  readonly stats: { readonly sequence: SequenceCounters }
  readonly publish: Publish
}): SequenceGaps => {
  const { partition, checkpoints, publish } = options
  const counters = options.stats.sequence
  const devices = new Map<string, LiveDevice>()
  // Each device's streams as its last durable record holds them (what `seen` answers from).
  const durable = new Map<string, ReadonlyMap<string, StreamState>>()

  // Each device's record is read once per run, when the device is first seen (a reading, or
  // a checkpoint of it): a record is only ever written whole, so a save must carry the seq
  // state over even for a device that sent no reading in this run.
  const load = (names: Iterable<string>) => {
    const unknown = [...names].filter((device) => !devices.has(device))
    return unknown.length === 0 ? Effect.void : Effect.forEach(unknown, (device) =>
      Effect.map(checkpoints.loadDevice(partition, device), (record) => {
        const live = fromRecord(record as DeviceRecord | undefined)
        devices.set(device, live)
        durable.set(device, new Map(live.streams))
      }), { concurrency: 64, discard: true })
  }

  const follow = (device: string, live: LiveDevice, items: ReadonlyArray<DeviceItem>, found: Array<SequenceGap>) => {
    for (const { reading, seq: streamSeq } of items) {
      // Already in the saved state: a replay after a crash or a move.
      if (streamSeq <= live.through) continue
      live.through = streamSeq
      if (reading.seq === undefined) continue
      const [next, outcome] = step(live.streams.get(reading.sensor), reading.seq, reading.ts)
      live.streams.set(reading.sensor, next)
      switch (outcome._tag) {
        case "Gap": {
          const gap: SequenceGap = {
            device,
            sensor: reading.sensor,
            first: outcome.first,
            last: outcome.last,
            count: outcome.last - outcome.first + 1,
            revealedBy: reading.seq
          }
          const letter = gapDeadLetter(partition, gap, streamSeq, Date.now())
          publish(letter.subject, letter.data, letter.msgID, streamSeq)
          counters.gaps += 1
          counters.gapReadings += gap.count
          found.push(gap)
          break
        }
        case "LateFilled":
          counters.lateFilled += 1
          break
        case "Duplicate":
          counters.duplicates += 1
          break
        case "Restart":
          counters.restarts += 1
          break
      }
    }
  }

  const observe = (perDevice: ReadonlyMap<string, ReadonlyArray<DeviceItem>>) =>
    Effect.flatMap(Effect.suspend(() => load(perDevice.keys())), () => {
      const found: Array<SequenceGap> = []
      for (const [device, items] of perDevice) follow(device, devices.get(device)!, items, found)
      if (found.length === 0) return Effect.void
      // One line per batch, not per gap: a partition cut off for a while reveals many at once.
      const g = found[0]!
      return Effect.logWarning(
        `partition ${partition}: ${found.length} gap(s) in device seqs, ${found.reduce((n, x) => n + x.count, 0)} reading(s) missing ` +
          `(first: ${g.device}/${g.sensor} ${g.first}..${g.last}); dead-lettered as Gap`
      )
    })

  const attach = (snapshots: ReadonlyArray<readonly [string, DeviceSnapshot]>) =>
    // A device can be saved without a reading in this run (a watermark advance closed its
    // windows): load it, so its record keeps the seq state it had.
    Effect.map(Effect.suspend(() => load(snapshots.map(([device]) => device))), () =>
      snapshots.map(([device, snapshot]): readonly [string, DeviceRecord] => {
        const live = devices.get(device)!
        // Without streams there is nothing to keep: loading such a record starts from its
        // `seq`, the position the aggregator's snapshot covers, which is this run's `through`.
        return live.streams.size === 0 ? [device, snapshot] : [device, { ...snapshot, sequences: toRecord(live) }]
      }))

  const seen = (device: string, sensor: string, seq: number) =>
    Effect.map(Effect.suspend(() => load([device])), () => {
      const state = durable.get(device)?.get(sensor)
      if (state === undefined || seq > state.high) return false
      // A seq in a forgotten range may be missing: not known (recovery puts it back; a
      // reading put back twice is harmless, one dropped is lost).
      if (state.forgotten !== undefined && seq <= state.forgotten) return false
      return !state.open.some(([first, last]) => first <= seq && seq <= last)
    })

  const saved = (records: ReadonlyArray<readonly [string, DeviceRecord]>) => {
    for (const [device, record] of records) {
      if (record.sequences !== undefined) durable.set(device, new Map(Object.entries(record.sequences.streams)))
    }
  }

  return { observe, attach, seen, saved }
}
