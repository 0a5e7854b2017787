/**
 * What a forward target is sent: one message of the log — a raw reading (READINGS), a window
 * result (AGGREGATES) or an alarm (ALARMS) — decoded, with where it came from. The stream
 * name and sequence are its idempotency key: delivery is at-least-once (a batch is resent
 * when its acknowledgement was lost, or when the node holding it died), and a receiver that
 * remembers the keys it has seen can drop the repeats.
 */
import type { ForwardSource } from "@bramble/config"
import { type Alarm, type DecodeLimits, decodeReadings, parseAlarm, type Reading, readWindowResult, Subjects, type WindowResult } from "@bramble/protocol"
import { Result } from "effect"

interface ItemBase {
  readonly stream: string
  /** The message's sequence in `stream`. */
  readonly seq: number
  /** The subject it was stored under (e.g. `readings.3.greenhouse-1.env`). */
  readonly subject: string
  readonly device: string
  /** Which reading of a batch record (a message holding several), from 0; absent for a
   * message holding one. */
  readonly part?: number
  /** The stored bytes, as they are (for dead letters). */
  readonly bytes: Uint8Array
}

/** One decoded message of the log, ready to forward. */
export type ForwardItem =
  | ItemBase & { readonly kind: "reading"; readonly data: Reading }
  | ItemBase & { readonly kind: "window"; readonly data: WindowResult }
  | ItemBase & { readonly kind: "alarm"; readonly data: Alarm }

export type ForwardKind = ForwardItem["kind"]

/** `<stream>:<sequence>`, and `.<part>` for a reading of a batch record: unique per item,
 * the same on every redelivery. */
export const idempotencyKey = (item: Pick<ItemBase, "stream" | "seq" | "part">): string =>
  item.part === undefined ? `${item.stream}:${item.seq}` : `${item.stream}:${item.seq}.${item.part}`

/** Where a source's messages are: the stream, the subjects taken from it, and what they are. */
export interface SourceSpec {
  readonly stream: string
  readonly filterSubject: string
  readonly kind: ForwardKind
}

/** The stream and filter a forward source reads. Window results only: forecasts
 * (`aggregates.….forecast`, one token more) are not forwarded. */
export const sourceSpec = (source: ForwardSource): SourceSpec => {
  switch (source) {
    case "raw":
      return { stream: Subjects.Streams.readings, filterSubject: Subjects.READINGS_SUBJECTS[0]!, kind: "reading" }
    case "windows":
      return { stream: Subjects.Streams.aggregates, filterSubject: Subjects.aggregatesSubject("*", "*", "*", "*"), kind: "window" }
    case "alarms":
      return { stream: Subjects.Streams.alarms, filterSubject: Subjects.alarmsSubject("*", "*"), kind: "alarm" }
  }
}

/** One stored message, as the forwarder got it from the log. */
export interface StoredMessage {
  readonly subject: string
  readonly seq: number
  readonly data: Uint8Array
  /** When JetStream stored it (the event time of a reading that has none). */
  readonly storedAtMs: number
}

/**
 * Decode a stored message the way the rest of Bramble does. A message that does not decode
 * fails with why: the partition worker has already dead-lettered such readings (and
 * aggregates and alarms are written by Bramble itself), so the forwarder only counts it.
 */
export const decodeForwardItem = (spec: SourceSpec, message: StoredMessage, limits: DecodeLimits): Result.Result<ReadonlyArray<ForwardItem>, string> => {
  const base = { stream: spec.stream, seq: message.seq, subject: message.subject, bytes: message.data }
  switch (spec.kind) {
    case "reading": {
      const where = Subjects.parseReadingsSubject(message.subject)
      if (where === undefined) return Result.fail(`${message.subject} is not a readings subject`)
      const { readings, refusals } = decodeReadings(message.data, where.device, where.sensor, message.storedAtMs, limits)
      if (readings.length === 0) return Result.fail(`${refusals[0]!.reason}: ${refusals[0]!.message}`)
      // A batch record's readings each go out on their own, keyed by their place in it.
      return Result.succeed(readings.map((reading, part): ForwardItem =>
        readings.length === 1 && refusals.length === 0
          ? { ...base, kind: "reading", device: reading.device, data: reading }
          : { ...base, part, kind: "reading", device: reading.device, data: reading }
      ))
    }
    case "window": {
      try {
        const result = readWindowResult(message.data)
        return Result.succeed([{ ...base, kind: "window", device: result.device, data: result }])
      } catch (error) {
        return Result.fail(`not a window result: ${error instanceof Error ? error.message : String(error)}`)
      }
    }
    case "alarm": {
      const alarm = parseAlarm(message.data)
      return Result.isFailure(alarm)
        ? Result.fail(`${alarm.failure.reason}: ${alarm.failure.message}`)
        : Result.succeed([{ ...base, kind: "alarm", device: alarm.success.device, data: alarm.success }])
    }
  }
}
