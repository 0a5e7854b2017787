/**
 * An optional append-only record of this node's lease history: every claim, renewal,
 * suspension, loss and release, with the fence deadline in force. It is what lets a fault
 * test prove that no partition ever had two owners: for each ownership, the interval from
 * its claim to its last fence deadline (or its release) is the only time that node could
 * write for the partition, and intervals of different ownerships must not overlap.
 *
 * Written synchronously, line by line, so a SIGKILL loses nothing already logged.
 */
import { appendFileSync, mkdirSync } from "node:fs"
import { dirname } from "node:path"

/** One line of the log. Times are wall-clock ms. */
export interface OwnershipEvent {
  readonly event: "claimed" | "renewed" | "suspended" | "resumed" | "lost" | "released" | "gap"
  readonly partition: number
  readonly node: string
  readonly incarnation: string
  /** The lease claim revision (identifies this ownership). */
  readonly lease: number
  /** The lease revision after this event (claims and renewals). */
  readonly revision?: number
  readonly at: number
  /** Until when this node may write, as of this event. */
  readonly fenceDeadline?: number
  readonly detail?: string
}

export interface OwnershipLog {
  readonly write: (event: OwnershipEvent) => void
}

/** Appends JSON lines to `file` (directory created); logging failures are ignored. */
export const fileOwnershipLog = (file: string): OwnershipLog => {
  mkdirSync(dirname(file), { recursive: true })
  return {
    write: (event) => {
      try {
        appendFileSync(file, `${JSON.stringify(event)}\n`)
      } catch {
        // The log is evidence for tests and audits, never a reason to stop processing.
      }
    }
  }
}

/** Discards events. */
export const noOwnershipLog: OwnershipLog = { write: () => {} }

/** Collects events in memory (unit tests). */
export const memoryOwnershipLog = (): OwnershipLog & { readonly events: ReadonlyArray<OwnershipEvent> } => {
  const events: Array<OwnershipEvent> = []
  return { events, write: (event) => void events.push(event) }
}

/** An ownership as the log describes it: claimed at `start`, able to write until `end`. */
export interface OwnershipInterval {
  readonly partition: number
  readonly node: string
  readonly incarnation: string
  readonly lease: number
  readonly start: number
  readonly end: number
}

/**
 * Folds events (any order, any number of nodes) into ownership intervals: from the claim to
 * the release, or to the last fence deadline when the owner lost the lease, died or was
 * stopped (its fence refused every write after that deadline).
 */
export const ownershipIntervals = (events: Iterable<OwnershipEvent>): Array<OwnershipInterval> => {
  const byOwnership = new Map<string, { start?: number; end: number; partition: number; node: string; incarnation: string; lease: number; released?: number }>()
  for (const e of events) {
    const key = `${e.partition}/${e.incarnation}/${e.lease}`
    let o = byOwnership.get(key)
    if (o === undefined) byOwnership.set(key, o = { end: Number.NEGATIVE_INFINITY, partition: e.partition, node: e.node, incarnation: e.incarnation, lease: e.lease })
    if (e.event === "claimed") o.start = e.at
    if (e.fenceDeadline !== undefined) o.end = Math.max(o.end, e.fenceDeadline)
    if (e.event === "released") o.released = e.at
  }
  const out: Array<OwnershipInterval> = []
  for (const o of byOwnership.values()) {
    if (o.start === undefined) continue
    out.push({
      partition: o.partition,
      node: o.node,
      incarnation: o.incarnation,
      lease: o.lease,
      start: o.start,
      end: o.released === undefined ? o.end : Math.min(o.end, o.released)
    })
  }
  return out.sort((a, b) => a.partition - b.partition || a.start - b.start)
}

/** Pairs of ownerships of the same partition whose intervals overlap (should be none). */
export const overlappingOwnerships = (intervals: ReadonlyArray<OwnershipInterval>): Array<readonly [OwnershipInterval, OwnershipInterval]> => {
  const overlaps: Array<readonly [OwnershipInterval, OwnershipInterval]> = []
  const byPartition = new Map<number, Array<OwnershipInterval>>()
  for (const i of intervals) {
    const list = byPartition.get(i.partition) ?? []
    list.push(i)
    byPartition.set(i.partition, list)
  }
  for (const list of byPartition.values()) {
    list.sort((a, b) => a.start - b.start)
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length && list[j]!.start < list[i]!.end; j++) overlaps.push([list[i]!, list[j]!])
    }
  }
  return overlaps
}
