/**
 * Benchmark: end-to-end throughput of one node (first publish → last raw point stored in
 * the database), over NATS (JetStream publish, msgpack) and MQTT QoS 1 (JSON), and in the
 * same run the raw JetStream consume+ack rate of the same server, as the reference, and MQTT
 * QoS 1 into JetStream with the node stopped (no consumer), the reference for MQTT end to end;
 * then devices' own dialects: MQTT batches (JSON arrays of 100 readings through an ingest route)
 * and the InfluxDB-compatible write endpoint (line protocol, batches of 5,000, the v2 client),
 * each with the node's CPU per reading beside single MQTT messages'. Bytes written to disk per
 * reading by each process (node, nats-server, database: `write_bytes` of /proc/<pid>/io, what
 * reaches the block layer) and checkpoint puts per second (the KV bucket's sequence) are
 * measured over the live NATS and MQTT phases. Prints a table and writes a JSON result to
 * test/bench/results/.
 *
 *   npm run bench -- [--readings 100000] [--devices 200] [--drain-only]
 *
 * `--drain-only` stops after the backlog drain and prints its rate, the node's CPU per reading
 * and RSS: for before/after pairs (`BENCH_NODE_FLAGS`, or two builds) run back to back.
 */
import { freePorts, scopedTempDir } from "@bramble/deploy"
import { InfluxDB, Point } from "@influxdata/influxdb-client"
import { connectAsync } from "mqtt"
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { CHECKPOINT_BUCKET } from "@bramble/nats"
import { Effect } from "effect"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import { makeReadings, publishMqtt, publishNats } from "../support/index.js"
import { startNodeUnderTest, type NodeUnderTest } from "./NodeUnderTest.js"

const { values: args } = parseArgs({
  options: {
    readings: { type: "string", default: "100000" },
    devices: { type: "string", default: "200" },
    profile: { type: "string" },
    // Only the backlog drain (the node's own pace and CPU per reading): quick A/B pairs.
    "drain-only": { type: "boolean", default: false }
  }
})
const N = Number(args.readings)
const D = Number(args.devices)

/** CPU time (user + system) the process has used, in ms: the node's cost per reading, which
 * (unlike a rate) holds still when other work shares the machine. */
const cpuMs = (pid: number | undefined): number => {
  if (pid === undefined) return Number.NaN
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return Number.NaN
  }
}

/** A memory figure of the process from /proc/<pid>/status (VmRSS, VmHWM: the peak RSS), in bytes. */
const memoryOf = (pid: number | undefined, field: string): number => {
  if (pid === undefined) return Number.NaN
  try {
    return Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) * 1024
  } catch {
    return Number.NaN
  }
}

/** Bytes the process caused to be written to storage (/proc/<pid>/io `write_bytes`). */
const writeBytes = (pid: number | undefined): number => {
  if (pid === undefined) return Number.NaN
  try {
    return Number(/^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"))?.[1] ?? Number.NaN)
  } catch {
    return Number.NaN
  }
}

/** Messages ever stored in the checkpoint bucket (its stream's last sequence): one per put. */
const checkpointPuts = async (node: NodeUnderTest) =>
  (await (await jetstreamManager(node.nc)).streams.info(`KV_${CHECKPOINT_BUCKET}`)).state.last_seq

const waitStored = async (node: NodeUnderTest, target: number) => {
  let lastReport = Date.now()
  while (true) {
    const s = await node.status().catch(() => undefined)
    // A node still starting may answer with an error instead of its status: asked again.
    if (s?.storage !== undefined && s.storage.readingsWritten >= target) return Date.now()
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now()
      console.log(`waiting: ${s?.storage?.readingsWritten} of ${target} stored`, JSON.stringify(s))
    }
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** Consume every message of READINGS with a fresh consumer, acking each: the log's own pace. */
const rawConsumeAck = async (node: NodeUnderTest, count: number) => {
  const jsm = await jetstreamManager(node.nc)
  const js = jetstream(node.nc)
  await jsm.consumers.add("READINGS", { durable_name: "bench-raw", ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: -1 })
  const consumer = await js.consumers.get("READINGS", "bench-raw")
  const messages = await consumer.consume({ max_messages: 2000 })
  const started = Date.now()
  let seen = 0
  for await (const m of messages) {
    m.ack()
    if (++seen >= count) break
  }
  const elapsed = Date.now() - started
  await messages.close()
  await jsm.consumers.delete("READINGS", "bench-raw")
  return { messages: seen, elapsedMs: elapsed, perSec: seen / elapsed * 1000 }
}

const program = Effect.scoped(Effect.gen(function*() {
  // BENCH_KEEP=1 keeps the directory (the node's log, e.g. with BENCH_NODE_FLAGS=--trace-gc).
  const keep = process.env["BENCH_KEEP"] === "1"
  const dir = yield* scopedTempDir({ prefix: "bramble-bench-", keep })
  if (keep) console.log(`kept: ${dir}`)
  const [httpPort] = yield* freePorts(1)
  // The route MQTT batches take (docs/ingest-routes.md): a JSON array of readings per message.
  const batchRoute = `ingest: { routes: [{ name: batch, topic: "bench-batch/+device", dialect: json, timeField: ts }] }`
  const node = yield* startNodeUnderTest({
    dir,
    httpPort: httpPort!,
    extra: [batchRoute, process.env["BENCH_EXTRA"] ?? ""].join("\n"),
    ...(args.profile === undefined ? {} : { cpuProfileDir: resolve(args.profile) })
  })
  const base = Date.now() - 6 * 3600_000
  const results: Record<string, unknown> = {}

  // Backlog drain: with the node stopped, N readings go into the log; then the node starts
  // and works through them. This is the node's own pace, not the publishers'.
  yield* node.process.stop
  const backlog = makeReadings({ devices: D, perDevice: Math.ceil(N / D), startMs: base - 3 * 3600_000, stepMs: 100, seqStart: 20_000_000 }).slice(0, N)
  const backlogPub = yield* Effect.promise(() => publishNats(node.natsUrl, backlog, { window: 4096 }))
  const startAt = Date.now()
  yield* node.process.start
  const drainStart = Date.now()
  results["nodeColdStartMs"] = drainStart - startAt
  const pid = yield* node.process.pid
  const drainCpu = cpuMs(pid)
  // Cold start as a user sees it: until the first reading of the backlog is durable
  // (membership, partition leases, consumers, device restore, first database write).
  results["nodeColdStartToFirstStoredMs"] = (yield* Effect.promise(() => waitStored(node, 1))) - startAt
  const drained = yield* Effect.promise(() => waitStored(node, backlogPub.acknowledged.length))
  const drainCpuMs = cpuMs(pid) - drainCpu
  results["nodeRssAfterDrainBytes"] = memoryOf(pid, "VmRSS")
  // How well the drain batched: readings per batch taken from the log, and device-actor
  // messages per reading (one per device per batch). Counts, so they hold still under load.
  const batching = yield* Effect.promise(async () => {
    const s = await node.status()
    const sum = (k: "batches" | "deviceMessages" | "accepted") => s.partitions.reduce((n, p) => n + (p[k] ?? 0), 0)
    return { readingsPerBatch: sum("accepted") / sum("batches"), deviceMessagesPerReading: sum("deviceMessages") / sum("accepted") }
  })
  results["backlogDrain"] = {
    readings: backlogPub.acknowledged.length,
    publishPerSec: backlogPub.ackedPerSec,
    endToEndMs: drained - drainStart,
    endToEndPerSec: backlogPub.acknowledged.length / (drained - drainStart) * 1000,
    nodeCpuMs: drainCpuMs,
    nodeCpuUsPerReading: drainCpuMs * 1000 / backlogPub.acknowledged.length,
    ...batching
  }
  const afterDrain = backlogPub.acknowledged.length
  if (args["drain-only"]) {
    const d = results["backlogDrain"] as { readings: number; endToEndPerSec: number; nodeCpuUsPerReading: number; readingsPerBatch: number; deviceMessagesPerReading: number }
    console.log(`backlog drain: ${d.readings} readings, ${d.endToEndPerSec.toFixed(0)}/s, node CPU per reading ${d.nodeCpuUsPerReading.toFixed(1)} µs, ` +
      `${d.readingsPerBatch.toFixed(0)} readings per batch, ${d.deviceMessagesPerReading.toFixed(3)} device messages per reading, ` +
      `node RSS after the drain ${((results["nodeRssAfterDrainBytes"] as number) / 1024 / 1024).toFixed(0)} MB, peak ${(memoryOf(pid, "VmHWM") / 1024 / 1024).toFixed(0)} MB; ` +
      `load ${loadavg().map((l) => l.toFixed(2)).join(" ")}; BENCH_NODE_FLAGS=${process.env["BENCH_NODE_FLAGS"] ?? ""}`)
    return
  }

  // Disk writes over the live phases (NATS, MQTT QoS 1, MQTT QoS 0), per process.
  const pids = yield* node.serverPids
  const writesAt = () => ({ node: writeBytes(pid), nats: writeBytes(pids.nats), db: writeBytes(pids.db) })
  const writesBefore = writesAt()
  const putsBefore = yield* Effect.promise(() => checkpointPuts(node))
  const liveStart = Date.now()

  // NATS: JetStream publish with PubAck, msgpack payloads.
  const natsReadings = makeReadings({ devices: D, perDevice: Math.ceil(N / D), startMs: base, stepMs: 100 }).slice(0, N)
  const natsStart = Date.now()
  const natsCpu = cpuMs(pid)
  const natsPub = yield* Effect.promise(() => publishNats(node.natsUrl, natsReadings, { window: 4096 }))
  const natsStored = yield* Effect.promise(() => waitStored(node, afterDrain + natsPub.acknowledged.length))
  results["nats"] = {
    readings: natsPub.acknowledged.length,
    publishPerSec: natsPub.ackedPerSec,
    endToEndMs: natsStored - natsStart,
    endToEndPerSec: natsPub.acknowledged.length / (natsStored - natsStart) * 1000,
    nodeCpuMs: cpuMs(pid) - natsCpu,
    nodeCpuUsPerReading: (cpuMs(pid) - natsCpu) * 1000 / natsPub.acknowledged.length
  }

  // MQTT QoS 1: JSON payloads, several clients.
  const before = (yield* Effect.promise(() => node.status())).storage.readingsWritten
  const mqttN = Math.floor(N / 2)
  const mqttReadings = makeReadings({ devices: D, perDevice: Math.ceil(mqttN / D), startMs: base + 3 * 3600_000, stepMs: 100, seqStart: 10_000_000 }).slice(0, mqttN)
  const mqttStart = Date.now()
  const mqttCpu = cpuMs(pid)
  const mqttPub = yield* Effect.promise(() => publishMqtt(node.mqttUrl, mqttReadings, { qos: 1, clients: 4, window: 2000 }))
  const mqttStored = yield* Effect.promise(() => waitStored(node, before + mqttPub.acknowledged.length))
  results["mqttQos1"] = {
    readings: mqttPub.acknowledged.length,
    publishPerSec: mqttPub.ackedPerSec,
    endToEndMs: mqttStored - mqttStart,
    endToEndPerSec: mqttPub.acknowledged.length / (mqttStored - mqttStart) * 1000,
    nodeCpuMs: cpuMs(pid) - mqttCpu,
    nodeCpuUsPerReading: (cpuMs(pid) - mqttCpu) * 1000 / mqttPub.acknowledged.length
  }

  // MQTT QoS 0: nothing is acknowledged, so the end is when the stored count stops growing;
  // what did not arrive (dropped by the server under overload) is reported, not hidden.
  const before0 = (yield* Effect.promise(() => node.status())).storage.readingsWritten
  const qos0Readings = makeReadings({ devices: D, perDevice: Math.ceil(mqttN / D), startMs: base + 4 * 3600_000, stepMs: 100, seqStart: 30_000_000 }).slice(0, mqttN)
  const qos0Start = Date.now()
  const qos0Pub = yield* Effect.promise(() => publishMqtt(node.mqttUrl, qos0Readings, { qos: 0, clients: 4, window: 2000 }))
  let stored0 = 0
  let storedAt0 = Date.now()
  while (true) {
    const now = (yield* Effect.promise(() => node.status())).storage.readingsWritten - before0
    if (now !== stored0) {
      stored0 = now
      storedAt0 = Date.now()
    }
    if (stored0 >= qos0Readings.length || Date.now() - storedAt0 > 3_000) break
    yield* Effect.sleep(25)
  }
  results["mqttQos0"] = {
    readings: stored0,
    sent: qos0Readings.length,
    publishPerSec: qos0Pub.attempted.length / qos0Pub.elapsedMs * 1000,
    endToEndMs: storedAt0 - qos0Start,
    endToEndPerSec: stored0 / (storedAt0 - qos0Start) * 1000
  }

  results["nodeRssAfterLiveBytes"] = memoryOf(pid, "VmRSS")
  results["nodeRssPeakBytes"] = memoryOf(pid, "VmHWM")
  const writesAfter = writesAt()
  const putsAfter = yield* Effect.promise(() => checkpointPuts(node))
  const liveReadings = natsPub.acknowledged.length + mqttPub.acknowledged.length + stored0
  const liveSeconds = (Date.now() - liveStart) / 1000
  results["diskWrites"] = {
    readings: liveReadings,
    seconds: liveSeconds,
    bytesPerReading: {
      node: (writesAfter.node - writesBefore.node) / liveReadings,
      natsServer: (writesAfter.nats - writesBefore.nats) / liveReadings,
      database: (writesAfter.db - writesBefore.db) / liveReadings
    },
    checkpointPuts: putsAfter - putsBefore,
    checkpointPutsPerSec: (putsAfter - putsBefore) / liveSeconds
  }


  // MQTT batches: 100 readings per QoS 1 message, JSON arrays, through the ingest route.
  {
    const before = (yield* Effect.promise(() => node.status())).storage.readingsWritten
    const readings = makeReadings({ devices: D, perDevice: Math.ceil(mqttN / D), startMs: base + 5 * 3600_000, stepMs: 100, seqStart: 40_000_000 }).slice(0, mqttN)
    const byDevice = new Map<string, Array<(typeof readings)[number]>>()
    for (const r of readings) byDevice.set(r.device, [...(byDevice.get(r.device) ?? []), r])
    const messages: Array<{ topic: string; payload: string }> = []
    for (const [device, list] of byDevice) {
      for (let i = 0; i < list.length; i += 100) {
        messages.push({ topic: `bench-batch/${device}`, payload: JSON.stringify(list.slice(i, i + 100).map((r) => ({ ts: r.ts, ...r.values }))) })
      }
    }
    const start = Date.now()
    const cpu = cpuMs(pid)
    const client = yield* Effect.promise(() => connectAsync(node.mqttUrl, { protocolVersion: 4, clean: true }))
    for (let i = 0; i < messages.length; i += 100) {
      yield* Effect.promise(() => Promise.all(messages.slice(i, i + 100).map((m) => client.publishAsync(m.topic, m.payload, { qos: 1 }))))
    }
    const published = Date.now()
    yield* Effect.promise(() => client.endAsync())
    const stored = yield* Effect.promise(() => waitStored(node, before + readings.length))
    results["mqttBatches"] = {
      readings: readings.length,
      messages: messages.length,
      publishPerSec: readings.length / (published - start) * 1000,
      endToEndMs: stored - start,
      endToEndPerSec: readings.length / (stored - start) * 1000,
      nodeCpuMs: cpuMs(pid) - cpu,
      nodeCpuUsPerReading: (cpuMs(pid) - cpu) * 1000 / readings.length
    }
  }

  // The write endpoint: line protocol in batches of 5,000 from the InfluxDB v2 client, one at a
  // time (flushed and awaited here: with batchSize 5,000 the client would send a full batch
  // without waiting for the one before).
  {
    const before = (yield* Effect.promise(() => node.status())).storage.readingsWritten
    const readings = makeReadings({ devices: D, perDevice: Math.ceil(mqttN / D), startMs: base + 6 * 3600_000, stepMs: 100, seqStart: 50_000_000 }).slice(0, mqttN)
    const writeApi = new InfluxDB({ url: `http://127.0.0.1:${httpPort}`, token: "unused" }).getWriteApi("bench", "bench", "ms", { batchSize: 5_001, maxRetries: 0, flushInterval: 0 })
    const start = Date.now()
    const cpu = cpuMs(pid)
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i]!
      const point = new Point(r.sensor).tag("device", r.device).timestamp(r.ts)
      for (const [name, value] of Object.entries(r.values)) point.floatField(name, value)
      writeApi.writePoint(point)
      if ((i + 1) % 5_000 === 0) yield* Effect.promise(() => writeApi.flush())
    }
    yield* Effect.promise(() => writeApi.close())
    const acknowledged = Date.now()
    const stored = yield* Effect.promise(() => waitStored(node, before + readings.length))
    results["writeEndpoint"] = {
      readings: readings.length,
      publishPerSec: readings.length / (acknowledged - start) * 1000,
      endToEndMs: stored - start,
      endToEndPerSec: readings.length / (stored - start) * 1000,
      nodeCpuMs: cpuMs(pid) - cpu,
      nodeCpuUsPerReading: (cpuMs(pid) - cpu) * 1000 / readings.length
    }
  }

  // Reference for MQTT: QoS 1 into JetStream with the node stopped (no consumer), same
  // publishers; what the node then drains is not measured.
  yield* node.process.stop
  const mqttRefReadings = makeReadings({ devices: D, perDevice: Math.ceil(mqttN / D), startMs: base + 7 * 3600_000, stepMs: 100, seqStart: 60_000_000 }).slice(0, mqttN)
  const mqttRef = yield* Effect.promise(() => publishMqtt(node.mqttUrl, mqttRefReadings, { qos: 1, clients: 4, window: 2000 }))
  results["mqttQos1IntoJetStream"] = { readings: mqttRef.acknowledged.length, publishPerSec: mqttRef.ackedPerSec }
  results["ratioMqttQos1"] = (results["mqttQos1"] as { endToEndPerSec: number }).endToEndPerSec / mqttRef.ackedPerSec

  // Reference: the raw JetStream consume + ack rate on the same server, same messages.
  const raw = yield* Effect.promise(() => rawConsumeAck(node, backlogPub.acknowledged.length))
  results["rawJetStreamConsumeAck"] = raw
  const drain = results["backlogDrain"] as { endToEndPerSec: number }
  const nats = results["nats"] as { endToEndPerSec: number }
  results["ratioBacklog"] = drain.endToEndPerSec / raw.perSec
  results["ratioLiveNats"] = nats.endToEndPerSec / raw.perSec

  yield* node.process.start
  const status = yield* Effect.promise(() => node.status())
  const summary = {
    benchmark: "throughput",
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg() },
    devices: D,
    results,
    node: status.totals
  }
  const line = (name: string, r: { readings: number; publishPerSec: number; endToEndPerSec: number; endToEndMs: number }) =>
    `${name.padEnd(22)} ${String(r.readings).padStart(8)} ${r.publishPerSec.toFixed(0).padStart(12)} ${r.endToEndPerSec.toFixed(0).padStart(14)} ${String(r.endToEndMs).padStart(10)}`
  console.log(`\nBramble throughput, one node, ${cpus().length} cores, ${D} devices`)
  console.log(`${"path".padEnd(22)} ${"readings".padStart(8)} ${"publish/s".padStart(12)} ${"end-to-end/s".padStart(14)} ${"ms".padStart(10)}`)
  console.log(line("backlog drain (node)", results["backlogDrain"] as never))
  console.log(line("NATS (JetStream)", results["nats"] as never))
  console.log(line("MQTT QoS 1", results["mqttQos1"] as never))
  console.log(line("MQTT QoS 0 (stored)", results["mqttQos0"] as never) + `   (${(results["mqttQos0"] as { sent: number }).sent} sent)`)
  console.log(line("MQTT batches (x100)", results["mqttBatches"] as never))
  console.log(line("write endpoint (5,000)", results["writeEndpoint"] as never))
  console.log(`${"raw consume+ack".padEnd(22)} ${String(raw.messages).padStart(8)} ${"".padStart(12)} ${raw.perSec.toFixed(0).padStart(14)} ${String(raw.elapsedMs).padStart(10)}`)
  const perReading = (r: unknown) => ((r as { nodeCpuUsPerReading: number }).nodeCpuUsPerReading).toFixed(1)
  const mb = (k: string) => ((results[k] as number) / 1024 / 1024).toFixed(0)
  console.log(`node CPU per reading: backlog drain ${perReading(results["backlogDrain"])} µs, live NATS ${perReading(results["nats"])} µs (1 core = 1,000,000 µs/s); node RSS after the drain ${mb("nodeRssAfterDrainBytes")} MB, after the live phases ${mb("nodeRssAfterLiveBytes")} MB, peak ${mb("nodeRssPeakBytes")} MB`)
  console.log(`node CPU per reading: MQTT QoS 1 single messages ${perReading(results["mqttQos1"])} µs, MQTT batches of 100 ${perReading(results["mqttBatches"])} µs, write endpoint ${perReading(results["writeEndpoint"])} µs`)
  console.log(`node cold start: process start → answering status ${results["nodeColdStartMs"]} ms, → first reading of the backlog stored ${results["nodeColdStartToFirstStoredMs"]} ms`)
  console.log(`ratio to raw consume+ack: backlog drain ${(results["ratioBacklog"] as number).toFixed(2)}, live NATS ${(results["ratioLiveNats"] as number).toFixed(2)}`)
  console.log(`MQTT QoS 1 into JetStream, node stopped: ${mqttRef.ackedPerSec.toFixed(0)}/s; end to end ÷ that: ${(results["ratioMqttQos1"] as number).toFixed(2)}`)
  const disk = results["diskWrites"] as { bytesPerReading: Record<string, number>; checkpointPuts: number; checkpointPutsPerSec: number; seconds: number }
  const b = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? "?" : n.toFixed(1))
  console.log(`bytes written to disk per reading (live phases): node ${b(disk.bytesPerReading["node"])}, nats-server ${b(disk.bytesPerReading["natsServer"])}, database ${b(disk.bytesPerReading["database"])}; checkpoint puts ${disk.checkpointPuts} (${disk.checkpointPutsPerSec.toFixed(1)}/s over ${disk.seconds.toFixed(0)} s)\n`)
  const out = resolve(import.meta.dirname, "results")
  mkdirSync(out, { recursive: true })
  const file = join(out, `throughput-${summary.at.replace(/[:.]/g, "-")}.json`)
  writeFileSync(file, JSON.stringify(summary, null, 2))
  console.log(`result: ${file}`)
}))

Effect.runPromise(program).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
