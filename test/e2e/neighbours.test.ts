/**
 * One device's fault stays its own (issue 15), against a real `bramble node` (one partition,
 * so every device shares it) writing to a real victoria-metrics:
 *
 * - payloads too big for a dead letter (1 MiB and 2 MiB over MQTT, one just under
 *   `max_payload` over NATS) between good readings of other devices: every good reading is
 *   stored and windowed, each big one is dead-lettered once (a truncated copy, its size and
 *   its stream sequence), and the partition never restarts;
 * - a device an hour ahead (refused as `ClockAhead`, its skew in status), one 40 s ahead
 *   (within `maxClockAhead`: its readings count, but it cannot drag the watermark) and one
 *   30 s behind (its own readings late, nobody else's): the good devices' windows equal the
 *   oracle's;
 * - MQTT QoS 1 retransmissions (the same publish twice) are counted once in windows;
 * - a property test: random interleavings of good devices, a skewed clock and duplicates,
 *   checked against an oracle that de-duplicates, every refusal dead-lettered with its reason;
 * - a partition that cannot get past a message (its dead letter cannot be stored) is shown as
 *   failing — reason and stream sequence — in `bramble status`, `/metrics` and the HTTP API,
 *   and as ok again once it gets past it.
 *
 * Event times are taken from the clock as each reading is sent, as a device does, so the
 * watermark follows the log's time and nothing here depends on how fast the machine is.
 */
import { assert, describe, it } from "@effect/vitest"
import { DEAD_LETTER_PAYLOAD_LIMIT, Subjects } from "@bramble/protocol"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect } from "effect"
import fc from "fast-check"
import { execFile } from "node:child_process"
import { join } from "node:path"
import { connectAsync, type MqttClient } from "mqtt"
import {
  checkExactlyOnce,
  compareWindows,
  expectedWindows,
  prng,
  type RawPoint,
  type TestReading,
  waitFor,
  withoutDuplicates
} from "../support/index.js"
import { BRAMBLE_CLI, type BrambleNode, requestAdmin, startBrambleNode } from "../support/BrambleNode.js"
import type { Db } from "../support/Db.js"
import { readDeadLetters, type StoredDeadLetter } from "../support/DeadLetters.js"
import { PROCESSING, promise, settled, testDir, WAIT_MS, WINDOWS, withNodeLog } from "../support/SystemTest.js"
import { startVictoriaMetrics } from "@bramble/deploy"

const HOUR = 3_600_000
/** A reading too late for every window is dead-lettered; one on time for some is counted in
 * the longest window (the shorter ones nest in it and close first), so that window's count is
 * how many of a device's readings were not refused as TooLate. */
const LONGEST = [...WINDOWS].sort((a, b) => b.size - a.size)[0]!.name
const encoder = new TextEncoder()

/** One node, one partition (every device shares it), on a fresh victoria-metrics. */
const startOnePartition = (prefix: string, options: { readonly http?: boolean } = {}) =>
  Effect.gen(function*() {
    const dir = yield* testDir(prefix)
    const vm = yield* startVictoriaMetrics({ dir: join(dir, "db") })
    const db: Db = { kind: "victoria-metrics", url: vm.url }
    const node = yield* startBrambleNode({
      dir: join(dir, "node"),
      sink: { kind: "influx-v2", url: vm.url },
      windows: WINDOWS,
      processing: { ...PROCESSING, maxClockAhead: "1m" },
      partitions: 1,
      ...(options.http === true ? { http: true } : {})
    })
    return { db, node }
  })

/** Values with two decimals (they survive the database unchanged), from a seeded generator. */
const values = (random: () => number) => ({
  temperature: Math.round((15 + random() * 15) * 100) / 100,
  humidity: Math.round((30 + random() * 40) * 100) / 100
})

/**
 * A device on an MQTT connection: each reading is stamped with the sender's clock plus the
 * device's `skewMs` as it is sent (strictly increasing per device), published with QoS 1,
 * and recorded. `again` publishes the same bytes a second time, as a client does when a
 * PUBACK is lost.
 */
class Devices {
  readonly sent: Array<TestReading & { readonly skewMs: number }> = []
  readonly pubacks: Array<Promise<unknown>> = []
  private readonly last = new Map<string, number>()
  private readonly seqs = new Map<string, number>()
  duplicates = 0

  constructor(private readonly client: MqttClient) {}

  send(device: string, skewMs: number, v: Record<string, number>): TestReading {
    const ts = Math.max(Date.now() + skewMs, (this.last.get(device) ?? 0) + 1)
    this.last.set(device, ts)
    const seq = this.seqs.get(device) ?? 0
    this.seqs.set(device, seq + 1)
    const reading = { device, sensor: "env", ts, seq, values: v, skewMs }
    this.sent.push(reading)
    this.publish(reading)
    return reading
  }

  again(reading: TestReading): void {
    this.duplicates += 1
    this.publish(reading)
  }

  raw(topic: string, payload: Uint8Array): void {
    this.pubacks.push(this.client.publishAsync(topic, Buffer.from(payload), { qos: 1 }))
  }

  private publish(reading: TestReading) {
    const payload = JSON.stringify({ ts: reading.ts, seq: reading.seq, values: reading.values })
    this.pubacks.push(this.client.publishAsync(Subjects.ingestTopic(reading.device, reading.sensor), payload, { qos: 1 }))
  }
}

const show = (l: StoredDeadLetter) => `${l.entry.reason} ${l.entry.subject} #${l.entry.streamSeq}: ${l.entry.message.slice(0, 160)}`
const deviceOf = (l: StoredDeadLetter) => l.entry.subject.split(".")[2]

/** The restarts of the partition worker, from the admin `actors` call. */
const partitionRestarts = async (node: BrambleNode): Promise<number> => {
  const reply = (await requestAdmin(node.natsUrl, node.name, "actors")) as { actors: Array<{ name: string; restarts: number }> }
  return reply.actors.find((a) => a.name === "partition-0")?.restarts ?? -1
}

interface PartitionView {
  readonly failures?: number
  readonly duplicates?: number
  readonly clockAhead?: number
  readonly failing?: { readonly seq?: number; readonly failures: number; readonly reason: string; readonly checkpointedSeq: number }
}
interface StatusView {
  readonly partitions: ReadonlyArray<PartitionView>
  readonly clocks?: ReadonlyArray<{ readonly device: string; readonly skewMs: number; readonly reason: string; readonly refused: number }>
}
const statusOf = async (node: BrambleNode) => (await node.status()) as unknown as StatusView

/** A `bramble` command as an operator runs it (`bramble status`, `bramble device ID`). */
const bramble = (node: BrambleNode, command: string, ...args: Array<string>) =>
  new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [BRAMBLE_CLI, command, ...args, "--server", node.natsUrl], { timeout: 60_000, env: { ...process.env, NO_COLOR: "1" } }, (error, stdout, stderr) =>
      error !== null && stdout === "" ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout))
  )
const brambleStatus = (node: BrambleNode) => bramble(node, "status")

describe("one device's fault stays its own - bramble node", () => {
  it.live("payloads too big for a dead letter, wrong clocks and MQTT retransmissions harm no other device", () =>
    Effect.gen(function*() {
      const { db, node } = yield* startOnePartition("bramble-neighbours-")
      yield* withNodeLog(
        node,
        Effect.gen(function*() {
          const client = yield* promise(() => connectAsync(node.mqttUrl, { protocolVersion: 4, clean: true, reconnectPeriod: 0 }))
          const nc = yield* promise(() => connect({ servers: node.natsUrl }))
          const js = jetstream(nc)
          const devices = new Devices(client)
          const random = prng(15)
          const good = ["good-0", "good-1", "good-2", "good-3", "good-4", "good-5"]
          const big: Array<{ what: string; size: number; prefix: Uint8Array }> = []
          const bigJson = (device: string, size: number) => {
            const head = `{"ts":${Date.now()},"values":{"temperature":20},"pad":"`
            const bytes = encoder.encode(head + "x".repeat(size - head.length - 2) + `"}`)
            big.push({ what: `${device} (${size} bytes)`, size: bytes.length, prefix: bytes.subarray(0, DEAD_LETTER_PAYLOAD_LIMIT) })
            return bytes
          }
          const maxPayload = nc.info!.max_payload
          for (let round = 0; round < 40; round++) {
            for (const device of good) {
              const r = devices.send(device, 0, values(random))
              // A lost PUBACK: the client sends the same publish again.
              if (random() < 0.15) devices.again(r)
            }
            devices.send("ahead-1h", HOUR, values(random))
            devices.send("ahead-40s", 40_000, values(random))
            devices.send("behind-30s", -30_000, values(random))
            if (round === 10) devices.raw(Subjects.ingestTopic("big-1m", "env"), bigJson("big-1m", 1024 * 1024))
            if (round === 20) devices.raw(Subjects.ingestTopic("big-2m", "env"), bigJson("big-2m", 2 * 1024 * 1024))
            if (round === 30) {
              // Just under max_payload (the headers of a JetStream publish count too).
              yield* promise(() => Promise.all(devices.pubacks))
              yield* promise(() => js.publish(Subjects.ingestSubject("big-nats", "env"), bigJson("big-nats", maxPayload - 4096)))
            }
            yield* Effect.sleep("60 millis")
          }
          yield* promise(() => Promise.all(devices.pubacks))
          yield* promise(() => client.endAsync())
          yield* promise(() => nc.close())

          const sent = devices.sent
          const of = (prefix: string) => sent.filter((r) => r.device.startsWith(prefix))
          const counted = withoutDuplicates([...of("good-"), ...of("ahead-40s")])
          const expected = expectedWindows(counted, WINDOWS)
          const behind = of("behind-30s")
          const stored = yield* settled(node, db, { raw: counted.length + behind.length, windows: expected.length }, expected)

          // Windows: the good devices' and the 40 s-ahead device's equal the oracle's.
          const mine = (row: { device: string }) => row.device.startsWith("good-") || row.device === "ahead-40s"
          const diff = compareWindows(expected, stored.windows.filter(mine))
          assert.isTrue(diff.ok, diff.text)
          // Raw points: every reading except the hour-ahead device's, once.
          const once = checkExactlyOnce([...counted, ...behind] as ReadonlyArray<RawPoint>, stored.raw)
          assert.isTrue(once.ok, once.text)

          const letters = yield* promise(() => readDeadLetters(node.natsUrl))
          // Each big payload: one Oversized dead letter with a truncated copy, its size and stream sequence.
          const oversized = letters.filter((l) => l.entry.reason === "Oversized")
          assert.strictEqual(oversized.length, big.length, oversized.map(show).join("\n"))
          for (const b of big) {
            const found = oversized.filter((l) => l.entry.truncated === b.size)
            assert.strictEqual(found.length, 1, `${b.what}: ${oversized.map(show).join(" | ")}`)
            const entry = found[0]!.entry
            assert.strictEqual(entry.payload.length, DEAD_LETTER_PAYLOAD_LIMIT, b.what)
            assert.isTrue(Buffer.from(entry.payload).equals(Buffer.from(b.prefix)), `${b.what}: the copy is the payload's beginning`)
            assert.isNumber(entry.streamSeq, b.what)
          }
          // The hour-ahead device: every reading refused as ClockAhead, nothing else.
          const ahead = of("ahead-1h")
          const clockAhead = letters.filter((l) => l.entry.reason === "ClockAhead")
          assert.strictEqual(clockAhead.length, ahead.length, clockAhead.map(show).join("\n"))
          assert.isTrue(clockAhead.every((l) => deviceOf(l) === "ahead-1h"), clockAhead.map(show).join("\n"))
          // The device 30 s behind: each of its readings is in its windows or dead-lettered as TooLate.
          const late = letters.filter((l) => l.entry.reason === "TooLate")
          assert.isTrue(late.every((l) => deviceOf(l) === "behind-30s"), late.map(show).join("\n"))
          const behindCounted = stored.windows.filter((w) => w.device === "behind-30s" && w.window === LONGEST && w.metric === "temperature")
            .reduce((a, w) => a + w.count, 0)
          assert.strictEqual(behindCounted + late.length, behind.length, `behind-30s: ${behindCounted} in windows, ${late.length} too late, ${behind.length} sent`)
          // Nothing else was refused.
          const others = letters.filter((l) => !["Oversized", "ClockAhead", "TooLate"].includes(l.entry.reason))
          assert.deepStrictEqual(others.map(show), [])

          // The partition never restarted, counted the duplicates and names the wrong clock.
          assert.strictEqual(yield* promise(() => partitionRestarts(node)), 0)
          const status = yield* promise(() => statusOf(node))
          const p = status.partitions[0]!
          assert.strictEqual(p.failures, 0, JSON.stringify(p))
          assert.isUndefined(p.failing, JSON.stringify(p))
          assert.strictEqual(p.duplicates, devices.duplicates, JSON.stringify(p))
          assert.strictEqual(p.clockAhead, ahead.length, JSON.stringify(p))
          const clock = status.clocks?.find((c) => c.device === "ahead-1h")
          assert.isDefined(clock, JSON.stringify(status.clocks))
          assert.strictEqual(clock!.reason, "ClockAhead")
          // Stored time minus event time: about an hour, negative (the device is ahead).
          assert.isTrue(clock!.skewMs < -0.9 * HOUR && clock!.skewMs > -1.1 * HOUR, JSON.stringify(clock))
          const table = yield* promise(() => brambleStatus(node))
          assert.include(table, "ahead-1h")
          // Any device's clock, from its latest reading: `bramble device`.
          const device = yield* promise(() => bramble(node, "device", "ahead-1h"))
          assert.include(device, "the device's clock runs ahead")
          const deviceJson = JSON.parse(yield* promise(() => bramble(node, "device", "ahead-1h", "--json"))) as { clockSkewMs?: number }
          assert.isTrue(deviceJson.clockSkewMs! < -0.9 * HOUR && deviceJson.clockSkewMs! > -1.1 * HOUR, JSON.stringify(deviceJson.clockSkewMs))
          const goodJson = JSON.parse(yield* promise(() => bramble(node, "device", "good-0", "--json"))) as { clockSkewMs?: number }
          assert.isAtLeast(goodJson.clockSkewMs!, 0)
          console.log(
            `${sent.length} readings sent (${devices.duplicates} sent twice), ${big.length} big payloads, ` +
              `${letters.length} dead letters (${oversized.length} Oversized, ${clockAhead.length} ClockAhead, ${late.length} TooLate); ` +
              `${stored.windows.length} window rows\n${table}`
          )
        })
      )
    }))

  it.live("property: random interleavings of good devices, a skewed clock and MQTT duplicates give the windows of an oracle that de-duplicates", () =>
    Effect.gen(function*() {
      const { db, node } = yield* startOnePartition("bramble-neighbours-prop-")
      // Each run: a random order of sends (a device index per step; 4 is the skewed device),
      // a random skew — beyond maxClockAhead (1 min), ahead within it, or behind, in turn so
      // every run of the test sees all three — and random retransmissions. Runs use devices of
      // their own. BRAMBLE_PROPERTY_SEED replays another sample.
      const seed = Number(process.env["BRAMBLE_PROPERTY_SEED"] ?? 1515)
      const skews = [fc.integer({ min: 2 * 60_000, max: 20 * HOUR }), fc.integer({ min: 1_000, max: 50_000 }), fc.integer({ min: -120_000, max: -4_000 })]
      const runs = fc.sample(
        fc.record({
          steps: fc.array(fc.nat({ max: 4 }), { minLength: 30, maxLength: 80 }),
          duplicates: fc.array(fc.boolean(), { minLength: 80, maxLength: 80 }),
          seed: fc.nat()
        }),
        { numRuns: 6, seed }
      ).map((plan, run) => ({ ...plan, skewMs: fc.sample(skews[run % 3]!, { numRuns: 1, seed: seed + plan.seed })[0]! }))
      yield* withNodeLog(
        node,
        Effect.gen(function*() {
          const client = yield* promise(() => connectAsync(node.mqttUrl, { protocolVersion: 4, clean: true, reconnectPeriod: 0 }))
          const devices = new Devices(client)
          const skewed = (run: number) => `r${run}-skewed`
          for (const [run, plan] of runs.entries()) {
            const random = prng(plan.seed)
            for (const [i, d] of plan.steps.entries()) {
              const device = d === 4 ? skewed(run) : `r${run}-good-${d}`
              const r = devices.send(device, d === 4 ? plan.skewMs : 0, values(random))
              // Retransmissions of the good devices' readings (the skewed device's own are
              // refused or late one by one: each copy is a message of its own).
              if (d !== 4 && plan.duplicates[i] === true) devices.again(r)
              if (i % 8 === 0) yield* Effect.sleep("40 millis")
            }
          }
          yield* promise(() => Promise.all(devices.pubacks))
          yield* promise(() => client.endAsync())

          // What must count: the good devices' readings, once each; the skewed device's too
          // when its clock is ahead within maxClockAhead (behind: its own, see below).
          const sent = devices.sent
          const isGood = (device: string) => /^r\d+-good-/.test(device)
          const good = withoutDuplicates(sent.filter((r) => isGood(r.device)))
          const skewedSent = sent.filter((r) => !isGood(r.device))
          const refusedAhead = skewedSent.filter((r) => r.skewMs > 60_000)
          const aheadWithin = skewedSent.filter((r) => r.skewMs > 0 && r.skewMs <= 60_000)
          const expected = expectedWindows([...good, ...aheadWithin], WINDOWS)
          const stored = yield* settled(node, db, { raw: good.length + skewedSent.length - refusedAhead.length, windows: expected.length }, expected)
          const checked = new Set([...good, ...aheadWithin].map((r) => r.device))
          const diff = compareWindows(expected, stored.windows.filter((w) => checked.has(w.device)))
          assert.isTrue(diff.ok, diff.text)

          // Every refusal is dead-lettered with its reason: ClockAhead for a clock beyond the
          // bound, TooLate only for the skewed device's own readings, nothing for good devices.
          const letters = yield* promise(() => readDeadLetters(node.natsUrl))
          assert.deepStrictEqual(letters.filter((l) => isGood(deviceOf(l)!)).map(show), [])
          const ahead = letters.filter((l) => l.entry.reason === "ClockAhead")
          assert.strictEqual(ahead.length, refusedAhead.length, ahead.map(show).join("\n"))
          for (const [run, plan] of runs.entries()) {
            const mine = skewedSent.filter((r) => r.device === skewed(run))
            const letter = letters.filter((l) => deviceOf(l) === skewed(run))
            const counted = mine
            if (plan.skewMs > 60_000) {
              assert.strictEqual(letter.length, mine.length, `run ${run}: ${letter.map(show).join(" | ")}`)
              assert.isTrue(letter.every((l) => l.entry.reason === "ClockAhead"))
            } else {
              // Its readings are its own: in its windows, or (behind) dead-lettered as TooLate.
              const inWindows = stored.windows.filter((w) => w.device === skewed(run) && w.window === LONGEST && w.metric === "temperature")
                .reduce((a, w) => a + w.count, 0)
              assert.isTrue(letter.every((l) => l.entry.reason === "TooLate"), `run ${run}: ${letter.map(show).join(" | ")}`)
              assert.strictEqual(
                inWindows + letter.length,
                counted.length,
                `run ${run} (skew ${plan.skewMs} ms): ${inWindows} in windows, ${letter.length} too late, ${counted.length} sent; ` +
                  `windows ${JSON.stringify(stored.windows.filter((w) => w.device === skewed(run)))}; sent ${JSON.stringify(mine.map((r) => r.ts))}; ` +
                  `raw ${JSON.stringify(stored.raw.filter((r) => r.device === skewed(run)).map((r) => r.ts))}`
              )
            }
          }
          const raw = checkExactlyOnce([...good, ...skewedSent.filter((r) => r.skewMs <= 60_000)] as ReadonlyArray<RawPoint>, stored.raw)
          assert.isTrue(raw.ok, raw.text)
          const status = yield* promise(() => statusOf(node))
          assert.strictEqual(status.partitions[0]!.duplicates, devices.duplicates, JSON.stringify(status.partitions[0]))
          assert.strictEqual(yield* promise(() => partitionRestarts(node)), 0)
          console.log(`property (seed ${seed}): ${runs.length} runs, skews ${runs.map((r) => r.skewMs).join(", ")} ms; ${sent.length} readings, ${devices.duplicates} sent twice, ${letters.length} dead letters`)
        })
      )
    }))

  it.live("a partition that cannot get past a message is shown as failing, with the reason and the stream sequence, until it does", () =>
    Effect.gen(function*() {
      const { db, node } = yield* startOnePartition("bramble-failing-", { http: true })
      yield* withNodeLog(
        node,
        Effect.gen(function*() {
          const client = yield* promise(() => connectAsync(node.mqttUrl, { protocolVersion: 4, clean: true, reconnectPeriod: 0 }))
          const devices = new Devices(client)
          const random = prng(7)
          for (let i = 0; i < 5; i++) devices.send("steady", 0, values(random))
          yield* promise(() => Promise.all(devices.pubacks))
          const nc = yield* promise(() => connect({ servers: node.natsUrl }))
          const jsm = yield* promise(() => jetstreamManager(nc))
          yield* promise(() => waitFor(() => statusOf(node), { until: (s) => (s.partitions[0] as { checkpointedSeq?: number } | undefined)?.checkpointedSeq === 5, timeoutMs: WAIT_MS, label: "the first readings checkpointed" }))

          // DEADLETTER refuses anything bigger than 32 bytes: no dead letter can be stored.
          const dl = yield* promise(() => jsm.streams.info(Subjects.Streams.deadLetter))
          yield* promise(() => jsm.streams.update(Subjects.Streams.deadLetter, { ...dl.config, max_msg_size: 32 }))
          devices.raw(Subjects.ingestTopic("poison", "env"), encoder.encode(`{"ts": ${Date.now()}, "values": {"temperature": 21`))
          yield* promise(() => Promise.all(devices.pubacks))
          const poisonSeq = (yield* promise(() => jsm.streams.info(Subjects.Streams.readings))).state.last_seq

          // It keeps failing at that sequence, and every view says so.
          const failing = yield* promise(() =>
            waitFor(() => statusOf(node), {
              until: (s) => (s.partitions[0]?.failing?.failures ?? 0) >= 2,
              timeoutMs: WAIT_MS,
              show: (s) => JSON.stringify(s.partitions[0]),
              label: "partition 0 failing twice"
            })
          )
          const f = failing.partitions[0]!.failing!
          assert.strictEqual(f.seq, poisonSeq, JSON.stringify(f))
          assert.strictEqual(f.checkpointedSeq, 5, JSON.stringify(f))
          assert.include(f.reason, `stream sequence ${poisonSeq}`)
          const table = yield* promise(() => brambleStatus(node))
          assert.match(table, /\bfailing\b/)
          assert.include(table, `at stream sequence ${poisonSeq}`)
          const metrics = yield* promise(() => fetch(`${node.httpUrl}/metrics`).then((r) => r.text()))
          assert.include(metrics, `bramble_partition_failing{node="n1",partition="0"} 1`)
          assert.include(metrics, `bramble_partition_failing_seq{node="n1",partition="0"} ${poisonSeq}`)
          const api = yield* promise(() => fetch(`${node.httpUrl}/api/v1/status`).then((r) => r.json() as Promise<{ members: Array<{ node: string; health: string; problem?: string }> }>))
          const member = api.members.find((m) => m.node === "n1")
          assert.strictEqual(member?.health, "failing", JSON.stringify(member))
          assert.include(member?.problem ?? "", `at stream sequence ${poisonSeq}`)
          console.log(`while failing, bramble status shows:\n${table}`)

          // DEADLETTER takes it again: the partition gets past the message and is ok.
          yield* promise(() => jsm.streams.update(Subjects.Streams.deadLetter, { ...dl.config }))
          for (let i = 0; i < 5; i++) devices.send("steady", 0, values(random))
          yield* promise(() => Promise.all(devices.pubacks))
          yield* promise(() =>
            waitFor(() => statusOf(node), {
              until: (s) => s.partitions[0]?.failing === undefined,
              timeoutMs: WAIT_MS,
              show: (s) => JSON.stringify(s.partitions[0]),
              label: "partition 0 no longer failing"
            })
          )
          const expected = expectedWindows(devices.sent, WINDOWS)
          const stored = yield* settled(node, db, { raw: devices.sent.length, windows: expected.length }, expected)
          const diff = compareWindows(expected, stored.windows)
          assert.isTrue(diff.ok, diff.text)
          const letters = yield* promise(() => readDeadLetters(node.natsUrl))
          assert.deepStrictEqual(letters.map((l) => [l.entry.reason, l.entry.streamSeq]), [["MalformedJson", poisonSeq]])
          const after = yield* promise(() => brambleStatus(node))
          assert.notMatch(after, /\bfailing\b/)
          yield* promise(() => client.endAsync())
          yield* promise(() => nc.close())
        })
      )
    }))
})
