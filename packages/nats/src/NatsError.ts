/**
 * Failures talking to NATS, wrapped once at the edge (nats.js throws plain errors).
 */
import { Data } from "effect"

export class NatsError extends Data.TaggedError("NatsError")<{
  readonly reason: "Connect" | "JetStream" | "Publish" | "KeyValue" | "Request"
  readonly message: string
  readonly cause?: unknown
}> {}

/** Wrap a thrown value from nats.js into a NatsError with a readable message. */
export const natsError = (reason: NatsError["reason"], what: string) => (cause: unknown): NatsError =>
  new NatsError({ reason, message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
