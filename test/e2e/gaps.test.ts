/**
 * Gap detection against a real `bramble node` (its own nats-server, a real database): devices
 * publish seq 1..N with ranges deliberately skipped — over MQTT with the mosquitto_pub client,
 * and over NATS as JetStream publishes — and the node must dead-letter exactly the skipped
 * ranges as `Gap` entries (device, sensor, first..last, count), once each; a late arrival is
 * late-filled, not a loss; a repeated seq is a duplicate; a device restarting its count is a
 * restart, not a gap. `bramble status --json`, the status table, `/metrics`, the HTTP API and
 * the dashboard's event stream show the counts. Then the
 * node is killed (SIGKILL) and restarted: the seq state survives in the checkpoints, so a gap
 * spanning the restart is reported, and readings replayed after the kill report nothing twice.
 *
 * The oracle is the publisher's own record: what each device skipped.
 */
import { execFile, spawn } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import { Admin, Subjects } from "@bramble/protocol"
import { Effect, Schema } from "effect"
import { mqttPayload, publishNats, readRawPoints, type TestReading, waitFor } from "../support/index.js"
import { join } from "node:path"
import { startVictoriaMetrics } from "@bramble/deploy"
import { BRAMBLE_CLI, startBrambleNode, waitUntilCheckpointed } from "../support/BrambleNode.js"
import { readDeadLetters } from "../support/DeadLetters.js"
import { PROCESSING, promise, testDir, WAIT_MS, WINDOWS, withNodeLog } from "../support/SystemTest.js"

const START = Date.now() - 10 * 60_000

/** Readings of one device's sensor with the given seqs, in that order; event times follow the seq. */
const stream = (device: string, sensor: string, seqs: ReadonlyArray<number>, epochMs = START): Array<TestReading> =>
  seqs.map((seq) => ({ device, sensor, seq, ts: epochMs + seq * 100, values: { temperature: 20 + (seq % 7) } }))

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const without = (seqs: ReadonlyArray<number>, skipped: ReadonlyArray<number>) => seqs.filter((s) => !skipped.includes(s))

/** Publishes `readings` in order, one MQTT QoS 1 message per line, through one mosquitto_pub connection per topic. */
const mosquittoPub = (mqttUrl: string, readings: ReadonlyArray<TestReading>) => {
  const { hostname, port } = new URL(mqttUrl)
  const topic = Subjects.ingestTopic(readings[0]!.device, readings[0]!.sensor)
  return new Promise<void>((resolve, reject) => {
    const child = spawn("mosquitto_pub", ["-h", hostname, "-p", port, "-q", "1", "-t", topic, "-l", "-i", `gaps-${readings[0]!.device}`], { stdio: ["pipe", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", reject)
    // Its exit code says what went wrong; a refused connection also breaks the pipe.
    child.stdin.on("error", () => undefined)
    child.on("exit", (code) => code === 0 ? resolve() : reject(new Error(`mosquitto_pub exited ${code}: ${stderr}`)))
    child.stdin.end(readings.map((r) => `${mqttPayload(r)}\n`).join(""))
  })
}

/** `bramble status ...args` against the node (the built CLI, as an operator runs it). */
const brambleStatus = (natsUrl: string, args: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [BRAMBLE_CLI, "status", ...args], { env: { ...process.env, BRAMBLE_NATS: natsUrl, NO_COLOR: "1" }, timeout: 60_000 }, (error, stdout, stderr) =>
      error === null ? resolve(stdout) : reject(new Error(`bramble status ${args.join(" ")}: ${error.message}\n${stderr}`))
    )
  )

interface ExpectedGap {
  readonly device: string
  readonly sensor: string
  readonly first: number
  readonly last: number
}

const key = (g: ExpectedGap) => `${g.device}/${g.sensor} ${g.first}..${g.last}`

describe("gap detection - bramble node", () => {
  it.live("skipped seqs are dead-lettered as Gap with their exact ranges, counted in status, and survive a kill -9", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-gaps-")
      const vm = yield* startVictoriaMetrics({ dir: join(dir, "db") })
      const db = { kind: "victoria-metrics" as const, url: vm.url }
      // With its HTTP server: /metrics, the API and the dashboard's event stream are checked too.
      const node = yield* startBrambleNode({ dir: join(dir, "node"), sink: { kind: "influx-v2", url: vm.url }, windows: WINDOWS, processing: PROCESSING, http: true })
      yield* withNodeLog(
        node,
        Effect.gen(function*() {
          // ---- Phase 1: every kind of arrival.
          // Over MQTT (mosquitto_pub): three skipped ranges; and a late arrival (11 after 13)
          // with a repeated seq (15 twice).
          const mqttA = stream("gap-a", "env", without(range(1, 60), [5, ...range(20, 24), ...range(41, 50)]))
          const mqttC = stream("gap-c", "env", [...range(1, 10), 12, 13, 11, 14, 15, 15, ...range(16, 20)])
          // Over NATS: skipped ranges on one sensor, none on the same device's other sensor; a
          // device that restarts its count after 1,100 (later event times), skipping 6 after.
          // The restarted count goes over MQTT: over NATS its Nats-Msg-Ids (device.sensor.seq)
          // would repeat the first ones and JetStream would drop them as duplicates.
          const natsB = stream("gap-b", "env", without(range(1, 80), [2, 3, 33, ...range(70, 79)]))
          const natsBPower = stream("gap-b", "power", range(1, 10))
          const natsR = stream("gap-r", "env", range(1, 1_100))
          const mqttR = stream("gap-r", "env", without(range(1, 10), [6]), START + 200_000)
          yield* promise(() => Promise.all([mosquittoPub(node.mqttUrl, mqttA), mosquittoPub(node.mqttUrl, mqttC)]))
          for (const readings of [natsB, natsBPower, natsR]) {
            const report = yield* promise(() => publishNats(node.natsUrl, readings, { window: 1 }))
            assert.deepStrictEqual(report.failed, [], "every NATS publish acknowledged")
          }
          yield* promise(() => mosquittoPub(node.mqttUrl, mqttR))
          const phase1: ReadonlyArray<ExpectedGap> = [
            { device: "gap-a", sensor: "env", first: 5, last: 5 },
            { device: "gap-a", sensor: "env", first: 20, last: 24 },
            { device: "gap-a", sensor: "env", first: 41, last: 50 },
            { device: "gap-c", sensor: "env", first: 11, last: 11 },
            { device: "gap-b", sensor: "env", first: 2, last: 3 },
            { device: "gap-b", sensor: "env", first: 33, last: 33 },
            { device: "gap-b", sensor: "env", first: 70, last: 79 },
            { device: "gap-r", sensor: "env", first: 6, last: 6 }
          ]
          const published1 = [...mqttA, ...mqttC, ...natsB, ...natsBPower, ...natsR, ...mqttR]
          yield* processed(node, db, published1)

          // The status reply counts them, as `bramble status --json` shows it ...
          const json = JSON.parse(yield* promise(() => brambleStatus(node.natsUrl, ["--json"]))) as { nodes: Array<{ status: unknown }> }
          const status = Schema.decodeUnknownSync(Admin.NodeStatus)(json.nodes[0]!.status)
          const reported = phase1.reduce((n, g) => n + g.last - g.first + 1, 0)
          assert.deepStrictEqual(status.totals.sequence, { gaps: phase1.length, gapReadings: reported, lateFilled: 1, missing: reported - 1, restarts: 1, duplicates: 1, recovered: 0 })
          assert.deepStrictEqual(
            status.partitions.reduce((n, p) => n + (p.sequence?.gaps ?? 0), 0),
            phase1.length,
            "the partitions' gaps add up to the total"
          )
          // ... and the table says it in words.
          const table = yield* promise(() => brambleStatus(node.natsUrl, []))
          assert.include(table, `seq gaps: ${phase1.length} gap(s), ${reported - 1} reading(s) missing (${reported} reported, 1 late-filled since, 0 of them recovered from MQTT's own stream); 1 device restart(s), 1 duplicate(s)`)
          // /metrics, the HTTP API and what the dashboard is sent say the same.
          const metrics = yield* promise(() => fetch(`${node.httpUrl}/metrics`).then((r) => r.text()))
          assert.strictEqual(metricSum(metrics, "bramble_seq_gaps_total"), phase1.length)
          assert.strictEqual(metricSum(metrics, "bramble_seq_missing"), reported - 1)
          assert.strictEqual(metricSum(metrics, "bramble_seq_late_filled_total"), 1)
          const api = yield* promise(() => fetch(`${node.httpUrl}/api/v1/nodes/n1`).then((r) => r.json() as Promise<{ totals: { sequence: unknown } }>))
          assert.deepStrictEqual(api.totals.sequence, status.totals.sequence)
          const overview = (yield* promise(() => firstEvent(`${node.httpUrl}/events`, "cluster"))) as { members: Array<{ status?: { totals: { sequence?: unknown } } }> }
          assert.deepStrictEqual(overview.members[0]?.status?.totals.sequence, status.totals.sequence, "the dashboard's overview carries the counts")
          const page = yield* promise(() => fetch(`${node.httpUrl}/`).then((r) => r.text()))
          assert.include(page, `id="kpi-missing"`)
          yield* checkGapLetters(node.natsUrl, phase1)

          // ---- Phase 2: kill -9 and restart. Device D's readings (16 skipped) are published
          // just before the kill, so the restarted node may replay them from its checkpoint;
          // after the restart gap-a goes on at 63 (61 and 62 skipped) and gap-b at 81.
          const natsD = stream("gap-d", "env", without(range(1, 30), [16]))
          const reportD = yield* promise(() => publishNats(node.natsUrl, natsD, { window: 1 }))
          assert.deepStrictEqual(reportD.failed, [])
          yield* node.process.signal("SIGKILL")
          // `restart` does nothing while the process still runs: wait for the kill to land.
          while ((yield* node.process.pid) !== undefined) yield* Effect.sleep("100 millis")
          yield* node.restart
          const mqttA2 = stream("gap-a", "env", range(63, 70))
          const natsB2 = stream("gap-b", "env", range(81, 85))
          yield* promise(() => mosquittoPub(node.mqttUrl, mqttA2))
          const reportB2 = yield* promise(() => publishNats(node.natsUrl, natsB2, { window: 1 }))
          assert.deepStrictEqual(reportB2.failed, [])
          yield* processed(node, db, [...published1, ...natsD, ...mqttA2, ...natsB2])
          yield* checkGapLetters(node.natsUrl, [
            ...phase1,
            { device: "gap-d", sensor: "env", first: 16, last: 16 },
            // Reported only if gap-a's seq state survived the kill (else 63 would be a new baseline).
            { device: "gap-a", sensor: "env", first: 61, last: 62 }
          ])
          const after = yield* promise(() => node.status())
          assert.isAtLeast((after as unknown as Admin.NodeStatus).totals.sequence?.gaps ?? 0, 1, "the restarted node counts the gap it found")
        })
      )
    }).pipe(Effect.scoped), { timeout: 420_000 })
})

/** The sum of a metric's samples over all its label sets, from Prometheus text. */
const metricSum = (text: string, name: string): number =>
  text.split("\n").filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `)).reduce((n, line) => n + Number(line.split(" ").pop()), 0)

/** The data of the first `event` on a Server-Sent Events stream. */
const firstEvent = async (url: string, event: string): Promise<unknown> => {
  const abort = new AbortController()
  const response = await fetch(url, { signal: abort.signal })
  const reader = response.body!.getReader()
  let text = ""
  try {
    while (true) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`${url} ended before a "${event}" event`)
      text += new TextDecoder().decode(value)
      const frame = text.split("\n\n").find((f) => f.startsWith(`event: ${event}\n`))
      if (frame !== undefined) return JSON.parse(frame.slice(frame.indexOf("data: ") + 6))
    }
  } finally {
    abort.abort()
  }
}

/** Waits until the database holds every published reading and the node has checkpointed all of READINGS. */
const processed = (node: { readonly natsUrl: string; readonly partitions: number }, db: Parameters<typeof readRawPoints>[0], published: ReadonlyArray<TestReading>) =>
  Effect.gen(function*() {
    const distinct = new Set(published.map((r) => `${r.device}/${r.sensor}@${r.ts}`)).size
    yield* promise(() =>
      waitFor(() => readRawPoints(db), {
        until: (points) => points.length >= distinct,
        timeoutMs: WAIT_MS,
        intervalMs: 500,
        show: (points) => `${points.length} raw points`,
        label: `${distinct} raw points`
      })
    )
    yield* promise(() => waitUntilCheckpointed(node, WAIT_MS))
  })

/** DEADLETTER holds exactly one Gap entry per expected range, with the range in its fields and its message. */
const checkGapLetters = (natsUrl: string, expected: ReadonlyArray<ExpectedGap>) =>
  Effect.gen(function*() {
    const letters = (yield* promise(() => readDeadLetters(natsUrl))).filter((l) => l.entry.reason === "Gap")
    const found = letters.map((l) => {
      const gap = l.entry.gap
      assert.isDefined(gap, `a Gap entry without its range: ${l.entry.message}`)
      assert.strictEqual(l.subject, Subjects.deadLetterSubject("Gap"))
      assert.strictEqual(gap!.count, gap!.last - gap!.first + 1)
      assert.strictEqual(gap!.revealedBy, gap!.last + 1, "in these streams the next seq reveals each gap")
      assert.match(l.entry.subject, new RegExp(`^readings\\.\\d+\\.${gap!.device}\\.${gap!.sensor}$`))
      const span = gap!.first === gap!.last ? `seq ${gap!.first} is` : `seqs ${gap!.first}..${gap!.last} (${gap!.count}) are`
      assert.include(l.entry.message, `device ${gap!.device} sensor ${gap!.sensor}: readings with ${span} missing`)
      return key(gap!)
    })
    assert.deepStrictEqual([...found].sort(), expected.map(key).sort(), "the Gap dead letters are exactly the skipped ranges, once each")
  })
