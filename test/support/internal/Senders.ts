/**
 * The transports behind the publishers: a `Sender` turns one reading into one promise that
 * resolves when the reading is acknowledged (see Load.ts for what that means per transport),
 * and `Outcomes` records every promise's result by publish index, so reports come out in
 * publish order whatever order the acks arrive in.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { connectAsync, type MqttClient } from "mqtt"
import { Subjects } from "@bramble/protocol"
import type { PublishFailure, PublishReport, TestReading } from "../Load.js"
import { AsyncJetStreamPublisher } from "@bramble/nats"
import { describeError, type InFlight, withTimeout } from "./InFlight.js"
import { mqttPayload, natsPayload } from "./Payload.js"

/** How one publish was acknowledged. */
export type Ack = "stored" | "duplicate" | "puback" | "written"

export interface Sender {
  readonly send: (reading: TestReading) => Promise<Ack>
  readonly close: () => Promise<void>
  /** What happened to the connection (MQTT: close, offline, reconnect, connect, error), with
   * wall-clock times: how long a publisher took to come back after a fault is read from it. */
  readonly connectionEvents?: () => ReadonlyArray<ConnectionEvent>
}

export interface ConnectionEvent {
  readonly at: number
  readonly event: string
  readonly detail?: string
}

export const urlList = (url: string | ReadonlyArray<string>): Array<string> => (typeof url === "string" ? [url] : [...url])

export interface NatsSenderOptions {
  readonly timeoutMs: number
  readonly name: string
}

export const openNatsSender = async (url: string | ReadonlyArray<string>, options: NatsSenderOptions): Promise<Sender> => {
  // Reconnect forever: a fault test restarts servers under a running publisher, and a
  // publish made while disconnected simply times out (counted as failed, not acknowledged).
  const nc: NatsConnection = await connect({
    servers: urlList(url),
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    timeout: 10_000
  })
  const publisher = new AsyncJetStreamPublisher(nc, options.timeoutMs)
  return {
    send: (reading) =>
      publisher
        .publish(
          Subjects.ingestSubject(reading.device, reading.sensor),
          natsPayload(reading),
          Subjects.readingMsgId(reading.device, reading.sensor, reading.seq)
        )
        .then((ack) => (ack.duplicate ? "duplicate" : "stored")),
    close: async () => {
      publisher.close()
      await nc.close()
    }
  }
}

export interface MqttSenderOptions {
  readonly qos: 0 | 1
  readonly clients: number
  readonly timeoutMs: number
  readonly name: string
}

/**
 * Several URLs: a client set up as docs/cluster-formation.md ("Client settings that ride out
 * a node") tells users to — every node's broker in MQTT.js `servers` (it moves to the next
 * on each reconnect), a persistent session under a fixed client id, a reconnect period of a
 * second and a connect timeout of a few seconds. One URL: a client of that broker only.
 */
const mqttClientOptions = (urls: ReadonlyArray<string>, clientId: string) => {
  const base = { clientId, protocolVersion: 4 as const } // nats-server 2.9 speaks MQTT 3.1.1 only
  if (urls.length === 1) return { ...base, clean: true, reconnectPeriod: 250, connectTimeout: 10_000 }
  const servers = urls.map((u) => {
    const url = new URL(u)
    return { host: url.hostname, port: Number(url.port || 1883) }
  })
  return { ...base, servers, clean: false, reconnectPeriod: 1_000, connectTimeout: 3_000 }
}

/** How long a sender keeps trying to make its first connection. */
const FIRST_CONNECT_MS = 30_000

/**
 * The first connection, tried again until FIRST_CONNECT_MS has passed, as a device retries:
 * a broker on a loaded machine may take longer than the 3 s connect timeout to CONNACK a
 * persistent session (nats-server stores it in JetStream first). Seen once as a benchmark
 * that ended before its first fault with "connack timeout".
 */
const connectPatiently = async (url: string, options: ReturnType<typeof mqttClientOptions>): Promise<MqttClient> => {
  const deadline = Date.now() + FIRST_CONNECT_MS
  while (true) {
    try {
      return await connectAsync(url, options)
    } catch (error) {
      if (Date.now() >= deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 1_000))
    }
  }
}

export const openMqttSender = async (url: string | ReadonlyArray<string>, options: MqttSenderOptions): Promise<Sender> => {
  if (!Number.isInteger(options.clients) || options.clients < 1) throw new RangeError(`clients must be a positive integer, got ${options.clients}`)
  const urls = urlList(url)
  const clients: Array<MqttClient> = []
  try {
    for (let i = 0; i < options.clients; i++) {
      clients.push(await connectPatiently(urls[0]!, mqttClientOptions(urls, `${options.name}-${i}-${Math.random().toString(36).slice(2, 10)}`)))
    }
  } catch (error) {
    await Promise.all(clients.map((client) => client.endAsync(true)))
    throw error
  }
  // Each publish in flight waits for the socket's "drain" while its buffer is full: up to the
  // publish window (at most 65,000) listeners at once, which is intended, not a leak.
  for (const client of clients) client.stream.setMaxListeners(0)
  const events: Array<ConnectionEvent> = []
  const record = (event: string, detail?: string) => {
    if (events.length < 10_000) events.push({ at: Date.now(), event, ...(detail === undefined ? {} : { detail }) })
  }
  for (const client of clients) {
    for (const event of ["close", "offline", "reconnect", "connect"] as const) client.on(event, () => record(event))
    client.on("error", (error) => record("error", error.message))
  }
  // A device always goes through the same client, so its readings arrive in publish order.
  const clientOf = new Map<string, MqttClient>()
  const ack: Ack = options.qos === 1 ? "puback" : "written"
  return {
    send: (reading) => {
      let client = clientOf.get(reading.device)
      if (client === undefined) {
        client = clients[clientOf.size % clients.length]!
        clientOf.set(reading.device, client)
      }
      return withTimeout(
        client.publishAsync(Subjects.ingestTopic(reading.device, reading.sensor), mqttPayload(reading), { qos: options.qos }),
        options.timeoutMs,
        `no ${options.qos === 1 ? "PUBACK" : "write"} within ${options.timeoutMs} ms`
      ).then(() => ack)
    },
    close: async () => {
      await Promise.all(clients.map((client) => client.endAsync(true)))
    },
    connectionEvents: () => events
  }
}

export const sendOrReject = (sender: Sender, reading: TestReading): Promise<Ack> => {
  try {
    return sender.send(reading)
  } catch (error) {
    return Promise.reject(error)
  }
}

/** Collects outcomes by publish index, so reports come out in publish order whatever order acks arrive in. */
export class Outcomes {
  readonly attempted: Array<TestReading> = []
  private readonly acks: Array<Ack | undefined> = []
  private readonly errors: Array<string | undefined> = []
  acknowledgedCount = 0
  failedCount = 0
  private readonly startedAt = performance.now()

  issue(sender: Sender, reading: TestReading, inFlight: InFlight): void {
    const index = this.attempted.length
    this.attempted.push(reading)
    inFlight.track(sendOrReject(sender, reading)).then(
      (ack) => {
        this.acks[index] = ack
        this.acknowledgedCount++
      },
      (error: unknown) => {
        this.errors[index] = describeError(error)
        this.failedCount++
      }
    )
  }

  report(): PublishReport {
    const elapsedMs = performance.now() - this.startedAt
    const acknowledged: Array<TestReading> = []
    const failed: Array<PublishFailure> = []
    let duplicates = 0
    this.attempted.forEach((reading, i) => {
      const ack = this.acks[i]
      if (ack !== undefined) {
        acknowledged.push(reading)
        if (ack === "duplicate") duplicates++
      } else {
        failed.push({ reading, error: this.errors[i] ?? "publish did not settle" })
      }
    })
    return {
      attempted: this.attempted,
      acknowledged,
      failed,
      duplicates,
      elapsedMs,
      ackedPerSec: elapsedMs > 0 ? (acknowledged.length * 1000) / elapsedMs : 0
    }
  }
}
