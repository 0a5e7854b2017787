/**
 * Gap detection in device seqs (../src/partition/SequenceGaps.ts): the rule on one stream,
 * checked by example and by property against two independent oracles — the publisher's own
 * record (which seqs it dropped, duplicated and reordered) and a set-based model of the
 * rule — and, for a partition, the Gap dead letters, the counters, and a replay after a
 * crash that reports exactly what an uninterrupted run reports.
 */
import { assert, describe, it } from "@effect/vitest"
import type { DeviceItem, DeviceSnapshot } from "@bramble/actor-aggregator"
import { readDeadLetter, type Reading, type SequenceGap, Subjects } from "@bramble/protocol"
import { Effect } from "effect"
import fc from "fast-check"
import type { Checkpoints, DeviceRecord } from "../src/partition/Checkpoints.js"
import {
  makeSequenceCounters,
  MAX_OPEN_RANGES,
  makeSequenceGaps,
  type Outcome,
  RESTART_DISTANCE,
  type StreamState,
  step
} from "../src/partition/SequenceGaps.js"

/** Runs arrivals `[seq, ts]` through `step`, with no cap on remembered ranges unless given. */
const run = (arrivals: ReadonlyArray<readonly [number, number]>, maxOpen = Number.POSITIVE_INFINITY) => {
  let state: StreamState | undefined
  const outcomes: Array<Outcome> = []
  for (const [seq, ts] of arrivals) {
    const [next, outcome] = step(state, seq, ts, maxOpen)
    state = next
    outcomes.push(outcome)
  }
  return { state, outcomes }
}

const tags = (outcomes: ReadonlyArray<Outcome>) => outcomes.map((o) => o._tag === "Gap" ? `Gap ${o.first}..${o.last}` : o._tag)

/** Arrivals with event times increasing by one second per arrival. */
const inTime = (seqs: ReadonlyArray<number>, t0 = 1_700_000_000_000) => seqs.map((seq, i) => [seq, t0 + i * 1000] as const)

describe("SequenceGaps - the rule on one stream", () => {
  it("in order from any first seq - no gap", () => {
    assert.deepStrictEqual(tags(run(inTime([7, 8, 9, 10])).outcomes), ["First", "InOrder", "InOrder", "InOrder"])
  })

  it("a skipped range is reported once, at the first higher seq, with its exact bounds", () => {
    assert.deepStrictEqual(tags(run(inTime([1, 2, 5, 6, 10])).outcomes), ["First", "InOrder", "Gap 3..4", "InOrder", "Gap 7..9"])
  })

  it("a late arrival inside a reported range is late-filled, once; again it is a duplicate", () => {
    const { outcomes, state } = run(inTime([1, 5, 3, 3, 2, 4, 6]))
    assert.deepStrictEqual(tags(outcomes), ["First", "Gap 2..4", "LateFilled", "Duplicate", "LateFilled", "LateFilled", "InOrder"])
    assert.deepStrictEqual(state!.open, [])
  })

  it("a late fill splits its range: the rest stays open", () => {
    const { state } = run(inTime([1, 10, 5]))
    assert.deepStrictEqual(state!.open, [[2, 4], [6, 9]])
  })

  it("the same seq twice is a duplicate, not a gap", () => {
    assert.deepStrictEqual(tags(run(inTime([1, 2, 2, 3, 1])).outcomes), ["First", "InOrder", "Duplicate", "InOrder", "Duplicate"])
  })

  it("a device restarting its count (a big drop, later event time) is a restart, never a gap of 2^53", () => {
    const { outcomes, state } = run(inTime([1, 2_000, 1, 2, 4]))
    assert.deepStrictEqual(tags(outcomes), ["First", "Gap 2..1999", "Restart", "InOrder", "Gap 3..3"])
    assert.deepStrictEqual(state!.open, [[3, 3]], "a restart forgets the old ranges")
    const huge = run(inTime([Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER, 0, 1]))
    assert.deepStrictEqual(tags(huge.outcomes), ["First", "InOrder", "Restart", "InOrder"])
  })

  it("a big drop with an older event time is a straggler (duplicate), not a restart", () => {
    const arrivals: Array<readonly [number, number]> = [[1, 1_000], [5_000, 5_000_000], [4_000, 4_000_000], [5_001, 5_001_000]]
    // 4,000 is inside the reported range 2..4,999: late-filled, not a restart.
    assert.deepStrictEqual(tags(run(arrivals).outcomes), ["First", "Gap 2..4999", "LateFilled", "InOrder"])
    // A seq below the baseline, stamped before the newest reading: neither.
    assert.deepStrictEqual(tags(run([[3_000, 3_000_000], [3_001, 3_001_000], [1, 1_000]]).outcomes), ["First", "InOrder", "Duplicate"])
  })

  it("a small drop is never a restart (reordering and retransmission stay below the distance)", () => {
    const seqs = [1, RESTART_DISTANCE, 1]
    assert.deepStrictEqual(tags(run(inTime(seqs)).outcomes), ["First", `Gap 2..${RESTART_DISTANCE - 1}`, "Duplicate"])
  })

  it("beyond the cap of remembered ranges the oldest is forgotten (its late arrival counts as a duplicate)", () => {
    const { outcomes, state } = run(inTime([1, 3, 5, 7, 2, 6]), 2)
    assert.deepStrictEqual(tags(outcomes), ["First", "Gap 2..2", "Gap 4..4", "Gap 6..6", "Duplicate", "LateFilled"])
    assert.deepStrictEqual(state!.open, [[4, 4]])
    assert.strictEqual(state!.forgotten, 2, "the forgotten range is remembered as unknown")
  })
})

// ---------------------------------------------------------------------------------------
// Oracle 1: the publisher's record

interface Published {
  /** What reached the log, in arrival order, with event times. */
  readonly arrivals: ReadonlyArray<readonly [number, number]>
  /** Seqs the publisher sent that never arrived, per epoch (a device restart starts a new one). */
  readonly dropped: ReadonlyArray<ReadonlySet<number>>
  /** Arrivals of a seq already delivered in its epoch. */
  readonly extraCopies: number
}

/**
 * One epoch of a device: seqs 1..n, the first and last delivered, others dropped with the
 * given flags, some delivered twice, then neighbours swapped within `reorder` positions.
 */
const epoch = (n: number, reorder: number) =>
  fc.record({
    drop: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
    dup: fc.array(fc.nat({ max: 9 }), { minLength: n, maxLength: n }),
    swaps: fc.array(fc.tuple(fc.nat({ max: n * 2 }), fc.integer({ min: 1, max: reorder })), { maxLength: n })
  }).map(({ drop, dup, swaps }) => {
    const dropped = new Set<number>()
    const order: Array<number> = []
    for (let seq = 1; seq <= n; seq++) {
      if (seq !== 1 && seq !== n && drop[seq - 1]) dropped.add(seq)
      else order.push(seq)
    }
    let extraCopies = 0
    for (let seq = 1; seq <= n; seq++) {
      // A retransmission a few places after the original.
      if (dup[seq - 1] === 0 && !dropped.has(seq)) {
        order.splice(Math.min(order.length, order.indexOf(seq) + 1 + (seq % 5)), 0, seq)
        extraCopies += 1
      }
    }
    // Reorder, keeping the first arrival first (it sets the baseline) and the last last.
    for (const [at, by] of swaps) {
      const i = 1 + (at % Math.max(1, order.length - 2))
      const j = Math.min(order.length - 2, i + by)
      if (i < j) [order[i], order[j]] = [order[j]!, order[i]!]
    }
    return { order, dropped, extraCopies }
  })

/** Counts and ranges of a run. */
const summary = (outcomes: ReadonlyArray<Outcome>) => {
  const gaps = outcomes.flatMap((o) => o._tag === "Gap" ? [o] : [])
  const count = (tag: Outcome["_tag"]) => outcomes.filter((o) => o._tag === tag).length
  return {
    gaps,
    gapReadings: gaps.reduce((n, g) => n + g.last - g.first + 1, 0),
    lateFilled: count("LateFilled"),
    duplicates: count("Duplicate"),
    restarts: count("Restart")
  }
}

describe("SequenceGaps - against the publisher's record", () => {
  it("every dropped seq is inside exactly one reported range; reported minus late-filled is exactly what was dropped", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 120 }).chain((n) => epoch(n, 8)), ({ order, dropped, extraCopies }) => {
        const published: Published = { arrivals: inTime(order), dropped: [dropped], extraCopies }
        const { outcomes } = run(published.arrivals)
        const s = summary(outcomes)
        const reported: Array<number> = s.gaps.flatMap((g) => Array.from({ length: g.last - g.first + 1 }, (_, k) => g.first + k))
        assert.strictEqual(new Set(reported).size, reported.length, "reported ranges overlap")
        for (const seq of dropped) assert.include(reported, seq, `dropped seq ${seq} not reported`)
        assert.strictEqual(s.gapReadings - s.lateFilled, dropped.size, "still missing = dropped")
        assert.strictEqual(s.duplicates, extraCopies)
        assert.strictEqual(s.restarts, 0)
        // Late-filled are exactly the reported seqs that did arrive.
        assert.strictEqual(s.lateFilled, reported.filter((seq) => !dropped.has(seq)).length)
      }),
      { numRuns: 500 }
    )
  })

  it("a device that restarts its count: one restart, and each epoch's drops reported, none across the restart", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: RESTART_DISTANCE + 2, max: RESTART_DISTANCE + 60 }).chain((n) => epoch(n, 5)),
        fc.integer({ min: 2, max: 60 }).chain((n) => epoch(n, 5)),
        (first, second) => {
          // The second epoch is stamped after the first (the device kept its clock).
          const arrivals = inTime([...first.order, ...second.order])
          const s = summary(run(arrivals).outcomes)
          assert.strictEqual(s.restarts, 1)
          assert.strictEqual(s.gapReadings - s.lateFilled, first.dropped.size + second.dropped.size)
          assert.strictEqual(s.duplicates, first.extraCopies + second.extraCopies)
          const maxFirst = Math.max(...first.order)
          for (const g of s.gaps) assert.isTrue(g.last <= maxFirst, `no gap spans the restart: ${g.first}..${g.last}`)
        }
      ),
      { numRuns: 200 }
    )
  })
})

// ---------------------------------------------------------------------------------------
// Oracle 2: the rule over sets of seqs, for any input

/** The rule of SequenceGaps.ts's header, computed over explicit sets of seqs. */
const oracle = (arrivals: ReadonlyArray<readonly [number, number]>): Array<string> => {
  let started = false
  let high = 0
  let highTs = 0
  const missing = new Set<number>()
  const out: Array<string> = []
  for (const [seq, ts] of arrivals) {
    if (!started) {
      started = true
      high = seq
      highTs = ts
      out.push("First")
    } else if (seq > high) {
      out.push(seq === high + 1 ? "InOrder" : `Gap ${high + 1}..${seq - 1}`)
      for (let s = high + 1; s < seq; s++) missing.add(s)
      high = seq
      highTs = ts
    } else if (missing.delete(seq)) {
      out.push("LateFilled")
    } else if (high - seq >= RESTART_DISTANCE && ts > highTs) {
      out.push("Restart")
      missing.clear()
      high = seq
      highTs = ts
    } else {
      out.push("Duplicate")
    }
  }
  return out
}

describe("SequenceGaps - against a set-based model of the rule", () => {
  it("any arrivals (jumps, drops, restarts, stragglers, duplicates) give the model's outcomes", () => {
    const arrival = fc.tuple(fc.oneof(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 3 * RESTART_DISTANCE })), fc.integer({ min: 0, max: 100 }))
    fc.assert(
      fc.property(fc.array(arrival, { maxLength: 80 }), (arrivals) => {
        assert.deepStrictEqual(tags(run(arrivals).outcomes), oracle(arrivals))
      }),
      { numRuns: 1_000 }
    )
  })
})

// ---------------------------------------------------------------------------------------
// A partition: dead letters, counters, checkpoints, replay

/** Device records in memory, as the KV bucket holds them. */
const memoryCheckpoints = () => {
  const records = new Map<string, DeviceRecord>()
  const checkpoints: Checkpoints = {
    loadPartition: () => Effect.succeed(undefined),
    loadDevice: (_partition, device) => Effect.sync(() => structuredClone(records.get(device))),
    saveDevices: (_partition, devices) => Effect.sync(() => devices.forEach(([device, record]) => records.set(device, structuredClone(record)))),
    savePartition: () => Effect.void,
    listDevices: () => Effect.sync(() => [...records.keys()])
  }
  return { records, checkpoints }
}

interface Logged {
  readonly streamSeq: number
  readonly reading: Reading
}

const T0 = 1_700_000_000_000

/** A log of readings: device `d<k>` sensor `env`, each device's seqs in order. */
const logOf = (perDevice: Record<string, ReadonlyArray<number>>): Array<Logged> => {
  const log: Array<Logged> = []
  const longest = Math.max(...Object.values(perDevice).map((s) => s.length))
  for (let i = 0; i < longest; i++) {
    for (const [device, seqs] of Object.entries(perDevice)) {
      const seq = seqs[i]
      if (seq !== undefined) log.push({ streamSeq: log.length + 1, reading: { device, sensor: "env", ts: T0 + i * 1000, seq, values: { t: seq } } })
    }
  }
  return log
}

/** One worker run over `log` from `fromStreamSeq`, checkpointing (attach + save) after `checkpointAt` if given. */
const workerRun = (options: {
  readonly log: ReadonlyArray<Logged>
  readonly checkpoints: Checkpoints
  readonly fromStreamSeq: number
  readonly batch: number
  readonly checkpointAt?: number
}) =>
  Effect.gen(function*() {
    const published: Array<{ subject: string; msgID: string; gap: SequenceGap; streamSeq: number }> = []
    const stats = { sequence: makeSequenceCounters() }
    const gaps = makeSequenceGaps({
      partition: 3,
      checkpoints: options.checkpoints,
      stats,
      publish: (subject, data, msgID) => {
        const entry = readDeadLetter(data)
        assert.strictEqual(entry.reason, "Gap")
        published.push({ subject, msgID, gap: entry.gap!, streamSeq: entry.streamSeq! })
      }
    })
    const rest = options.log.filter((l) => l.streamSeq > options.fromStreamSeq)
    for (let i = 0; i < rest.length; i += options.batch) {
      const batch = rest.slice(i, i + options.batch)
      const perDevice = new Map<string, Array<DeviceItem>>()
      for (const { streamSeq, reading } of batch) {
        const items = perDevice.get(reading.device) ?? []
        items.push({ reading, seq: streamSeq, watermark: 0 })
        perDevice.set(reading.device, items)
      }
      yield* gaps.observe(perDevice)
      const last = batch[batch.length - 1]!.streamSeq
      if (options.checkpointAt !== undefined && last >= options.checkpointAt && last - batch.length < options.checkpointAt) {
        // The aggregator's snapshot of every device seen, covering the same position.
        const snapshots = [...new Set(options.log.filter((l) => l.streamSeq <= last).map((l) => l.reading.device))].map(
          (device) => [device, { seq: Math.max(...options.log.filter((l) => l.reading.device === device && l.streamSeq <= last).map((l) => l.streamSeq)), windows: [] } as DeviceSnapshot] as const
        )
        yield* options.checkpoints.saveDevices(3, yield* gaps.attach(snapshots))
      }
    }
    return { published, counters: stats.sequence }
  })

describe("SequenceGaps - a partition", () => {
  it.effect("each gap is one Gap dead letter naming device, sensor and the exact range, under an id from its stream sequence", () =>
    Effect.gen(function*() {
      const { checkpoints } = memoryCheckpoints()
      const log = logOf({ a: [1, 2, 5, 6, 9], b: [10, 11, 12], c: [1, 3, 2] })
      const { published, counters } = yield* workerRun({ log, checkpoints, fromStreamSeq: 0, batch: 4 })
      assert.deepStrictEqual(published.map((p) => [p.subject, p.gap.device, p.gap.sensor, p.gap.first, p.gap.last, p.gap.count, p.gap.revealedBy]), [
        // Batch 5..8 holds c's seq 3 (stream 6) and a's seq 5 (stream 7).
        [Subjects.deadLetterSubject("Gap"), "c", "env", 2, 2, 1, 3],
        [Subjects.deadLetterSubject("Gap"), "a", "env", 3, 4, 2, 5],
        [Subjects.deadLetterSubject("Gap"), "a", "env", 7, 8, 2, 9]
      ])
      for (const p of published) assert.strictEqual(p.msgID, `dl.Gap.${p.streamSeq}`)
      assert.deepStrictEqual(counters, { gaps: 3, gapReadings: 5, lateFilled: 1, restarts: 0, duplicates: 0, recovered: 0 })
    }))

  it.effect("readings without seq are not followed", () =>
    Effect.gen(function*() {
      const { checkpoints, records } = memoryCheckpoints()
      const log = logOf({ a: [1, 2, 3] }).map((l) => ({ ...l, reading: { device: l.reading.device, sensor: l.reading.sensor, ts: l.reading.ts, values: l.reading.values } }))
      const { published } = yield* workerRun({ log, checkpoints, fromStreamSeq: 0, batch: 2, checkpointAt: 3 })
      assert.deepStrictEqual(published, [])
      assert.isUndefined(records.get("a")?.sequences, "nothing to keep for a device without seq")
    }))

  it.effect("a crash after a checkpoint: the replay reports exactly the gaps an uninterrupted run reports, under the same ids", () =>
    Effect.gen(function*() {
      const log = logOf({ a: [1, 2, 4, 5, 8, 9, 10, 14], b: [1, 3, 4, 7, 6, 5, 9], c: [100, 101, 1_500, 1_200, 1, 2, 4] })
      const whole = yield* workerRun({ log, checkpoints: memoryCheckpoints().checkpoints, fromStreamSeq: 0, batch: 3 })
      for (const checkpointAt of [1, 5, 9, 12, 17, 21]) {
        for (const replayFrom of [0, Math.max(0, checkpointAt - 4), checkpointAt]) {
          // Run 1 checkpoints the devices at `checkpointAt`, reads on, and crashes at the end of the
          // log; the partition record it managed to save is older (`replayFrom` ≤ the devices').
          const { checkpoints, records } = memoryCheckpoints()
          const first = yield* workerRun({ log, checkpoints, fromStreamSeq: 0, batch: 3, checkpointAt })
          assert.isAbove(records.size, 0)
          const second = yield* workerRun({ log, checkpoints, fromStreamSeq: replayFrom, batch: 3 })
          // What reaches DEADLETTER: both runs' letters, de-duplicated by msgID.
          const stored = new Map([...first.published, ...second.published].map((p) => [p.msgID, p.gap]))
          assert.deepStrictEqual([...stored].sort(), whole.published.map((p) => [p.msgID, p.gap] as const).sort(), `checkpoint at ${checkpointAt}, replay from ${replayFrom}`)
          // The replay reports nothing the checkpoint already covered (up to the end of the batch
          // holding `checkpointAt`), and misses nothing after it.
          const covered = Math.min(log.length, Math.ceil(checkpointAt / 3) * 3)
          const after = whole.published.filter((p) => p.streamSeq > covered).map((p) => p.msgID)
          assert.deepStrictEqual(second.published.map((p) => p.msgID), after)
          // The log holds no duplicate: a replay that took a covered reading again would count one.
          assert.strictEqual(whole.counters.duplicates, 0)
          assert.strictEqual(second.counters.duplicates, 0, `checkpoint at ${checkpointAt}, replay from ${replayFrom}`)
        }
      }
    }))

  it.effect("any log, batch size and crash point: the replay's dead letters and the first run's together are exactly an uninterrupted run's", () =>
    Effect.gen(function*() {
      const seqs = fc.array(fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 40 }) }, { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 3_000 }) }), { minLength: 1, maxLength: 25 })
      const scenario = fc.record({
        perDevice: fc.dictionary(fc.constantFrom("a", "b", "c", "d"), seqs, { minKeys: 1 }),
        batch: fc.integer({ min: 1, max: 7 }),
        at: fc.nat(),
        back: fc.nat()
      })
      const samples = fc.sample(scenario, { numRuns: 300, seed: 14 })
      for (const { perDevice, batch, at, back } of samples) {
        const log = logOf(perDevice)
        const checkpointAt = 1 + (at % log.length)
        // The device records cover the end of the batch holding `checkpointAt`; the partition
        // record the crash left may be older, down to the start of the log.
        const covered = Math.min(log.length, Math.ceil(checkpointAt / batch) * batch)
        const replayFrom = covered - (back % (covered + 1))
        const whole = yield* workerRun({ log, checkpoints: memoryCheckpoints().checkpoints, fromStreamSeq: 0, batch })
        const { checkpoints } = memoryCheckpoints()
        const first = yield* workerRun({ log, checkpoints, fromStreamSeq: 0, batch, checkpointAt })
        const second = yield* workerRun({ log, checkpoints, fromStreamSeq: replayFrom, batch })
        const what = JSON.stringify({ perDevice, batch, checkpointAt, replayFrom })
        const stored = new Map([...first.published, ...second.published].map((p) => [p.msgID, p.gap]))
        const byId = (a: readonly [string, unknown], b: readonly [string, unknown]) => a[0].localeCompare(b[0])
        const union = [...stored].sort(byId)
        const expected = whole.published.map((p) => [p.msgID, p.gap] as const).sort(byId)
        assert.deepStrictEqual(union, expected, what)
        // (Within a batch letters go out device by device, so the order depends on where batches start.)
        assert.deepStrictEqual(
          second.published.map((p) => p.msgID).sort(),
          whole.published.filter((p) => p.streamSeq > covered).map((p) => p.msgID).sort(),
          what
        )
      }
    }))

  it.effect("a device checkpointed without a reading in this run keeps its seq state", () =>
    Effect.gen(function*() {
      const { checkpoints, records } = memoryCheckpoints()
      const log = logOf({ a: [1, 2, 3] })
      yield* workerRun({ log, checkpoints, fromStreamSeq: 0, batch: 3, checkpointAt: 3 })
      const saved = records.get("a")!.sequences
      assert.deepStrictEqual(saved, { through: 3, streams: { env: { high: 3, highTs: T0 + 2000, open: [] } } })
      // A new run saves "a" (its windows closed by a watermark advance) before any reading of it.
      const gaps = makeSequenceGaps({ partition: 3, checkpoints, stats: { sequence: makeSequenceCounters() }, publish: () => assert.fail("no gap") })
      const attached = yield* gaps.attach([["a", { seq: 3, windows: [] }]])
      assert.deepStrictEqual(attached[0]![1].sequences, saved)
    }))

  it.effect("seen: once durable, a seq at or below the highest and in no open range is known to be in the log; a gap's seqs, higher seqs and unknown streams are not (MQTT recovery)", () =>
    Effect.gen(function*() {
      const { checkpoints } = memoryCheckpoints()
      const gaps = makeSequenceGaps({ partition: 3, checkpoints, stats: { sequence: makeSequenceCounters() }, publish: () => undefined })
      const items = (seqs: ReadonlyArray<number>): ReadonlyArray<DeviceItem> =>
        seqs.map((seq, i) => ({ reading: { device: "a", sensor: "env", ts: T0 + seq * 1000, seq, values: { t: seq } }, seq: i + 1, watermark: 0 }))
      yield* gaps.observe(new Map([["a", items([1, 2, 3, 7, 8, 5])]]))
      const seen = (seq: number, sensor = "env", device = "a") => gaps.seen(device, sensor, seq)
      // Observed, not yet checkpointed: the run may stop and its replay find the log without
      // them, so none is known yet.
      assert.deepStrictEqual(yield* Effect.all([1, 2, 3, 5, 7, 8].map((n) => seen(n))), [false, false, false, false, false, false])
      gaps.saved(yield* gaps.attach([["a", { seq: 6, windows: [] }]]))
      assert.deepStrictEqual(yield* Effect.all([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => seen(n))), [true, true, true, false, true, false, true, true, false])
      assert.isFalse(yield* seen(1, "other"))
      assert.isFalse(yield* seen(1, "env", "b"))
    }))

  it.effect("seen: seqs up to a range forgotten beyond the cap are not known (MQTT recovery puts them back rather than dropping a missing one)", () =>
    Effect.gen(function*() {
      const { checkpoints } = memoryCheckpoints()
      const gaps = makeSequenceGaps({ partition: 3, checkpoints, stats: { sequence: makeSequenceCounters() }, publish: () => undefined })
      // MAX_OPEN_RANGES + 1 gaps of one seq each: 2, 4, 6, …; the first is dropped from memory.
      const seqs = Array.from({ length: MAX_OPEN_RANGES + 2 }, (_, i) => 2 * i + 1)
      const items = seqs.map((seq, i): DeviceItem => ({ reading: { device: "a", sensor: "env", ts: T0 + seq * 1000, seq, values: { t: seq } }, seq: i + 1, watermark: 0 }))
      yield* gaps.observe(new Map([["a", items]]))
      gaps.saved(yield* gaps.attach([["a", { seq: items.length, windows: [] }]]))
      assert.isFalse(yield* gaps.seen("a", "env", 2), "missing, and its range forgotten: not seen")
      assert.isFalse(yield* gaps.seen("a", "env", 1), "at or below the forgotten range: not known either")
      assert.isFalse(yield* gaps.seen("a", "env", 4), "missing, its range remembered")
      assert.isTrue(yield* gaps.seen("a", "env", 5))
    }))
})
