/**
 * Reading a time range out of the log for `bramble export`: READINGS (raw), AGGREGATES
 * (window results) or ALARMS, all devices or some.
 *
 * The range is in **event time**, [from, to): a reading's `ts`, a window's `start`, an
 * alarm's `at` — what users mean by "readings of yesterday". The log is ordered by arrival
 * instead, and a reading arrives after its event time (a device buffering while offline
 * delivers hours late). So each filter is read with an ordered ephemeral consumer
 * (`deliver_policy: by_start_time`) from `from − slack` in stream time, stops at the first
 * message stored after `to + slack` (window results: plus the longest window, since a window
 * is published once it ends) or at the end of the stream, and keeps what lies in the range.
 * Something stored more than `slack` after `to` is not exported; docs/export.md says so.
 *
 * One consumer per device (nats-server 2.9 takes one filter subject per consumer), read in
 * turn. Raw readings and alarms are written as they come, in log order; window results are
 * kept until the end, because a window corrected by a late reading is published again with
 * the same key and the later one wins (as in the database), then written sorted by start.
 */
import { natsError, type NatsError } from "@bramble/nats"
import { parseAlarm, readWindowResult, Subjects, type WindowResult } from "@bramble/protocol"
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import { Data, Effect, Result } from "effect"
import { storedReadings } from "../client/index.js"
import { alarmRow, byStart, type ExportKind, isoTime, readingRows, type Row, windowRow } from "./ExportRows.js"

/** What to export. */
export interface ExportPlan {
  readonly kind: ExportKind
  /** Event time, ms; inclusive. */
  readonly from: number
  /** Event time, ms; exclusive. */
  readonly to: number
  /** Only these devices (all when absent). */
  readonly devices?: ReadonlyArray<string> | undefined
  /** Window results of this window name only. */
  readonly window?: string | undefined
  /** How long after `to` (and before `from`) in stream time the log is still read, ms. */
  readonly slackMs: number
}

/** The export stopped before the end of the range. */
export class ExportError extends Data.TaggedError("ExportError")<{
  /** Stalled: JetStream said messages were pending but none came. Write: the output
   * refused the rows (disk full, closed pipe). Interrupted: Ctrl-C. */
  readonly reason: "Stalled" | "Write" | "Interrupted"
  readonly message: string
}> {}

/** The stream each kind reads. */
export const streamOf = (kind: ExportKind): string =>
  kind === "raw" ? Subjects.Streams.readings : kind === "windows" ? Subjects.Streams.aggregates : Subjects.Streams.alarms

/** The filter subjects of a plan: one per device, or one for every device. Window results
 * have five tokens, forecasts six, so the filters never match a forecast. */
export const filtersOf = (plan: Pick<ExportPlan, "kind" | "devices" | "window">): ReadonlyArray<string> => {
  const devices = plan.devices === undefined || plan.devices.length === 0 ? ["*"] : plan.devices
  return devices.map((device) => {
    switch (plan.kind) {
      case "raw":
        return Subjects.deviceReadingsFilter(device)
      case "windows":
        return Subjects.aggregatesSubject(device, "*", "*", plan.window ?? "*")
      case "alarms":
        return Subjects.alarmsSubject(device, "*")
    }
  })
}

/** The oldest end of a stream: what it still holds and what it keeps. */
export interface StreamHead {
  readonly stream: string
  readonly messages: number
  /** Sequence of its first message; above 1 when older messages were removed (age, size limits). */
  readonly firstSeq: number
  /** When its first message was stored; undefined when it is empty. */
  readonly firstStoredAt: number | undefined
  /** `max_age` of the stream (the cluster file's `streams.<stream>.maxAge`), ms; 0 = forever. */
  readonly maxAgeMs: number
}

/** The head of `stream`. */
export const streamHead = (nc: NatsConnection, stream: string): Effect.Effect<StreamHead, NatsError> =>
  Effect.tryPromise({
    try: async () => {
      const info = await (await jetstreamManager(nc)).streams.info(stream)
      return {
        stream,
        messages: info.state.messages,
        firstSeq: info.state.first_seq,
        firstStoredAt: info.state.messages === 0 ? undefined : Date.parse(info.state.first_ts),
        maxAgeMs: Math.floor(info.config.max_age / 1e6)
      }
    },
    catch: natsError("JetStream", `cannot read the state of stream ${stream}`)
  })

/**
 * When the log no longer holds the start of the range, what it still holds starts here
 * (stream time); undefined when it holds everything since `from`. A stream that never lost a
 * message (first sequence 1) holds all there ever was, however young it is.
 */
export const missingBefore = (head: StreamHead, from: number, now: number): number | undefined => {
  if (head.firstSeq <= 1) return undefined
  const start = head.firstStoredAt ?? now
  return from < start ? start : undefined
}

export interface ExportProgress {
  /** e.g. "READINGS greenhouse-1 (1/2)". */
  readonly stage: string
  readonly read: number
  /** An estimate (messages stored in the range read), 0 when not asked for. */
  readonly total: number
}

/** What the export read and kept. */
export interface ExportReport {
  /** Messages read from the log. */
  readonly messages: number
  /** Rows handed to `emit`. */
  readonly rows: number
  /** Messages that were not readable (payloads the node dead-lettered too). */
  readonly skipped: number
}

export interface ReadExportOptions {
  /** Receives rows in batches; the read waits for it (a slow disk slows the read, nothing piles up). */
  readonly emit: (rows: ReadonlyArray<Row>) => Promise<void>
  readonly onProgress?: (progress: ExportProgress) => void
  /** Count the messages of each filter in the range first, for the progress bar. */
  readonly estimateTotal?: boolean
  /** How long a fetch that brings nothing may take before JetStream is asked again (default 5 s). */
  readonly fetchTimeoutMs?: number
}

const BATCH = 1_000
/** Empty fetches in a row, while JetStream says messages are pending, before giving up. */
const MAX_STALLS = 6

const storedAtOf = (m: JsMsg) => Math.floor(m.info.timestampNanos / 1e6)

/** Messages of `filter` stored at or after `time`, counted by a throwaway consumer. */
const pendingSince = async (nc: NatsConnection, stream: string, filter: string, time: number): Promise<number> => {
  const jsm = await jetstreamManager(nc)
  const info = await jsm.consumers.add(stream, {
    filter_subject: filter,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: isoTime(Math.max(0, time)),
    ack_policy: AckPolicy.None,
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: 30_000_000_000
  })
  await jsm.consumers.delete(stream, info.name).catch(() => false)
  return info.num_pending
}

/**
 * Read the plan's range from the log, handing rows to `emit`. Stops at the next batch when
 * `signal` aborts; `open` holds the consumer being read, for `readExport` to delete then.
 */
const readRange = async (
  nc: NatsConnection,
  plan: ExportPlan,
  options: ReadExportOptions,
  signal: AbortSignal,
  open: Set<{ readonly delete: () => Promise<unknown> }>
): Promise<ExportReport> => {
  const stream = streamOf(plan.kind)
  const filters = filtersOf(plan)
  const js = jetstream(nc)
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 5_000
  const windows = new Map<string, WindowResult>()
  let messages = 0
  let rows = 0
  let skipped = 0
  let longestWindow = 0
  const inRange = (time: number) => time >= plan.from && time < plan.to
  const emit = async (batch: ReadonlyArray<Row>) => {
    rows += batch.length
    try {
      await options.emit(batch)
    } catch (error) {
      throw new ExportError({ reason: "Write", message: `cannot write the export: ${error instanceof Error ? error.message : String(error)}` })
    }
  }
  const cutoff = () => plan.to + plan.slackMs + longestWindow

  /** The rows of one message (none when out of range); window results are held back. */
  const rowsOf = (m: JsMsg): ReadonlyArray<Row> => {
    switch (plan.kind) {
      case "raw": {
        const readings = storedReadings({ subject: m.subject, storedAt: storedAtOf(m), data: m.data })
        if (readings.length === 0) {
          skipped += 1
          return []
        }
        return readings.flatMap((reading) => (inRange(reading.ts) ? readingRows(reading) : []))
      }
      case "windows": {
        let result: WindowResult
        try {
          result = readWindowResult(m.data)
        } catch {
          skipped += 1
          return []
        }
        longestWindow = Math.max(longestWindow, result.end - result.start)
        if (inRange(result.start)) {
          windows.set(`${result.device}\u0000${result.sensor}\u0000${result.metric}\u0000${result.window}\u0000${result.start}`, result)
        }
        return []
      }
      case "alarms": {
        const alarm = parseAlarm(m.data)
        if (Result.isFailure(alarm)) {
          skipped += 1
          return []
        }
        return inRange(alarm.success.at) ? [alarmRow(alarm.success)] : []
      }
    }
  }

  for (const [index, filter] of filters.entries()) {
    const device = filter.split(".")[plan.kind === "raw" ? 2 : 1]
    const stage = `${stream}${device === "*" ? "" : ` ${device}`}${filters.length > 1 ? ` (${index + 1}/${filters.length})` : ""}`
    const start = Math.max(0, plan.from - plan.slackMs)
    const consumer = await js.consumers.get(stream, { filter_subjects: filter, opt_start_time: isoTime(start) })
    open.add(consumer)
    try {
      let pending = (await consumer.info(true)).num_pending
      const total = options.estimateTotal === true && pending > 0
        ? Math.max(0, pending - await pendingSince(nc, stream, filter, cutoff() + 1))
        : 0
      let read = 0
      let stalls = 0
      options.onProgress?.({ stage, read, total })
      reading: while (pending > 0) {
        if (signal.aborted) throw new ExportError({ reason: "Interrupted", message: "interrupted" })
        const batch = await consumer.fetch({ max_messages: Math.min(pending, BATCH), expires: fetchTimeoutMs })
        const out: Array<Row> = []
        let got = 0
        let done = false
        for await (const m of batch) {
          got += 1
          if (storedAtOf(m) > cutoff()) {
            done = true
            break
          }
          read += 1
          messages += 1
          out.push(...rowsOf(m))
          pending = m.info.pending
          if (pending === 0) break
        }
        if (out.length > 0) await emit(out)
        options.onProgress?.({ stage, read, total })
        if (done) break reading
        if (got > 0) {
          stalls = 0
          continue
        }
        // Nothing came: the messages may have gone meanwhile (age limit), or JetStream is slow.
        pending = (await consumer.info()).num_pending
        stalls += 1
        if (pending > 0 && stalls >= MAX_STALLS) {
          throw new ExportError({
            reason: "Stalled",
            message: `${stream} (${filter}): ${pending} messages pending, none delivered in ${(MAX_STALLS * fetchTimeoutMs) / 1000} s`
          })
        }
      }
    } finally {
      open.delete(consumer)
      await consumer.delete().catch(() => false)
    }
  }

  if (windows.size > 0) {
    const sorted = [...windows.values()].sort(byStart).map(windowRow)
    for (let i = 0; i < sorted.length; i += BATCH) await emit(sorted.slice(i, i + BATCH))
  }
  return { messages, rows, skipped }
}

/** Read the plan's range from the log (see the module header for what is exported). */
export const readExport = (
  nc: NatsConnection,
  plan: ExportPlan,
  options: ReadExportOptions
): Effect.Effect<ExportReport, ExportError | NatsError> =>
  Effect.acquireUseRelease(
    Effect.sync(() => new Set<{ readonly delete: () => Promise<unknown> }>()),
    (open) =>
      Effect.tryPromise({
        try: (signal) => readRange(nc, plan, options, signal, open),
        catch: (error) =>
          error instanceof ExportError ? error : natsError("JetStream", `cannot read ${streamOf(plan.kind)}`)(error)
      }),
    // Ctrl-C: the read is abandoned mid-fetch; its consumer goes now rather than in 5 minutes.
    (open) => Effect.promise(() => Promise.all([...open].map((c) => c.delete().catch(() => false))))
  )
