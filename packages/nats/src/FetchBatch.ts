/**
 * One batch from a durable pull consumer: the messages a fetch delivers within `expiresMs`,
 * at most `max`. Shared by the readers that pull in a loop (MQTT recovery, the ingest router,
 * the unrouted-MQTT watch).
 *
 * nats.js ends a fetch when it expires; one that has not ended long after (seen when the
 * consumer's leader moved while the pull request was in flight, nats-server 2.9.10) would hold
 * its reader forever, so it is stopped and reported as a failure after `expiresMs` plus a
 * margin, and the caller decides whether to go on or start over.
 */
import type { Consumer, JsMsg } from "@nats-io/jetstream"
import { Effect } from "effect"
import { NatsError, natsError } from "./NatsError.js"

/** How long past its expiry a fetch may run before it counts as lost. */
const LOST_FETCH_MARGIN_MS = 15_000

export const fetchBatch = (
  consumer: Consumer,
  options: { readonly max: number; readonly expiresMs: number; readonly what: string }
): Effect.Effect<Array<JsMsg>, NatsError> =>
  Effect.tryPromise({
    try: async (signal) => {
      const out: Array<JsMsg> = []
      const messages = await consumer.fetch({ max_messages: options.max, expires: options.expiresMs })
      signal.addEventListener("abort", () => messages.stop())
      for await (const m of messages) out.push(m)
      return out
    },
    catch: natsError("JetStream", `cannot read ${options.what}`)
  }).pipe(
    Effect.timeoutOrElse({
      duration: options.expiresMs + LOST_FETCH_MARGIN_MS,
      orElse: () =>
        Effect.fail(new NatsError({ reason: "JetStream", message: `cannot read ${options.what}: a fetch of ${options.expiresMs} ms had not ended ${LOST_FETCH_MARGIN_MS} ms later` }))
    })
  )
