/**
 * Noticing that a partition's consumer stopped delivering while the log still holds
 * messages for it — so the worker restarts its consumer instead of waiting for good.
 *
 * A `consume()` keeps a pull request waiting at the consumer's leader and pulls again as
 * messages come. When that request is lost — the leader moved (a partition, a server
 * restart) or the route it came over broke — the server holds messages the client never
 * asks for. nats.js notices only through missed idle heartbeats, and not in every case: in
 * the partition test (test/net/partitions.test.ts) a consumer on a node that stayed in the
 * majority kept 5,459 messages pending, none in flight, for the whole 150 s the test waited
 * after the heal, and the partition's windows, alarms and MQTT recovery waited with it
 * (docs/cluster-formation.md, "delivery stalled"). "No input may stall a partition": the
 * worker asks the server itself.
 *
 * The verdict is the server's own figures, checked after every interval in which nothing
 * came: the server holds messages this run has not processed — pending (not yet delivered),
 * or delivered and awaiting an acknowledgement beyond what the worker has processed and not
 * yet acknowledged (a delivery lost in flight when a route broke: the server waits out the
 * 5-minute ack wait before it sends it again) — with fewer awaiting acknowledgement than
 * its `max_ack_pending` (so the server may deliver: a worker waiting for a slow database
 * holds `max_ack_pending` and is not stalled), and so at every check for
 * `DELIVERY_STALL_MS` with nothing delivered. A consumer whose info cannot be read (no
 * leader yet) proves nothing either way: the watch waits for an answer.
 */

/** How long a consumer may hold deliverable messages without delivering one before its run
 * restarts. A healthy consumer delivers within a round trip of a pull; nats.js's own
 * recovery (two missed heartbeats) takes 30 s when it works. Long enough that a leader
 * election, which answers no info meanwhile, is not mistaken for a stall. */
export const DELIVERY_STALL_MS = 10_000

/** What the watch reads from the consumer's info. */
export interface ConsumerDelivery {
  /** Messages of the consumer's subjects not yet delivered. */
  readonly numPending: number
  /** Delivered, not yet acknowledged. */
  readonly numAckPending: number
  readonly maxAckPending: number
  /** Messages the worker processed and has not acknowledged yet (the worker's own count). */
  readonly processedUnacked: number
}

export class DeliveryWatch {
  /** When deliverable messages were first seen waiting with nothing delivered since. */
  private since: number | undefined
  private deliveredThen = 0

  constructor(private readonly stallMs: number = DELIVERY_STALL_MS) {}

  /**
   * After an interval in which the run received nothing: `delivered` is how many messages
   * the run has received so far, `info` the consumer's figures (undefined: unknown). Returns
   * how long delivery has been stalled once that reaches the limit, else undefined.
   */
  observe(now: number, delivered: number, info: ConsumerDelivery | undefined): number | undefined {
    if (info === undefined) return undefined
    const held = info.numPending > 0 || info.numAckPending > info.processedUnacked
    const deliverable = held && (info.maxAckPending <= 0 || info.numAckPending < info.maxAckPending)
    if (!deliverable || this.since === undefined || delivered !== this.deliveredThen) {
      this.since = deliverable ? now : undefined
      this.deliveredThen = delivered
      return undefined
    }
    const stalled = now - this.since
    return stalled >= this.stallMs ? stalled : undefined
  }
}
