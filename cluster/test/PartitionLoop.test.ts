/**
 * The partition loop (../src/partition/PartitionWorker.ts `runPartitionOn`) on an in-memory
 * log, checkpoint store, storage actor and publisher (./MemoryPartition.ts): the hot path of
 * the product, without servers. What a partition must keep: order, acknowledgement only of
 * what a checkpoint made durable, no write once fenced off, and a bad message that harms
 * nothing else.
 */
import type { WindowSpec } from "@bramble/actor-aggregator"
import { assert, describe, it } from "@effect/vitest"
import { readDeadLetter, Subjects } from "@bramble/protocol"
import { Clock, Deferred, Effect, Exit, Fiber } from "effect"
import { Fence } from "../src/ownership/Fence.js"
import { fencedStorage } from "../src/ownership/OwnedPorts.js"
import { makePartitionStats, type PartitionStats } from "../src/partition/PartitionStats.js"
import { type PartitionSettings, runPartitionOn } from "../src/partition/PartitionWorker.js"
import type { StoragePort } from "../src/partition/Ports.js"
import { MemoryCheckpoints, MemoryLog, MemoryPublisher, MemoryStorage, payload, settings } from "./MemoryPartition.js"
import { eventually } from "../../test/support/Eventually.js"

const T0 = 1_700_000_000_000
const subject = (device: string) => Subjects.readingsSubject(0, device, "env")

interface Surroundings {
  readonly log: MemoryLog
  readonly checkpoints: MemoryCheckpoints
  readonly storage: MemoryStorage
  readonly publisher: MemoryPublisher
}

const surroundings = (): Surroundings => ({
  log: new MemoryLog(),
  checkpoints: new MemoryCheckpoints(),
  storage: new MemoryStorage(),
  publisher: new MemoryPublisher()
})

/** Starts a run of partition 0's worker; interrupted with the test's scope. */
const start = (
  s: Surroundings,
  stats: PartitionStats = makePartitionStats(0),
  storage: StoragePort = s.storage,
  tuned: Partial<PartitionSettings> = {},
  windows: ReadonlyArray<WindowSpec> = [{ name: "1s", size: 1_000 }]
) =>
  Effect.forkScoped(Effect.scoped(runPartitionOn({
    partition: 0,
    settings: { ...settings, ...tuned },
    windows,
    checkpoints: s.checkpoints,
    storage,
    stats,
    source: s.log,
    publisher: s.publisher
  })))

/** Appends `n` readings of each device, interleaved, 250 ms apart in event time. */
const appendReadings = (log: MemoryLog, devices: ReadonlyArray<string>, n: number, from = 0) => {
  for (let i = from; i < from + n; i++) {
    for (const [d, device] of devices.entries()) log.append(subject(device), payload(T0 + i * 250, i * 10 + d), T0 + i * 250 + 5)
  }
}

/** Waits until the log is acknowledged through `seq` (a checkpoint covered it). */
const ackedThrough = (log: MemoryLog, seq: number) => eventually(`ack through ${seq}`, async () => (log.acked >= seq ? true : undefined), { timeoutMs: 20_000 })

/** A run that checkpoints a@0–750, then meets `fault` with a@1000–1750 to read: how it ended. */
const runThatFails = (s: Surroundings, stats: PartitionStats, fault: () => void) =>
  Effect.gen(function*() {
    appendReadings(s.log, ["a"], 4)
    const first = yield* start(s, stats)
    yield* ackedThrough(s.log, 4)
    fault()
    appendReadings(s.log, ["a"], 4, 4)
    return yield* Fiber.await(first)
  })

describe("partition loop", () => {
  it.live("ordering - readings stored in log order, one storage message per batch, windows per device in order; a new run resumes after the checkpoint", () =>
    Effect.gen(function*() {
      const s = surroundings()
      const devices = ["a", "b", "c"]
      appendReadings(s.log, devices, 8)
      const first = yield* start(s)
      yield* ackedThrough(s.log, 24)
      appendReadings(s.log, devices, 12, 8)
      // A message delivered again (a slow consumer's redelivery) is applied once.
      s.log.redeliver(5)
      yield* ackedThrough(s.log, 60)
      assert.strictEqual(s.checkpoints.seq(0), 60)

      const expected = s.log.messages.map((m) => m.subject.split(".")[2] + "@" + JSON.parse(new TextDecoder().decode(m.data)).ts)
      assert.deepStrictEqual(s.storage.readings.map((r) => `${r.device}@${r.ts}`), expected)
      assert.isAtMost(s.storage.readingMessages, 20, "readings go to storage a batch at a time")
      // Event times 0..4.75 s: the windows starting at 0, 1, 2 and 3 s closed, 4 readings each.
      for (const device of devices) {
        const windows = s.storage.windows.filter((w) => w.device === device)
        assert.deepStrictEqual(windows.map((w) => [w.start - T0, w.count]), [[0, 4], [1_000, 4], [2_000, 4], [3_000, 4]], device)
      }
      // Published to AGGREGATES too, and each window's forecast both published and stored.
      const published = s.publisher.subjects("aggregates.")
      assert.strictEqual(published.filter((p) => !p.endsWith(".forecast")).length, 12)
      assert.isAbove(s.storage.forecasts.length, 0)
      assert.strictEqual(published.filter((p) => p.endsWith(".forecast")).length, s.storage.forecasts.length)

      // A second run (a restart, a new owner) starts after the checkpoint: nothing twice.
      yield* Fiber.interrupt(first)
      appendReadings(s.log, devices, 4, 20)
      const stored = s.storage.readings.length
      yield* start(s)
      yield* ackedThrough(s.log, 72)
      assert.strictEqual(s.log.opens.at(-1), 60)
      assert.strictEqual(s.storage.readings.length, stored + 12)
      assert.deepStrictEqual(s.storage.readings.slice(stored).map((r) => r.ts - T0), [5_000, 5_000, 5_000, 5_250, 5_250, 5_250, 5_500, 5_500, 5_500, 5_750, 5_750, 5_750])
    }))

  it.live("poison in a batch - each bad message dead-lettered with its reason, the rest of the batch stored, the partition goes on", () =>
    Effect.gen(function*() {
      const s = surroundings()
      const stats = makePartitionStats(0)
      s.log.append(subject("a"), payload(T0, 1), T0 + 5)
      s.log.append("readings.0.a b.env", payload(T0 + 1, 2), T0 + 5)
      s.log.append(subject("a"), new Uint8Array([0xc1, 0xff, 0x00]), T0 + 5)
      s.log.append(subject("a"), payload(T0 + 2 * 3_600_000, 3), T0 + 5)
      s.log.append(subject("b"), payload(T0 + 2, 4), T0 + 5)
      yield* start(s, stats)
      yield* ackedThrough(s.log, 5)
      assert.deepStrictEqual(s.storage.readings.map((r) => [r.device, r.values["t"]]), [["a", 1], ["b", 4]])
      const letters = [...s.publisher.published.values()].filter((p) => p.subject.startsWith("deadletter.")).map((p) => readDeadLetter(p.data))
      assert.deepStrictEqual(letters.map((l) => [l.streamSeq, l.reason]).sort(), [[2, "BadSubject"], [3, "MalformedMsgpack"], [4, "ClockAhead"]])
      assert.strictEqual(stats.received, 5)
      assert.strictEqual(stats.rejected, 3)
      assert.strictEqual(stats.accepted, 2)
      // And the next good reading still goes through.
      s.log.append(subject("a"), payload(T0 + 3, 5), T0 + 5)
      yield* ackedThrough(s.log, 6)
      assert.deepStrictEqual(s.storage.readings.map((r) => r.values["t"]), [1, 4, 5])
    }))

  it.live("a checkpoint that fails - the run fails and says why, nothing past the last good checkpoint is acknowledged; the next run replays it", () =>
    Effect.gen(function*() {
      const s = surroundings()
      const stats = makePartitionStats(0)
      const exit = yield* runThatFails(s, stats, () => {
        s.checkpoints.failSaves = "the bucket is unavailable"
      })
      assert.isTrue(Exit.isFailure(exit))
      assert.match(stats.failing?.reason ?? "", /the bucket is unavailable/)
      assert.strictEqual(s.log.acked, 4)
      assert.strictEqual(s.checkpoints.seq(0), 4)

      s.checkpoints.failSaves = undefined
      const stored = s.storage.readings.length
      yield* start(s, stats)
      yield* ackedThrough(s.log, 8)
      assert.strictEqual(s.log.opens.at(-1), 4)
      // Replayed from the checkpoint: the readings after it are written again (idempotent by key).
      assert.deepStrictEqual(s.storage.readings.slice(stored).map((r) => r.ts - T0), [1_000, 1_250, 1_500, 1_750])
      assert.isUndefined(stats.failing, "a checkpoint past the failure clears it")
    }))

  it.live("fencing - once the fence shuts, no storage write or checkpoint lands and nothing more is acknowledged; the next owner takes over from the checkpoint", () =>
    Effect.gen(function*() {
      const s = surroundings()
      const clock = yield* Clock.Clock
      const fence = new Fence(0, clock, 60_000, clock.monotonicTimeNanosUnsafe())
      s.checkpoints.fence = fence
      const stats = makePartitionStats(0)
      appendReadings(s.log, ["a", "b"], 4)
      const stale = yield* start(s, stats, fencedStorage(s.storage, fence))
      yield* ackedThrough(s.log, 8)
      const saves = s.checkpoints.saves.length
      const stored = s.storage.readings.length
      fence.close()
      appendReadings(s.log, ["a", "b"], 4, 4)
      const exit = yield* Fiber.await(stale)
      assert.isTrue(Exit.isFailure(exit))
      assert.match(stats.failing?.reason ?? "", /no longer holds the lease/)
      assert.strictEqual(s.storage.readings.length, stored, "no storage write after the fence shut")
      assert.strictEqual(s.checkpoints.saves.length, saves, "no checkpoint after the fence shut")
      assert.strictEqual(s.log.acked, 8)

      // The next owner, with its own fence, resumes from the stale owner's last checkpoint.
      const next = new Fence(0, clock, 60_000, clock.monotonicTimeNanosUnsafe())
      s.checkpoints.fence = next
      yield* start(s, makePartitionStats(0), fencedStorage(s.storage, next))
      yield* ackedThrough(s.log, 16)
      assert.deepStrictEqual(s.storage.readings.slice(stored).map((r) => `${r.device}@${r.ts - T0}`), ["a@1000", "b@1000", "a@1250", "b@1250", "a@1500", "b@1500", "a@1750", "b@1750"])
    }))

  it.live("a device idle while its checkpoint waits for the database - kept in memory until its state is saved, so its windows miss nothing", () =>
    Effect.gen(function*() {
      const s = surroundings()
      const stats = makePartitionStats(0)
      // Devices go after 100 ms idle; a checkpoint every 2 s (the first right after the first batch).
      yield* start(s, stats, s.storage, { passivateAfterMs: 100, checkpointIntervalMs: 2_000 })
      s.log.append(subject("a"), payload(T0, 1), T0 + 5)
      s.log.append(subject("a"), payload(T0 + 250, 2), T0 + 255)
      yield* ackedThrough(s.log, 2)
      // The database stops answering: the next checkpoint (b@300 makes it one with something
      // new to save; a quiet partition writes nothing) waits in its flush …
      const down = yield* Deferred.make<void>()
      s.storage.gate = down
      const flushes = s.storage.flushes
      s.log.append(subject("b"), payload(T0 + 300, 1), T0 + 305)
      yield* eventually("a checkpoint waiting for the database", async () => (s.storage.flushes > flushes ? true : undefined))
      // … while the loop reads on for an interval: a@500 goes into the checkpoint after it,
      // which waits for the first.
      s.log.append(subject("a"), payload(T0 + 500, 3), T0 + 505)
      yield* eventually("a@500 processed", async () => (stats.lastSeq >= 4 ? true : undefined))
      // Long enough idle for the device to be passivated, were it allowed.
      yield* Effect.sleep("1500 millis")
      // The database answers the first checkpoint, not yet the second (the one with a@500).
      const stillSlow = yield* Deferred.make<void>()
      s.storage.gate = stillSlow
      const before = s.storage.flushes
      yield* Deferred.succeed(down, undefined)
      yield* eventually("the checkpoint with a@500 waiting for the database", async () => (s.storage.flushes > before ? true : undefined))
      // a@750, then a@1000 closes the window [0, 1 s) — which must hold all four readings.
      s.log.append(subject("a"), payload(T0 + 750, 4), T0 + 755)
      s.log.append(subject("a"), payload(T0 + 1_000, 5), T0 + 1_005)
      yield* eventually("window [0, 1 s) of a emitted", async () => (s.storage.windows.some((w) => w.device === "a" && w.start === T0) ? true : undefined))
      yield* Deferred.succeed(stillSlow, undefined)
      yield* ackedThrough(s.log, 6)
      assert.deepStrictEqual(s.storage.windows.filter((w) => w.device === "a").map((w) => [w.start - T0, w.count]), [[0, 4]])
    }))

  it.live("a device actor that crashes - the run ends and the next replays from the checkpoint, so no window misses the reading it crashed on", () =>
    Effect.gen(function*() {
      const s = surroundings()
      const stats = makePartitionStats(0)
      // a@1000 closes [0, 1 s): writing that window kills the device actor.
      const exit = yield* runThatFails(s, stats, () => {
        s.storage.failNextWindows = "the storage actor is gone"
      })
      assert.isTrue(Exit.isFailure(exit), "the run goes on after a device crashed")
      assert.match(stats.failing?.reason ?? "", /device a crashed \(the storage actor is gone\)/)
      assert.strictEqual(s.log.acked, 4, "nothing acknowledged past the crash")

      yield* start(s, stats)
      appendReadings(s.log, ["a"], 1, 8)
      yield* ackedThrough(s.log, 9)
      // Replayed from seq 4: [0, 1 s) with its four readings, [1, 2 s) with all four of its own.
      assert.deepStrictEqual(
        [...new Map(s.storage.windows.filter((w) => w.device === "a").map((w) => [w.start - T0, w.count])).entries()],
        [[0, 4], [1_000, 4]]
      )
    }))

  it.live("writes follow the load - per checkpoint each changed device and the partition record once, not per reading; a quiet partition writes nothing; a handover's last checkpoint is saved at once", () =>
    Effect.gen(function*() {
      const s = surroundings()
      const clock = yield* Clock.Clock
      const fence = new Fence(0, clock, 60_000, clock.monotonicTimeNanosUnsafe())
      s.checkpoints.fence = fence
      const stats = makePartitionStats(0)
      appendReadings(s.log, ["a", "b"], 100)
      yield* start(s, stats, fencedStorage(s.storage, fence))
      yield* ackedThrough(s.log, 200)
      // Busy: at most one put per device and one partition record per checkpoint.
      const parts = s.checkpoints.saves.filter((k) => k.startsWith("part.")).length
      const devs = s.checkpoints.saves.filter((k) => k.startsWith("dev.")).length
      assert.isAtMost(devs, 2 * parts, s.checkpoints.saves.join(" "))
      assert.isBelow(parts + devs, 200, "fewer puts than readings")

      // Quiet (the windows the last readings left due are closed by the first checkpoints
      // after them): checkpoints go on, nothing is written.
      const checkpointsFrom = (at: number, n: number) =>
        eventually(`${n} checkpoints after ${at}`, async () => (stats.lastCheckpointAt >= at + n * settings.checkpointIntervalMs ? true : undefined), { timeoutMs: 20_000 })
      yield* checkpointsFrom(stats.lastCheckpointAt, 3)
      const saves = s.checkpoints.saves.length
      yield* checkpointsFrom(stats.lastCheckpointAt, 4)
      assert.strictEqual(s.checkpoints.saves.length, saves, `nothing written while quiet: ${s.checkpoints.saves.slice(saves).join(" ")}`)
      assert.strictEqual(stats.checkpointedSeq, 200)

      // A handover asks for the last checkpoint: saved although nothing changed.
      fence.requestDrain()
      yield* Deferred.await(fence.drained)
      assert.strictEqual(s.checkpoints.saves.at(-1), "part.0@200")
    }))

  it.live("an idle watermark advance is durable before a reading is taken under it - a restart then refuses the same late reading the first run refused, so both give the same windows", () =>
    Effect.gen(function*() {
      const s = surroundings()
      const stats = makePartitionStats(0)
      // Hour windows, and late readings taken for 100 ms after a window's end: idle advances
      // of any length a test run makes (≥ idleAdvance, < an hour) retire the first window
      // and close nothing else, so the result does not depend on timing.
      const H = 3_600_000
      // An hour boundary (windows are aligned to the epoch).
      const B = Math.ceil(T0 / H) * H
      const tuned = { idleAdvanceMs: 100, watermarkDelayMs: 0, allowedLatenessMs: 100 }
      const hour = [{ name: "1h", size: H }]
      s.log.append(subject("a"), payload(B - 50, 1), B - 45)
      s.log.append(subject("a"), payload(B + 10, 2), B + 15)
      const first = yield* start(s, stats, s.storage, tuned, hour)
      yield* ackedThrough(s.log, 2)
      // a's window [B - 1 h, B) closed with one reading; the watermark is 10 ms past its end.
      const clock = yield* Clock.Clock
      const ackedAt = clock.currentTimeMillisUnsafe()
      assert.deepStrictEqual(s.storage.windows.map((w) => [w.start - B + H, w.count]), [[0, 1]])
      // Idle: a checkpoint captured an idle advance's length after the ack has moved the
      // watermark past the window's lateness (it is retired).
      yield* eventually("an idle checkpoint", async () => (stats.lastCheckpointAt >= ackedAt + 2 * tuned.idleAdvanceMs ? true : undefined), { timeoutMs: 20_000 })
      // A late reading for that window: refused (dead-lettered as too late) under that watermark.
      // The dead letter's acknowledgement does not come back, so the checkpoint after it
      // waits …
      s.publisher.acks = new Promise<void>(() => {})
      s.log.append(subject("a"), payload(B - 20, 3), B + 30)
      yield* eventually("the late reading refused", async () => (stats.tooLate >= 1 ? true : undefined))
      // … and the run ends there (a crash, a lost lease): the next replays from the checkpoint.
      yield* Fiber.interrupt(first)
      s.publisher.acks = undefined
      yield* start(s, makePartitionStats(0), s.storage, tuned, hour)
      yield* ackedThrough(s.log, 3)
      const refused = [...s.publisher.published.values()].filter((p) => p.subject === Subjects.deadLetterSubject("TooLate")).map((p) => readDeadLetter(p.data).streamSeq)
      assert.deepStrictEqual(refused, [3])
      // The replay refused it too: the window is as the first run left it, as a run without
      // the restart would leave it, and without the reading the dead letter says no window has.
      assert.deepStrictEqual(s.storage.windows.map((w) => [w.start - B + H, w.count]), [[0, 1]])
    }))

  it.live("a checkpoint captured while the one before it waits for the database - the count of unacknowledged messages stays right, so the partition is found drained once idle and its last windows close", () =>
    Effect.gen(function*() {
      const s = surroundings()
      const stats = makePartitionStats(0)
      // Batches of one, so a checkpoint is due every 4 messages (half the read-ahead of 8
      // batches); idle for 2 s before the watermark moves (the steps below take far less).
      const tuned = { batchSize: 1, idleAdvanceMs: 2_000 }
      s.log.append(subject("a"), payload(T0, 1), T0 + 5)
      yield* start(s, stats, s.storage, tuned)
      yield* ackedThrough(s.log, 1)
      // The database stops answering. Eight more readings: the checkpoint after the first
      // four waits in its flush, the loop reads on, and the checkpoint after the next four is
      // captured meanwhile (it waits for the first).
      const down = yield* Deferred.make<void>()
      s.storage.gate = down
      for (let i = 1; i <= 8; i++) s.log.append(subject("a"), payload(T0 + i * 100, i + 1), T0 + i * 100 + 5)
      yield* eventually("all read", async () => (stats.lastSeq >= 9 ? true : undefined))
      // Time for the loop to reach the second capture; were the database back sooner, the
      // checkpoints would not overlap and this would test less, not fail.
      yield* Effect.sleep("300 millis")
      s.storage.gate = undefined
      yield* Deferred.succeed(down, undefined)
      yield* ackedThrough(s.log, 9)
      // Nothing more arrives: idle time closes [0, 1 s) with its nine readings — only once the
      // partition sees that everything it took is acknowledged.
      yield* eventually("window [0, 1 s) of a closed by idle time", async () => (s.storage.windows.length > 0 ? true : undefined), { timeoutMs: 10_000 })
      assert.deepStrictEqual(s.storage.windows.map((w) => [w.start - T0, w.count]), [[0, 9]])
    }))
})
