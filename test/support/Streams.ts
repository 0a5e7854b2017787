/**
 * Looking at JetStream directly: create a readings stream for a test that runs without a
 * Bramble node, and read back every reading a stream holds, decoded with the wire codecs
 * (JSON from MQTT, msgpack from NATS) but none of the product's validation, so a test sees
 * what was stored, not what Bramble would accept.
 */
import { DeliverPolicy, jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { type Alarm, Codec, decodeReadings, readAlarm, Subjects } from "@bramble/protocol"

const withConnection = async <A>(url: string | ReadonlyArray<string>, use: (nc: NatsConnection) => Promise<A>): Promise<A> => {
  const nc = await connect({ servers: typeof url === "string" ? [url] : [...url], name: "bramble-test-inspector" })
  try {
    return await use(nc)
  } finally {
    await nc.close()
  }
}

export interface CreateStreamOptions {
  /** Default `["readings.*.*.*"]`, what the ingest mapping produces. */
  readonly subjects?: ReadonlyArray<string>
  /** Default "file". */
  readonly storage?: "file" | "memory"
  /** De-duplication window, ms. Default: the server's (2 minutes). */
  readonly duplicateWindowMs?: number
}

/** Creates (or finds identical) stream `name`. */
export const createStream = (url: string | ReadonlyArray<string>, name: string, options: CreateStreamOptions = {}): Promise<void> =>
  withConnection(url, async (nc) => {
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({
      name,
      subjects: [...(options.subjects ?? Subjects.READINGS_SUBJECTS)],
      storage: options.storage === "memory" ? StorageType.Memory : StorageType.File,
      ...(options.duplicateWindowMs === undefined ? {} : { duplicate_window: options.duplicateWindowMs * 1_000_000 })
    })
  })

/** How many messages stream `name` holds. */
export const streamMessageCount = (url: string | ReadonlyArray<string>, name: string): Promise<number> =>
  withConnection(url, async (nc) => {
    const jsm = await jetstreamManager(nc)
    return (await jsm.streams.info(name)).state.messages
  })

/** A reading as a stream holds it: the subject's device/sensor and the payload as decoded. */
export interface StreamReading {
  readonly streamSeq: number
  readonly subject: string
  readonly partition: number
  readonly device: string
  readonly sensor: string
  /** The payload's `ts`, or NaN when it has none. */
  readonly ts: number
  readonly seq: number | undefined
  readonly values: Readonly<Record<string, number>>
  /** The decoded payload, for messages that are not well-formed readings. */
  readonly payload: unknown
  /** Its `Nats-Msg-Id` header, if it has one. */
  readonly msgId?: string
}

const decodePayload = (data: Uint8Array): unknown => {
  try {
    return Codec.isJson(data) ? Codec.decodeJson(data) : Codec.decode(data)
  } catch (error) {
    return { undecodable: error instanceof Error ? error.message : String(error) }
  }
}

const toStreamReading = (streamSeq: number, subject: string, data: Uint8Array, msgId?: string): StreamReading => {
  const [, partition = "", device = "", sensor = ""] = subject.split(".")
  const payload = decodePayload(data)
  const body = (typeof payload === "object" && payload !== null ? payload : {}) as {
    ts?: unknown
    seq?: unknown
    values?: unknown
  }
  return {
    streamSeq,
    subject,
    partition: Number(partition),
    device,
    sensor,
    ts: typeof body.ts === "number" ? body.ts : Number.NaN,
    seq: typeof body.seq === "number" ? body.seq : undefined,
    values: typeof body.values === "object" && body.values !== null ? (body.values as Record<string, number>) : {},
    payload,
    ...(msgId === undefined || msgId === "" ? {} : { msgId })
  }
}

/**
 * Every message of stream `name` (by default the whole stream as it is when the call starts),
 * in stream order, with an ephemeral ordered consumer. Such a consumer reads the copy of the
 * stream on the server it is placed on (the server picks one of the stream's peers): with
 * `server`, the read is retried until it is placed there (`"leader"`: the stream's leader,
 * whose copy the cluster serves), and `onServer` says where each read came from.
 */
export const readStreamReadings = (
  url: string | ReadonlyArray<string>,
  name: string,
  options: { readonly timeoutMs?: number; readonly server?: string; readonly onServer?: (server: string) => void } = {}
): Promise<Array<StreamReading>> =>
  withConnection(url, async (nc) => {
    const jsm = await jetstreamManager(nc)
    const info = await jsm.streams.info(name)
    const state = info.state
    if (state.messages === 0) return []
    const wanted = options.server === "leader" ? info.cluster?.leader : options.server
    // Creating the reader is a JetStream API request; right after a heal the API can time out
    // for a while (CI saw it once in the partition test's read-back): a few tries, then fail.
    const openReader = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await jetstream(nc).consumers.get(name, { deliver_policy: DeliverPolicy.All })
        } catch (error) {
          if (attempt >= 5) throw error
          await new Promise((resolve) => setTimeout(resolve, 2_000))
        }
      }
    }
    let consumer = await openReader()
    let placed = (await consumer.info()).cluster?.leader ?? "unknown"
    for (let tries = 0; wanted !== undefined && placed !== wanted && tries < 30; tries++) {
      await consumer.delete().catch(() => false)
      consumer = await openReader()
      placed = (await consumer.info()).cluster?.leader ?? "unknown"
    }
    if (wanted !== undefined && placed !== wanted) throw new Error(`reading stream ${name}: could not place a reader on ${wanted} (got ${placed})`)
    options.onServer?.(placed)
    const readings: Array<StreamReading> = []
    const deadline = Date.now() + (options.timeoutMs ?? 60_000)
    while (Date.now() < deadline) {
      const batch = await consumer.fetch({ max_messages: 5_000, expires: 2_000 })
      for await (const message of batch) {
        readings.push(toStreamReading(message.seq, message.subject, message.data, message.headers?.get("Nats-Msg-Id")))
        // pending 0: nothing after this one (also ends a read whose last message was deleted).
        if (message.seq >= state.last_seq || message.info.pending === 0) return readings
      }
    }
    throw new Error(`reading stream ${name}: got ${readings.length} of ${state.messages} messages before the timeout`)
  })

/**
 * Messages on which the copies of stream `name` disagree: every peer's copy is read and
 * compared with the leader's, by (sequence, subject, payload ts). nats-server 2.9.10 can leave
 * a replica that was cut off with other messages than the leader at some sequences after the
 * partition heals (docs/cluster-formation.md); this measures it.
 */
export const replicaDisagreement = (
  url: string | ReadonlyArray<string>,
  name: string,
  options: { readonly timeoutMs?: number } = {}
): Promise<{ readonly leader: string; readonly differing: Readonly<Record<string, number>> }> =>
  withConnection(url, async (nc) => {
    const info = await (await jetstreamManager(nc)).streams.info(name)
    const leader = info.cluster?.leader ?? "unknown"
    const key = (m: StreamReading) => `${m.streamSeq}\u0000${m.subject}\u0000${m.ts}`
    const leaderCopy = new Set((await readStreamReadings(url, name, { ...options, server: leader })).map(key))
    const differing: Record<string, number> = {}
    for (const peer of (info.cluster?.replicas ?? []).map((r) => r.name)) {
      const copy = await readStreamReadings(url, name, { ...options, server: peer }).catch(() => undefined)
      if (copy === undefined) continue
      differing[peer] = copy.filter((m) => !leaderCopy.has(key(m))).length
    }
    return { leader, differing }
  })

/** Every alarm event the ALARMS stream holds, in order, read with the product's own decoder. */
export const readStreamAlarms = (url: string | ReadonlyArray<string>): Promise<Array<Alarm>> =>
  withConnection(url, async (nc) => {
    const consumer = await jetstream(nc).consumers.get(Subjects.Streams.alarms, { deliver_policy: DeliverPolicy.All })
    const out: Array<Alarm> = []
    while (true) {
      const m = await consumer.next({ expires: 1000 })
      if (m === null) return out
      out.push(readAlarm(m.data))
    }
  })

/**
 * The readings READINGS holds, batch records taken apart (the ingest router and the write
 * endpoint store one message per device and sensor per batch): the messages and the readings
 * they hold, each reading as `device/sensor/ts`. A reading stored twice shows twice here,
 * where the database would hide it.
 */
export const readLogReadings = async (url: string | ReadonlyArray<string>): Promise<{ readonly messages: number; readonly readings: ReadonlyArray<string> }> => {
  const stored = await readStreamReadings(url, "READINGS")
  const limits = { maxPayloadBytes: Number.MAX_SAFE_INTEGER, maxFutureSkewMs: Number.MAX_SAFE_INTEGER }
  const readings = stored.flatMap((m) =>
    decodeReadings(Codec.encode(m.payload), m.device, m.sensor, 0, limits).readings.map((r) => `${r.device}/${r.sensor}/${r.ts}`)
  )
  return { messages: stored.length, readings }
}
