/**
 * The first step of a partition's handler: one message from READINGS in, a trusted `Reading`
 * out — or a refusal, dead-lettered with its reason and counted, so that nothing a device
 * sends can do more than get its own message refused. Synchronous: this is the hot path.
 *
 * A reading refused as `ClockAhead` also lists its device, with its estimated skew, among
 * the partition's wrong clocks (`ClockSkews`, shown by `bramble status`).
 */
import { decodeReadings, type DecodeLimits, type Reading, type ReadingRejected, Subjects } from "@bramble/protocol"
import type { PartitionStats } from "./PartitionStats.js"
import type { Publishes } from "./Publishes.js"

/** What the intake needs of a JetStream message. */
export interface IntakeMessage {
  readonly subject: string
  readonly data: Uint8Array
  readonly seq: number
  /** When JetStream stored it (ms). */
  readonly storedAt: number
}

/** Subjects remembered per partition run (a few MB at most). */
const SUBJECT_CACHE_LIMIT = 50_000

const NONE: ReadonlyArray<Reading> = []

export class Intake {
  // A device sends on the same subject every time: parse each once (bounded, so a flood of
  // distinct subjects cannot grow it). The cached device and sensor strings are then the
  // same objects reading after reading, which also makes the per-device map lookups cheap.
  private readonly subjects = new Map<string, ReturnType<typeof Subjects.parseReadingsSubject>>()

  constructor(
    private readonly limits: DecodeLimits,
    private readonly stats: PartitionStats,
    private readonly publishes: Pick<Publishes, "deadLetter">
  ) {}

  /** The readings `m` holds (one, or a batch record's), none when it was refused; each
   * refused part is dead-lettered. */
  take(m: IntakeMessage, now: number): ReadonlyArray<Reading> {
    const { stats } = this
    const where = this.parseSubject(m.subject)
    if (where === undefined) {
      this.publishes.deadLetter("BadSubject", `subject ${m.subject} is not readings.<partition>.<device>.<sensor> with subject-safe ids`, m.subject, m.seq, m.data)
      stats.rejected += 1
      return NONE
    }
    const decoded = decodeReadings(m.data, where.device, where.sensor, m.storedAt, this.limits)
    if (decoded.refusals.length === 1) {
      const { reason, message } = decoded.refusals[0]!
      this.publishes.deadLetter(reason, message, m.subject, m.seq, m.data)
    } else if (decoded.refusals.length > 1) {
      // A batch record's refused items: one dead letter per reason (its de-duplication id is
      // the reason and the message's sequence), naming every item, with the record's bytes.
      const byReason = new Map<string, Array<string>>()
      for (const { reason, message } of decoded.refusals) {
        const messages = byReason.get(reason)
        if (messages === undefined) byReason.set(reason, [message])
        else messages.push(message)
      }
      for (const [reason, messages] of byReason) {
        this.publishes.deadLetter(reason as ReadingRejected["reason"], messages.join("; "), m.subject, m.seq, m.data)
      }
    }
    for (const { reason, eventTime } of decoded.refusals) {
      stats.rejected += 1
      if (reason === "ClockAhead") {
        stats.clockAhead += 1
        if (eventTime !== undefined) stats.clocks.refused(where.device, "ClockAhead", m.storedAt, eventTime, now)
      }
    }
    if (decoded.readings.length > 0) stats.clocks.accepted(where.device)
    return decoded.readings
  }

  private parseSubject(subject: string) {
    let where = this.subjects.get(subject)
    if (where === undefined) {
      where = Subjects.parseReadingsSubject(subject)
      if (where !== undefined) {
        if (this.subjects.size >= SUBJECT_CACHE_LIMIT) this.subjects.clear()
        this.subjects.set(subject, where)
      }
    }
    return where
  }
}
