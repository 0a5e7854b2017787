/**
 * Load for system tests, fault tests and benchmarks: deterministic readings, and publishers
 * that push them through NATS (JetStream publish, msgpack, de-duplication id) or MQTT
 * (JSON, QoS 0/1) exactly as devices do, recording which readings were acknowledged.
 *
 * "Acknowledged" is the publisher's evidence that the system accepted a reading, and what
 * the lost/duplicated checker holds the system to:
 * - NATS: the JetStream PubAck (the stream stored the message; a `duplicate` PubAck means it
 *   was already stored under the same msgID, which still counts).
 * - MQTT QoS 1: the PUBACK. nats-server 2.9 sends it without waiting for JetStream to store
 *   the message (checked on 2.9.10 in test/e2e/support.test.ts: a QoS 1 publish that no
 *   stream captures is PUBACKed), so a PUBACKed reading can still miss the stream (no stream
 *   listening, JetStream down or out of quorum; a publish the account may not make is also
 *   PUBACKed and dropped, see docs/design.md, decision 1). It is weaker evidence than a PubAck: fault tests that
 *   assert "nothing acknowledged is lost" should publish through NATS, or count MQTT losses
 *   against that documented limit.
 * - MQTT QoS 0: only that MQTT.js wrote the packet to the socket. It proves nothing.
 *
 * Publishers keep many publishes in flight (a window of outstanding acks) instead of
 * awaiting each one: serial publishing is one round trip per reading, far below the
 * 20,000 readings/s the benchmarks need on a 2-core box. NATS publishes go through
 * `internal/AsyncJetStreamPublisher` (same wire traffic as `jetstream(nc).publish`, a
 * fraction of its client-side cost).
 */
import { InFlight } from "./internal/InFlight.js"
import { type ConnectionEvent, openMqttSender, openNatsSender, Outcomes, type Sender, urlList } from "./internal/Senders.js"
import type { RawPoint } from "./Points.js"

export { mqttPayload, natsPayload, readingPayload } from "./internal/Payload.js"

/** A reading a test publishes: a raw point plus the device's sequence number. */
export interface TestReading extends RawPoint {
  /** Unique per device; with the sensor it forms the JetStream msgID. */
  readonly seq: number
}

// ---------------------------------------------------------------------------------------
// Deterministic readings

export interface MakeReadingsOptions {
  /** How many devices (named `dev-0000`, `dev-0001`, …) or their names. */
  readonly devices: number | ReadonlyArray<string>
  /** Readings per device. */
  readonly perDevice: number
  /** Event time of the first reading, ms since the epoch. victoria-metrics refuses points
   * more than 2 days in the future, so keep `startMs + perDevice * stepMs` below that. */
  readonly startMs: number
  /** Time between two readings of one device, ms (≥ 1). */
  readonly stepMs: number
  /** Default `"env"`. */
  readonly sensor?: string
  /** Seed of the value generator. Default 1. */
  readonly seed?: number
  /** Metric names of every reading. Default `["temperature", "humidity"]`. */
  readonly metrics?: ReadonlyArray<string>
  /** First sequence number of every device. Default 0. */
  readonly seqStart?: number
}

/** The device names `makeReadings` and `steadyLoad` use for `devices: n`. */
export const deviceNames = (devices: number | ReadonlyArray<string>): ReadonlyArray<string> => {
  if (typeof devices !== "number") return devices
  const width = Math.max(4, String(Math.max(0, devices - 1)).length)
  return Array.from({ length: devices }, (_, i) => `dev-${String(i).padStart(width, "0")}`)
}

/** mulberry32: a tiny, fast, seedable PRNG; the same seed gives the same load on every run. */
export const prng = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const RANGES: Record<string, readonly [number, number]> = { temperature: [15, 30], humidity: [30, 70] }

/** Values with two decimals: they survive victoria-metrics' 12-significant-digit storage and
 * InfluxDB's float round trip unchanged, so stored raw points compare exactly. */
const valueSource = (seed: number, metrics: ReadonlyArray<string>) => {
  const random = prng(seed)
  return (): Record<string, number> => {
    const values: Record<string, number> = {}
    for (const metric of metrics) {
      const [low, high] = RANGES[metric] ?? [0, 100]
      values[metric] = Math.round((low + random() * (high - low)) * 100) / 100
    }
    return values
  }
}

const DEFAULT_METRICS = ["temperature", "humidity"] as const

/**
 * `perDevice` readings for each device, interleaved in time order: reading k of device d
 * has ts = startMs + k·stepMs + ⌊d·stepMs/devices⌋ and seq = seqStart + k. So (device, seq)
 * and (device, ts) are unique, and the array is sorted by ts (ties only when there are more
 * devices than milliseconds in a step).
 */
export const makeReadings = (options: MakeReadingsOptions): Array<TestReading> => {
  const devices = deviceNames(options.devices)
  const sensor = options.sensor ?? "env"
  const seqStart = options.seqStart ?? 0
  if (!Number.isInteger(options.stepMs) || options.stepMs < 1) throw new RangeError(`stepMs must be a positive integer, got ${options.stepMs}`)
  const values = valueSource(options.seed ?? 1, options.metrics ?? DEFAULT_METRICS)
  const readings: Array<TestReading> = []
  for (let k = 0; k < options.perDevice; k++) {
    for (let d = 0; d < devices.length; d++) {
      const ts = options.startMs + k * options.stepMs + Math.floor((d * options.stepMs) / devices.length)
      readings.push({ device: devices[d]!, sensor, seq: seqStart + k, ts, values: values() })
    }
  }
  return readings
}

// ---------------------------------------------------------------------------------------
// One-shot publishers

/** A reading whose publish was not acknowledged (it may or may not have been stored). */
export interface PublishFailure {
  readonly reading: TestReading
  readonly error: string
}

/** What a publisher did. Every array is in publish order. */
export interface PublishReport {
  /** Every reading the publisher tried to send. */
  readonly attempted: ReadonlyArray<TestReading>
  /** The readings whose ack arrived (see the module header for what an ack means per transport). */
  readonly acknowledged: ReadonlyArray<TestReading>
  /** The readings whose publish failed or timed out: indeterminate, not necessarily lost. */
  readonly failed: ReadonlyArray<PublishFailure>
  /** Acknowledged readings the stream already held under the same msgID (NATS only). */
  readonly duplicates: number
  readonly elapsedMs: number
  /** Acknowledged readings per second over `elapsedMs`. */
  readonly ackedPerSec: number
}

const publishAll = async (sender: Sender, readings: ReadonlyArray<TestReading>, window: number): Promise<PublishReport> => {
  const inFlight = new InFlight(window)
  const outcomes = new Outcomes()
  try {
    for (const reading of readings) {
      await inFlight.acquire()
      outcomes.issue(sender, reading, inFlight)
    }
    await inFlight.idle()
  } finally {
    await sender.close()
  }
  return outcomes.report()
}

export interface PublishNatsOptions {
  /** Most PubAcks outstanding at once. Default 1024. */
  readonly window?: number
  /** How long to wait for one PubAck, ms. Default 10,000. */
  readonly timeoutMs?: number
}

/**
 * Publishes `readings` to `ingest.<device>.<sensor>` as JetStream publishes (msgpack payload,
 * `Nats-Msg-Id` = `Subjects.readingMsgId`, a PubAck per message), keeping up to `window`
 * PubAcks in flight. A publish fails when the PubAck reports an error, nothing answers (no
 * stream captures the subject) or `timeoutMs` passes; there are no retries. Resolves once
 * every publish has settled; rejects only when it cannot connect.
 */
export const publishNats = async (
  url: string | ReadonlyArray<string>,
  readings: ReadonlyArray<TestReading>,
  options: PublishNatsOptions = {}
): Promise<PublishReport> => {
  const sender = await openNatsSender(url, { timeoutMs: options.timeoutMs ?? 10_000, name: "bramble-test-publisher" })
  return publishAll(sender, readings, options.window ?? 1024)
}

export interface PublishMqttOptions {
  readonly qos: 0 | 1
  /** MQTT connections to spread devices over (a device always uses the same one). Default 1. */
  readonly clients?: number
  /** Most publishes outstanding at once, over all clients. Default 1000 (MQTT packet ids are 16-bit). */
  readonly window?: number
  /** How long to wait for one PUBACK (QoS 1) or socket write (QoS 0), ms. Default 10,000. */
  readonly timeoutMs?: number
}

/**
 * Publishes `readings` as JSON to `ingest/<device>/<sensor>` with MQTT.js. QoS 1 counts the
 * PUBACK as the acknowledgement, which nats-server 2.9 sends without waiting for JetStream
 * (see the module header). Rejects only when a client cannot connect.
 */
export const publishMqtt = async (
  mqttUrl: string,
  readings: ReadonlyArray<TestReading>,
  options: PublishMqttOptions
): Promise<PublishReport> => {
  const sender = await openMqttSender(mqttUrl, {
    qos: options.qos,
    clients: options.clients ?? 1,
    timeoutMs: options.timeoutMs ?? 10_000,
    name: "bramble-test-mqtt"
  })
  return publishAll(sender, readings, Math.min(options.window ?? 1000, 65_000))
}

// ---------------------------------------------------------------------------------------
// Steady load for fault tests

export interface SteadyLoadOptions {
  /** `nats://…` (one URL or a cluster's URLs) publishes through JetStream; `mqtt://…` through MQTT. */
  readonly url: string | ReadonlyArray<string>
  readonly ratePerSec: number
  readonly devices: number | ReadonlyArray<string>
  /** Stop after this long. At least one of `durationMs`, `until` or `stop()` must end the load. */
  readonly durationMs?: number
  /** Stop when this signal aborts. */
  readonly until?: AbortSignal
  /** Default `"env"`. */
  readonly sensor?: string
  /** Seed of the value generator. Default 1. */
  readonly seed?: number
  readonly metrics?: ReadonlyArray<string>
  /** First sequence number of every device. Default 0; use a new range when publishing to a
   * stream that already holds an earlier run's msgIDs within its duplicate window. */
  readonly seqStart?: number
  /** MQTT only. Default 1. */
  readonly qos?: 0 | 1
  /** MQTT only. Default 1. */
  readonly clients?: number
  /** Most acks outstanding at once. Default 1024. */
  readonly window?: number
  /** How long to wait for one ack, ms. Default 5,000. */
  readonly timeoutMs?: number
  /** Source of event times. Default `Date.now`; a device's ts always increases by ≥ 1 ms. */
  readonly clock?: () => number
}

/** Counters of a running steady load. */
export interface SteadyLoadProgress {
  readonly attempted: number
  readonly acknowledged: number
  readonly failed: number
  readonly inFlight: number
}

/** A running steady load. */
export interface SteadyLoad {
  /** Resolves once connected and publishing; rejects if the first connection fails. */
  readonly started: Promise<void>
  /** Resolves when the load has stopped and every publish has settled. */
  readonly done: Promise<PublishReport>
  readonly progress: () => SteadyLoadProgress
  /** The connection's events so far (MQTT; empty for NATS), see Sender. */
  readonly connectionEvents: () => ReadonlyArray<ConnectionEvent>
  /** Stops issuing, waits for the outstanding acks, and resolves with the report. */
  readonly stop: () => Promise<PublishReport>
}

const TICK_MS = 10

/**
 * Publishes about `ratePerSec` readings per second, round-robin over `devices`, until
 * `durationMs` passes, `until` aborts or `stop()` is called, recording every acknowledged
 * reading. While the window is full (the server is down or slow) it publishes nothing and
 * does not catch up afterwards beyond 100 ms worth of readings, so a fault does not turn
 * into a burst when it heals. Readings that were never issued do not exist: they are not
 * in `attempted`.
 */
export const steadyLoad = (options: SteadyLoadOptions): SteadyLoad => {
  if (!(options.ratePerSec > 0)) throw new RangeError(`ratePerSec must be positive, got ${options.ratePerSec}`)
  const stopper = new AbortController()
  const onAbort = () => stopper.abort()
  if (options.until?.aborted) stopper.abort()
  options.until?.addEventListener("abort", onAbort, { once: true })

  const devices = deviceNames(options.devices)
  const sensor = options.sensor ?? "env"
  const clock = options.clock ?? Date.now
  const nextValues = valueSource(options.seed ?? 1, options.metrics ?? DEFAULT_METRICS)
  const nextSeq = devices.map(() => options.seqStart ?? 0)
  const lastTs = devices.map(() => -Infinity)
  let turn = 0
  const nextReading = (): TestReading => {
    const d = turn++ % devices.length
    const ts = Math.max(clock(), lastTs[d]! + 1)
    lastTs[d] = ts
    return { device: devices[d]!, sensor, seq: nextSeq[d]!++, ts, values: nextValues() }
  }

  const inFlight = new InFlight(options.window ?? 1024)
  const outcomes = new Outcomes()
  const timeoutMs = options.timeoutMs ?? 5_000
  const urls = urlList(options.url)
  const isMqtt = urls[0]?.startsWith("mqtt") ?? false

  let markStarted: () => void = () => {}
  let failStart: (error: unknown) => void = () => {}
  const started = new Promise<void>((resolve, reject) => {
    markStarted = resolve
    failStart = reject
  })

  let openSender: Sender | undefined
  const run = async (): Promise<PublishReport> => {
    let sender: Sender
    try {
      sender = isMqtt
        ? await openMqttSender(urls, { qos: options.qos ?? 1, clients: options.clients ?? 1, timeoutMs, name: "bramble-steady-mqtt" })
        : await openNatsSender(urls, { timeoutMs, name: "bramble-steady-load" })
    } catch (error) {
      failStart(error)
      throw error
    }
    openSender = sender
    markStarted()
    const durationTimer = options.durationMs === undefined ? undefined : setTimeout(onAbort, options.durationMs)
    try {
      const startedAt = performance.now()
      const maxBacklog = Math.max(1, Math.ceil(options.ratePerSec / 10))
      let issued = 0
      while (!stopper.signal.aborted) {
        let due = Math.floor(((performance.now() - startedAt) * options.ratePerSec) / 1000) - issued
        if (due > maxBacklog) {
          issued += due - maxBacklog
          due = maxBacklog
        }
        for (; due > 0 && inFlight.hasRoom; due--, issued++) {
          await inFlight.acquire()
          outcomes.issue(sender, nextReading(), inFlight)
        }
        await new Promise<void>((resolve) => setTimeout(resolve, TICK_MS))
      }
      await inFlight.idle()
    } finally {
      if (durationTimer !== undefined) clearTimeout(durationTimer)
      options.until?.removeEventListener("abort", onAbort)
      await sender.close()
    }
    return outcomes.report()
  }

  const done = run()
  // Both carry a connection failure to whoever awaits them; neither is an unhandled
  // rejection when the caller awaits only the other.
  started.catch(() => {})
  done.catch(() => {})
  return {
    started,
    done,
    progress: () => ({
      attempted: outcomes.attempted.length,
      acknowledged: outcomes.acknowledgedCount,
      failed: outcomes.failedCount,
      inFlight: inFlight.size
    }),
    connectionEvents: () => openSender?.connectionEvents?.() ?? [],
    stop: () => {
      stopper.abort()
      return done
    }
  }
}
