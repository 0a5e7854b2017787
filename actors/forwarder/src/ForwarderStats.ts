/**
 * A forwarder's live counters, for the admin `status` reply and `/metrics`. Each node counts
 * what its own forwarder fibre did; the consumer's lag is the target's as a whole (every
 * node pulls from the same consumer).
 */
import type { ForwardSource, ForwardTarget } from "@bramble/config"

export interface ForwarderStats {
  readonly name: string
  readonly kind: ForwardTarget["kind"]
  readonly source: ForwardSource
  /** Items the receiver accepted. */
  sent: number
  /** Batches delivered and acknowledged. */
  batches: number
  /** Failed attempts that were retried (receiver down, timeouts, 5xx). */
  failures: number
  /** Items the receiver refused (4xx), each dead-lettered as ForwardRejected. */
  deadLettered: number
  /** Items not sent: no ThingsBoard token for the device, or a message that does not decode. */
  skipped: number
  /** Alarm events held back by their rule's notifyEvery (a flapping alarm). */
  heldBack: number
  /** Messages of the target's consumer not yet delivered to any node; undefined until known. */
  lag: number | undefined
  /** Set while the receiver is unreachable (ms since the epoch of the first failure). */
  unavailableSince: number | undefined
  lastError: string | undefined
}

export const makeForwarderStats = (target: Pick<ForwardTarget, "name" | "kind" | "source">): ForwarderStats => ({
  name: target.name,
  kind: target.kind,
  source: target.source,
  sent: 0,
  batches: 0,
  failures: 0,
  deadLettered: 0,
  skipped: 0,
  heldBack: 0,
  lag: undefined,
  unavailableSince: undefined,
  lastError: undefined
})
