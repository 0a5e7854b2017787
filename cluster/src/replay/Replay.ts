/**
 * Replay: recompute window results for a past range from the log — the batch job of the
 * seeds (Spark's 30-minute averages), done from the same log and the same code as the live
 * path, so its results equal the live ones and overwrite them idempotently.
 *
 * Each partition is read in log order from shortly before the range (one window size plus
 * the watermark delay, so windows at the start of the range see all their readings), with
 * the same decoding, watermark and window arithmetic as the partition worker. Windows that
 * lie entirely inside [from, to) are written.
 */
import { DeviceWindows, Watermark, type WindowSpec } from "@bramble/actor-aggregator"
import { decodeReadings, type DecodeLimits, Subjects, type WindowResult } from "@bramble/protocol"
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"

export interface ReplaySettings {
  readonly from: number
  readonly to: number
  readonly devices?: ReadonlySet<string> | undefined
  readonly windows: ReadonlyArray<WindowSpec>
  readonly partitions: number
  readonly watermarkDelayMs: number
  readonly allowedLatenessMs: number
  readonly decodeLimits: DecodeLimits
}

export interface ReplayProgress {
  readonly partition: number
  readonly read: number
  readonly total: number
}

/** The final result of every window inside the range, from one partition's messages in log order. */
export const replayMessages = (
  messages: Iterable<{ readonly subject: string; readonly data: Uint8Array; readonly storedAt: number }>,
  settings: ReplaySettings
): Array<WindowResult> => {
  const devices = new Map<string, DeviceWindows>()
  const results = new Map<string, WindowResult>()
  let watermark = Watermark.initial
  const keep = (r: WindowResult) => {
    if (r.start >= settings.from && r.end <= settings.to) results.set(`${r.device}/${r.sensor}/${r.metric}/${r.window}/${r.start}`, r)
  }
  let seq = 0
  for (const m of messages) {
    seq += 1
    const where = Subjects.parseReadingsSubject(m.subject)
    if (where === undefined || (settings.devices !== undefined && !settings.devices.has(where.device))) continue
    for (const reading of decodeReadings(m.data, where.device, where.sensor, m.storedAt, settings.decodeLimits).readings) {
      let state = devices.get(reading.device)
      if (state === undefined) devices.set(reading.device, state = new DeviceWindows(reading.device, settings.windows, settings.allowedLatenessMs))
      state.apply(reading, seq, watermark.watermark)
      watermark = Watermark.observeReading(watermark, reading.ts, m.storedAt, settings.watermarkDelayMs)
      for (const r of state.close(watermark.watermark)) keep(r)
    }
  }
  for (const state of devices.values()) for (const r of state.close(Number.POSITIVE_INFINITY)) keep(r)
  return [...results.values()]
}

/** Read one partition's slice of READINGS starting at `startTime`, up to the messages present now. */
export const readPartition = async (
  nc: NatsConnection,
  partition: number,
  startTime: number,
  onProgress: (read: number, total: number) => void
): Promise<Array<{ subject: string; data: Uint8Array; storedAt: number }>> => {
  // An ephemeral consumer with a single filter subject: ordered consumers with filters need
  // nats-server 2.10, and 2.9 is what Debian 12 and Raspberry Pi OS ship.
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)
  const created = await jsm.consumers.add(Subjects.Streams.readings, {
    filter_subject: Subjects.partitionFilter(partition),
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(startTime).toISOString(),
    ack_policy: AckPolicy.None,
    inactive_threshold: 60_000_000_000
  })
  const consumer = await js.consumers.get(Subjects.Streams.readings, created.name)
  const info = await consumer.info()
  const total = info.num_pending
  const out: Array<{ subject: string; data: Uint8Array; storedAt: number }> = []
  if (total === 0) return out
  const messages = await consumer.consume({ max_messages: 2000 })
  for await (const m of messages) {
    out.push({ subject: m.subject, data: m.data, storedAt: Math.floor(m.info.timestampNanos / 1e6) })
    if (out.length % 1000 === 0) onProgress(out.length, total)
    if (m.info.pending === 0 || out.length >= total) break
  }
  onProgress(out.length, total)
  await messages.close()
  await jsm.consumers.delete(Subjects.Streams.readings, created.name).catch(() => false)
  return out
}

/** Replay every partition; results of all partitions, in a deterministic order. */
export const replay = async (
  nc: NatsConnection,
  settings: ReplaySettings,
  onProgress: (p: ReplayProgress) => void = () => {}
): Promise<Array<WindowResult>> => {
  const longest = Math.max(...settings.windows.map((w) => w.size))
  // Readings are stored after their event time: start early enough to catch every reading
  // of the first windows (a day of slack covers devices that buffered while offline).
  const startTime = settings.from - longest - settings.watermarkDelayMs - 24 * 3600_000
  const all: Array<WindowResult> = []
  for (let partition = 0; partition < settings.partitions; partition++) {
    const messages = await readPartition(nc, partition, Math.max(0, startTime), (read, total) => onProgress({ partition, read, total }))
    all.push(...replayMessages(messages, settings))
  }
  return all.sort((a, b) => a.start - b.start || (a.device < b.device ? -1 : a.device > b.device ? 1 : 0) || (a.metric < b.metric ? -1 : 1) || (a.window < b.window ? -1 : 1))
}
