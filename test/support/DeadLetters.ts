/**
 * Reading the DEADLETTER stream back: every entry decoded with the protocol's own
 * `readDeadLetter` (the entry format is part of Bramble's contract with operators), with the
 * stream subject it was stored under, so a test can hold each refusal to its reason.
 */
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { type DeadLetter, readDeadLetter, Subjects } from "@bramble/protocol"

/** One DEADLETTER message. */
export interface StoredDeadLetter {
  readonly streamSeq: number
  /** `deadletter.<reason>`. */
  readonly subject: string
  readonly entry: DeadLetter
}

/** Every message DEADLETTER holds when the call starts, in stream order. */
export const readDeadLetters = async (
  url: string | ReadonlyArray<string>,
  options: { readonly timeoutMs?: number } = {}
): Promise<Array<StoredDeadLetter>> => {
  const nc = await connect({ servers: typeof url === "string" ? [url] : [...url], name: "bramble-test-deadletters" })
  try {
    const name = Subjects.Streams.deadLetter
    const info = await (await jetstreamManager(nc)).streams.info(name)
    const state = info.state
    if (state.messages === 0) return []
    // An ordered consumer reads the copy on the server it is placed on; a replica still
    // catching up after a partition can stall it. Read the leader's copy (see Streams.ts).
    const leader = info.cluster?.leader
    let consumer = await jetstream(nc).consumers.get(name, { deliver_policy: DeliverPolicy.All })
    for (let tries = 0; leader !== undefined && tries < 30 && (await consumer.info()).cluster?.leader !== leader; tries++) {
      await consumer.delete().catch(() => false)
      consumer = await jetstream(nc).consumers.get(name, { deliver_policy: DeliverPolicy.All })
    }
    const entries: Array<StoredDeadLetter> = []
    const deadline = Date.now() + (options.timeoutMs ?? 30_000)
    while (Date.now() < deadline) {
      const batch = await consumer.fetch({ max_messages: 1_000, expires: 2_000 })
      for await (const message of batch) {
        entries.push({ streamSeq: message.seq, subject: message.subject, entry: readDeadLetter(message.data) })
        if (message.seq >= state.last_seq || message.info.pending === 0) return entries
      }
    }
    throw new Error(`reading ${name}: got ${entries.length} of ${state.messages} messages before the timeout`)
  } finally {
    await nc.close()
  }
}
