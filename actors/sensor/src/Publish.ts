/**
 * How edge actors hand messages to NATS: one function that publishes to JetStream and
 * succeeds only on the PubAck, i.e. once the stream has stored the message. The actors do
 * not know NATS; the node passes a function over its connection, tests pass a recorder.
 */
import type { Effect } from "effect"

/**
 * Publishes `data` to `subject` with JetStream de-duplication id `msgId`
 * (`Nats-Msg-Id`), and succeeds once JetStream has stored it (or had it already).
 */
export type Publish = (subject: string, data: Uint8Array, msgId: string) => Effect.Effect<void, unknown>
