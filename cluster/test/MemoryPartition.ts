/**
 * A partition worker's surroundings in memory (like `memoryLeaseStore`): a log to append
 * readings to, a checkpoint store that can be made to fail or be fenced, a storage actor and
 * a JetStream publisher that record what they are given. The worker under test is the real
 * loop (`runPartitionOn`), only its edges are here.
 */
import { Watermark } from "@bramble/actor-aggregator"
import type { DeviceSnapshot } from "@bramble/actor-aggregator"
import { NatsError } from "@bramble/nats"
import type { Alarm, Forecast, Reading, WindowResult } from "@bramble/protocol"
import { Deferred, Effect } from "effect"
import { BatchReader } from "../src/partition/BatchReader.js"
import type { Checkpoints, PartitionCheckpoint } from "../src/partition/Checkpoints.js"
import type { PartitionSettings } from "../src/partition/PartitionWorker.js"
import type { StoragePort } from "../src/partition/Ports.js"
import type { Publisher } from "../src/partition/Publishes.js"
import type { Batches, LogMessage, PartitionSource } from "../src/partition/Source.js"
import type { Fence } from "../src/ownership/Fence.js"

const encoder = new TextEncoder()

export const settings: PartitionSettings = {
  batchSize: 100,
  checkpointIntervalMs: 50,
  allowedLatenessMs: 0,
  idleAdvanceMs: 60_000,
  passivateAfterMs: 60_000,
  decodeLimits: { maxPayloadBytes: 16 * 1024, maxFutureSkewMs: 24 * 3_600_000, maxClockAheadMs: 60_000 }
}

/** A reading's JSON payload, as a device sends it. */
export const payload = (ts: number, value: number) => encoder.encode(JSON.stringify({ ts, values: { t: value } }))

/** One partition's slice of the log. Appends are delivered to the run reading it. */
export class MemoryLog implements PartitionSource {
  readonly messages: Array<LogMessage & { readonly seq: number }> = []
  /** The highest sequence acknowledged (AckPolicy.All). */
  acked = 0
  /** Each `open`: the position it was asked to start after. */
  readonly opens: Array<number> = []
  private reader: BatchReader<LogMessage> | undefined
  private delivered = 0

  append(subject: string, data: Uint8Array, storedAt: number): number {
    const seq = this.messages.length + 1
    const message: LogMessage & { readonly seq: number } = {
      seq,
      subject,
      data,
      // The delivery as JetStream describes it (delivery sequence = stream sequence here).
      reply: `$JS.ACK.READINGS.p0.1.${seq}.${seq}.${storedAt}000000.0`,
      ack: () => {
        if (seq > this.acked) this.acked = seq
      }
    }
    this.messages.push(message)
    this.deliver(message)
    return seq
  }

  /** Delivers `seq` again (as JetStream does after an ack wait, or to a slow consumer). */
  redeliver(seq: number): void {
    this.deliver(this.messages[seq - 1]!)
  }

  private deliver(message: LogMessage & { readonly seq: number }) {
    if (this.reader === undefined || this.reader.done) return
    this.delivered = Math.max(this.delivered, message.seq)
    this.reader.deliver(message)
  }

  readonly open = (afterSeq: number) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        this.opens.push(afterSeq)
        const reader = new BatchReader<LogMessage>()
        this.reader = reader
        for (const m of this.messages.slice(afterSeq)) this.deliver(m)
        return reader as Batches
      }),
      () =>
        Effect.sync(() => {
          this.reader = undefined
        })
    )

  readonly drained = (processedUnacked: number) =>
    Effect.sync(() => this.delivered === this.messages.length && this.messages.length - this.acked <= processedUnacked)

  readonly stalled = () => Effect.void
  readonly beside = () => Effect.void
}

/** Checkpoints in a map; saves can be made to fail, and refuse once `fence` is shut. */
export class MemoryCheckpoints implements Checkpoints {
  readonly partitions = new Map<number, PartitionCheckpoint>()
  readonly devices = new Map<string, DeviceSnapshot>()
  /** Every save that reached the store, in order. */
  readonly saves: Array<string> = []
  failSaves: string | undefined
  fence: Fence | undefined

  private refusal(what: string): NatsError | undefined {
    const out = this.fence?.check()
    if (out !== undefined) return new NatsError({ reason: "KeyValue", message: `${what}: ${out.message}`, cause: out })
    if (this.failSaves !== undefined) return new NatsError({ reason: "KeyValue", message: `${what}: ${this.failSaves}` })
    return undefined
  }

  readonly loadPartition = (partition: number) => Effect.sync(() => this.partitions.get(partition))
  readonly loadDevice = (partition: number, device: string) => Effect.sync(() => this.devices.get(`${partition}.${device}`))
  readonly listDevices = (partition: number) =>
    Effect.sync(() => [...this.devices.keys()].filter((k) => k.startsWith(`${partition}.`)).map((k) => k.slice(`${partition}.`.length)))
  readonly saveDevices = (partition: number, devices: ReadonlyArray<readonly [string, DeviceSnapshot]>) =>
    Effect.suspend(() => {
      const no = this.refusal(`cannot write the device checkpoints of partition ${partition}`)
      if (no !== undefined) return Effect.fail(no)
      for (const [device, snapshot] of devices) {
        this.devices.set(`${partition}.${device}`, snapshot)
        this.saves.push(`dev.${partition}.${device}`)
      }
      return Effect.void
    })
  readonly savePartition = (partition: number, checkpoint: PartitionCheckpoint) =>
    Effect.suspend(() => {
      const no = this.refusal(`cannot write checkpoint part.${partition}`)
      if (no !== undefined) return Effect.fail(no)
      this.partitions.set(partition, checkpoint)
      this.saves.push(`part.${partition}@${checkpoint.seq}`)
      this.fence?.checkpointSaved()
      return Effect.void
    })
  /** As the fenced store: a handover waits for the next partition save. */
  readonly saveAwaited = () => this.fence?.drainRequested ?? false

  /** The position checkpointed for `partition` (0: none). */
  seq(partition: number): number {
    return this.partitions.get(partition)?.seq ?? 0
  }

  watermark(partition: number): Watermark.WatermarkState {
    return this.partitions.get(partition)?.watermark ?? Watermark.initial
  }
}

/** The storage actor's side: what it was given, in order. */
export class MemoryStorage implements StoragePort {
  readonly readings: Array<Reading> = []
  readonly windows: Array<WindowResult> = []
  readonly alarms: Array<Alarm> = []
  readonly forecasts: Array<Forecast> = []
  /** Messages received (one per batch for readings). */
  readingMessages = 0
  readonly writeReadings = (readings: ReadonlyArray<Reading>) =>
    Effect.sync(() => {
      this.readingMessages += 1
      this.readings.push(...readings)
    })
  /** The next window write dies with this (a device actor crashes on it), once. */
  failNextWindows: string | undefined
  readonly writeWindows = (results: ReadonlyArray<WindowResult>) =>
    Effect.suspend(() => {
      const failure = this.failNextWindows
      if (failure === undefined) return Effect.sync(() => void this.windows.push(...results))
      this.failNextWindows = undefined
      return Effect.die(new Error(failure))
    })
  readonly writeAlarms = (alarms: ReadonlyArray<Alarm>) => Effect.sync(() => void this.alarms.push(...alarms))
  readonly writeForecasts = (forecasts: ReadonlyArray<Forecast>) => Effect.sync(() => void this.forecasts.push(...forecasts))
  /** While set, a flush waits for it (a database that does not answer). */
  gate: Deferred.Deferred<void> | undefined
  /** Flushes begun. */
  flushes = 0
  readonly flush = Effect.suspend(() => {
    this.flushes += 1
    return this.gate === undefined ? Effect.void : Deferred.await(this.gate)
  })
}

/** JetStream publishes, recorded (de-duplicated by id, as the stream does). */
export class MemoryPublisher implements Publisher {
  readonly published = new Map<string, { readonly subject: string; readonly data: Uint8Array }>()
  /** While set, publishes are stored and their acknowledgements wait for it (a slow stream). */
  acks: Promise<void> | undefined
  readonly publish = (subject: string, data: Uint8Array, msgID: string) => {
    if (!this.published.has(msgID)) this.published.set(msgID, { subject, data })
    return this.acks ?? Promise.resolve()
  }
  subjects(prefix: string): Array<string> {
    return [...this.published.values()].map((p) => p.subject).filter((s) => s.startsWith(prefix))
  }
}
