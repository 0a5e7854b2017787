/**
 * A forwarder: the fibre that feeds one forward target from the log, on every node.
 *
 * It pulls batches from the target's durable consumer (`bramble-fwd-<name>`, AckPolicy
 * Explicit; packages/nats ForwardConsumer) — every node pulls from the same consumer, so
 * JetStream load-balances the batches, and what a dead node held is redelivered after
 * `ack_wait`. A batch goes through the target's sink with `writeDurably` (the storage
 * actor's contract): a receiver that is down, answers 5xx or times out is retried with
 * capped, jittered backoff for as long as it takes, while the batch's messages are kept "in
 * progress" (`working()`) so JetStream does not hand them to another node meanwhile. A
 * receiver that refuses the target's credentials (401, 403; ThingsBoard's 404 for an unknown
 * token) or a URL that redirects is held the same way — the settings are wrong, not the
 * items — and reported with the setting to fix. What the receiver refuses about the items
 * (other 4xx) is dead-lettered as ForwardRejected with its status and answer.
 * Only then is the batch acknowledged. Nothing is acknowledged before the receiver has it:
 * delivery is at-least-once, and every item carries its idempotency key (stream + sequence).
 *
 * Pulling one batch at a time is the backpressure: while the receiver is away the backlog
 * stays in JetStream, not in memory. Batches of several nodes are not ordered among each
 * other; items of one batch are in log order.
 */
import { makeOutageReporter, writeDurably } from "@bramble/actor-storage"
import type { ForwardTarget } from "@bramble/config"
import { ensureForwardConsumer, forwardConsumerName, NatsClient, NatsError, natsError } from "@bramble/nats"
import { type DecodeLimits, encodeDeadLetter, Subjects } from "@bramble/protocol"
import type { Consumer, JsMsg } from "@nats-io/jetstream"
import { Clock, Effect, Exit, Fiber, Result } from "effect"
import { decodeForwardItem, type ForwardItem, idempotencyKey, sourceSpec } from "./ForwardItem.js"
import type { ForwarderStats } from "./ForwarderStats.js"
import type { ForwardSink } from "./ForwardSink.js"
import { answerPresence } from "./StaleConsumers.js"

export interface ForwarderOptions {
  readonly target: ForwardTarget
  readonly sink: ForwardSink
  readonly stats: ForwarderStats
  /** Nodes in the cluster: the consumer lets each hold one batch unacknowledged. */
  readonly nodes: number
  /** The partition workers' limits, so a reading forwards exactly when it is stored. */
  readonly decodeLimits: DecodeLimits
  /** Overrides `ackWaitMs(target)` (tests of redelivery). */
  readonly ackWaitMs?: number
}

/** How long one pull waits for a batch to fill (nats.js's minimum). A partial batch is sent after it. */
const FETCH_EXPIRES_MS = 1_000
/** How often the consumer's lag is read while nothing arrives or the receiver is away. */
const LAG_REFRESH_MS = 5_000

/** Redelivery bound of a message a node took and never acknowledged (it died). */
export const ackWaitMs = (target: Pick<ForwardTarget, "timeout">): number => Math.max(30_000, 3 * target.timeout)

/** Run the forwarder until interrupted; fails when NATS does (its supervisor restarts it). */
export const runForwarder = (options: ForwarderOptions): Effect.Effect<never, NatsError, NatsClient> =>
  Effect.scoped(Effect.gen(function*() {
    const { target, sink, stats } = options
    const { js, jsm, nc } = yield* NatsClient
    const spec = sourceSpec(target.source)
    const name = forwardConsumerName(target.name)
    const ackWait = options.ackWaitMs ?? ackWaitMs(target)

    const info = yield* ensureForwardConsumer(jsm, {
      target: target.name,
      stream: spec.stream,
      filterSubject: spec.filterSubject,
      ackWaitMs: ackWait,
      maxAckPending: target.batchSize * Math.max(1, options.nodes),
      startFrom: target.startFrom
    })
    if (info.config.filter_subject !== spec.filterSubject) {
      yield* Effect.logWarning(
        `forward ${target.name}: consumer ${name} filters ${info.config.filter_subject ?? "(nothing)"}, not ${spec.filterSubject}; ` +
          `delete it (nats consumer rm ${spec.stream} ${name}) to recreate it for this source`
      )
    }
    const consumer = yield* Effect.tryPromise({
      try: () => js.consumers.get(spec.stream, name),
      catch: natsError("JetStream", `cannot open consumer ${name}`)
    })
    // While this runs, the target is in use: other nodes must not remove its consumer (StaleConsumers.ts).
    yield* answerPresence(nc, spec.stream, target.name, nc.info?.server_name ?? "?")
    yield* Effect.logInfo(`forward ${target.name}: ${spec.stream} → ${sink.describe}`)

    let lagReadAt = 0
    const refreshLag = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (now - lagReadAt < LAG_REFRESH_MS) return
      lagReadAt = now
      const read = yield* Effect.result(Effect.tryPromise((_signal) => consumer.info(false)).pipe(Effect.timeout("5 seconds")))
      if (read._tag === "Success") stats.lag = read.success.num_pending
    })

    const skipReasons = new Set<string>()
    const skip = (reason: string) =>
      Effect.suspend(() => {
        stats.skipped += 1
        // Say each reason once (bounded: a flood of distinct ones must not grow memory).
        if (skipReasons.has(reason) || skipReasons.size >= 100) return Effect.void
        skipReasons.add(reason)
        return Effect.logWarning(`forward ${target.name}: not forwarding some items: ${reason}`)
      })

    const deadLetter = (item: ForwardItem, reason: string, status: number | undefined) =>
      Effect.tryPromise({
        try: () =>
          js.publish(
            Subjects.deadLetterSubject("ForwardRejected"),
            encodeDeadLetter({
              reason: "ForwardRejected",
              message: `forward target ${target.name} (${sink.describe}) refused it${status === undefined ? "" : ` with HTTP ${status}`}: ${reason}`,
              subject: item.subject,
              streamSeq: item.seq,
              at: Date.now(),
              payload: item.bytes
            }),
            // A redelivered batch dead-letters the same item again: stored once.
            { msgID: `fwd.${target.name}.${idempotencyKey(item)}` }
          ),
        catch: natsError("Publish", `cannot dead-letter an item ${target.name} refused`)
      })

    const outage = makeOutageReporter()
    const forwardBatch = (batch: ReadonlyArray<JsMsg>) =>
      Effect.gen(function*() {
        const items: Array<ForwardItem> = []
        for (const m of batch) {
          const decoded = decodeForwardItem(spec, { subject: m.subject, seq: m.seq, data: m.data, storedAtMs: Math.floor(m.info.timestampNanos / 1e6) }, options.decodeLimits)
          if (Result.isFailure(decoded)) {
            yield* skip(`${spec.stream} messages that do not decode (already dead-lettered where they were refused), e.g. ${decoded.failure}`)
            continue
          }
          for (const item of decoded.success) {
            // A flapping alarm's change its rule held back (`notifyEvery`, actors/aggregator Notify.ts).
            if (item.kind === "alarm" && item.data.notify === false) {
              stats.heldBack += 1
              continue
            }
            const why = sink.skip?.(item)
            if (why !== undefined) yield* skip(why)
            else items.push(item)
          }
        }

        // Keep the batch ours while the receiver takes its time (or is down for an hour).
        const heartbeat = yield* Effect.forkChild(Effect.forever(
          Effect.andThen(Effect.sleep(Math.floor(ackWait / 3)), Effect.sync(() => batch.forEach((m) => quietly(() => m.working()))))
        ))
        let refused = 0
        // A rejection that cannot be dead-lettered (NATS is down) fails the run: the batch is
        // then handed back and delivered again, rather than acknowledged without its dead letter.
        let deadLetterFailure: NatsError | undefined
        yield* writeDurably(sink, items, {
          retryBase: "500 millis",
          retryCap: `${target.retryCap} millis`,
          rejected: (item, reason, error) =>
            Effect.gen(function*() {
              if (deadLetterFailure !== undefined) return
              const published = yield* Effect.result(deadLetter(item, reason, error.status))
              if (published._tag === "Failure") deadLetterFailure = published.failure
              else {
                refused += 1
                stats.deadLettered += 1
              }
            }),
          unavailable: (error, attempt) =>
            Effect.gen(function*() {
              stats.failures += 1
              stats.lastError = error.message
              stats.unavailableSince ??= yield* Clock.currentTimeMillis
              if (outage.worthSaying(error, attempt)) {
                yield* Effect.logWarning(
                  error.reason === "Misconfigured"
                    // The operator's to fix: say what, and that nothing is being thrown away meanwhile.
                    ? `forward ${target.name}: target unavailable until its settings are fixed (attempt ${attempt}), holding ${items.length} item(s): ${error.detail}`
                    : `forward ${target.name}: receiver unavailable (attempt ${attempt}), holding ${items.length} item(s) and retrying: ${error.message}`
                )
              }
              yield* refreshLag
            })
        }).pipe(Effect.ensuring(Fiber.interrupt(heartbeat)))
        if (deadLetterFailure !== undefined) return yield* Effect.fail(deadLetterFailure)

        yield* Effect.tryPromise({
          try: () => {
            for (const m of batch) m.ack()
            return nc.flush()
          },
          catch: natsError("Publish", `cannot acknowledge a batch of ${target.name}`)
        })
        stats.sent += items.length - refused
        stats.batches += 1
        stats.lag = batch[batch.length - 1]!.info.pending
        if (stats.unavailableSince !== undefined) {
          yield* Effect.logInfo(`forward ${target.name}: the receiver accepts again; backlog resumes`)
          stats.unavailableSince = undefined
        }
        outage.recovered()
      }).pipe(
        // Stopped or failed before acknowledging: hand the batch back now rather than after ack_wait.
        Effect.onExit((exit) => Exit.isFailure(exit) ? Effect.sync(() => batch.forEach((m) => quietly(() => m.nak()))) : Effect.void)
      )

    return yield* Effect.forever(
      Effect.gen(function*() {
        const batch = yield* fetchBatch(consumer, target.batchSize, name)
        if (batch.length === 0) yield* refreshLag
        else yield* forwardBatch(batch)
      })
    )
  }))

/** `working()` and `nak()` only hasten things; on a closed connection they are skipped (the
 * messages then come back after `ack_wait`). */
const quietly = (signal: () => void): void => {
  try {
    signal()
  } catch {
    // The connection is gone: nothing to tell the server.
  }
}

/** A pull that has not ended long after its expiry: the connection is stalled. */
const PULL_STALLED_MS = 30_000

/** Pull up to `max` messages, waiting at most FETCH_EXPIRES_MS for the batch to fill. A pull
 * that never ends (a stalled connection) fails the run, which restarts on a fresh one. */
const fetchBatch = (consumer: Consumer, max: number, name: string): Effect.Effect<Array<JsMsg>, NatsError> =>
  Effect.timeoutOrElse(Effect.tryPromise({
    try: async (signal) => {
      const messages = await consumer.fetch({ max_messages: max, expires: FETCH_EXPIRES_MS })
      const batch: Array<JsMsg> = []
      const stop = () => {
        messages.stop()
        for (const m of batch) quietly(() => m.nak())
      }
      signal.addEventListener("abort", stop, { once: true })
      try {
        for await (const m of messages) batch.push(m)
      } finally {
        signal.removeEventListener("abort", stop)
      }
      return batch
    },
    catch: natsError("JetStream", `cannot pull from ${name}`)
  }), {
    duration: PULL_STALLED_MS,
    orElse: () => Effect.fail(new NatsError({ reason: "JetStream", message: `a pull from ${name} did not end within ${PULL_STALLED_MS / 1000} s: the connection looks stalled` }))
  })
