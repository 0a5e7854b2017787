/**
 * The first step of a partition's handler: one message from READINGS in, a trusted `Reading`
 * out — or a refusal, dead-lettered with its reason and counted, so that nothing a device
 * sends can do more than get its own message refused. Synchronous: this is the hot path.
 *
 * A reading refused as `ClockAhead` also lists its device, with its estimated skew, among
 * the partition's wrong clocks (`ClockSkews`, shown by `bramble status`).
 */
import { decodeReading, type DecodeLimits, type Reading, Subjects } from "@bramble/protocol"
import { Result } from "effect"
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

  /** The reading `m` holds, or undefined when it was refused (and dead-lettered). */
  take(m: IntakeMessage, now: number): Reading | undefined {
    const { stats } = this
    const where = this.parseSubject(m.subject)
    if (where === undefined) {
      this.publishes.deadLetter("BadSubject", `subject ${m.subject} is not readings.<partition>.<device>.<sensor> with subject-safe ids`, m.subject, m.seq, m.data)
      stats.rejected += 1
      return undefined
    }
    const decoded = decodeReading(m.data, where.device, where.sensor, m.storedAt, this.limits)
    if (Result.isFailure(decoded)) {
      const { reason, message, eventTime } = decoded.failure
      this.publishes.deadLetter(reason, message, m.subject, m.seq, m.data)
      stats.rejected += 1
      if (reason === "ClockAhead") {
        stats.clockAhead += 1
        if (eventTime !== undefined) stats.clocks.refused(where.device, "ClockAhead", m.storedAt, eventTime, now)
      }
      return undefined
    }
    stats.clocks.accepted(where.device)
    return decoded.success
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
