/**
 * @bramble/runtime — Bramble's actor runtime on Effect: bounded mailboxes,
 * actors, OTP-style supervisors with capped jittered backoff and escalation,
 * and keyed entities with idle passivation. Knows nothing of NATS or IoT.
 */

/** Bounded, backpressuring mailboxes: a small queue of their own, not Effect's `Queue` (Mailbox.ts says why). */
export * as Mailbox from "./Mailbox.js"

/** Capped exponential restart backoff with jitter, as an Effect `Schedule`. */
export * as Backoff from "./Backoff.js"

/** Actors: `make`, `ActorRef`, `ask`, stats and the actor errors. */
export * as Actor from "./Actor.js"

/** One-for-one / one-for-all supervisors with restart intensity and escalation. */
export * as Supervisor from "./Supervisor.js"

/** Keyed actors created on first message and passivated when idle. */
export * as Entities from "./Entities.js"

/** Work that runs under a name an operator can list and restart (a node's actor registry). */
export type { Restartable } from "./Restartable.js"
