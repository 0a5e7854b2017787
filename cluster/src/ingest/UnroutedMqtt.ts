/**
 * MQTT QoS 1 publishes on topics no stream holds: dead-lettered as `NoRoute`, not lost.
 *
 * nats-server PUBACKs an MQTT QoS 1 publish once it is in its own `$MQTT_msgs` stream, then
 * routes it as a plain NATS message; on a topic no stream captures (`temp/kitchen` with no
 * route for `temp/…`) that message goes nowhere (docs/design.md, decision 1: 2.9 cannot refuse it).
 * `$MQTT_msgs` still holds it while a consumer with interest has not acknowledged it, so a
 * durable consumer `bramble-unrouted` (on the node that owns partition 0, beside the
 * router) reads every QoS 1 message's subject — headers only, so the readings' payloads are
 * not sent twice — and dead-letters, with its bytes, each one whose subject no stream holds.
 * Messages under routed first levels are the router's (INGEST has them, NoRoute included).
 *
 * QoS 0 and NATS publishes on such topics are not stored anywhere by nats-server and cannot
 * be recovered: docs/ingest-routes.md says so.
 */
import { fetchBatch, NatsClient, natsError } from "@bramble/nats"
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream"
import { Effect } from "effect"
import { type IngestStats, type Publisher, publishDeadLetter, retryForever } from "./IngestRouter.js"
import type { RouteTable } from "./RouteTable.js"

const MQTT_MESSAGES_STREAM = "$MQTT_msgs"
const MQTT_SUBJECT_PREFIX = "$MQTT.msgs."
export const UNROUTED_CONSUMER = "bramble-unrouted"

const BATCH = 1_000

/** Runs until interrupted; waits while `$MQTT_msgs` does not exist (no MQTT client yet). */
export const runUnroutedMqtt = (options: { readonly table: RouteTable; readonly stats: IngestStats }) =>
  retryForever("unrouted MQTT watch", watchOnce(options))

const watchOnce = (options: { readonly table: RouteTable; readonly stats: IngestStats }) =>
  Effect.gen(function*() {
    const { table, stats } = options
    const { js, jsm, publisher } = yield* NatsClient
    while (true) {
      const ready = yield* Effect.tryPromise(() =>
        jsm.consumers.add(MQTT_MESSAGES_STREAM, {
          durable_name: UNROUTED_CONSUMER,
          filter_subject: `${MQTT_SUBJECT_PREFIX}>`,
          ack_policy: AckPolicy.All,
          deliver_policy: DeliverPolicy.New,
          headers_only: true,
          ack_wait: 60_000_000_000,
          max_ack_pending: 10 * BATCH
        })
      ).pipe(Effect.as(true), Effect.orElseSucceed(() => false))
      if (ready) break
      // nats-server makes `$MQTT_msgs` when the first MQTT client connects, and keeps a QoS 1
      // message only while some consumer has interest: until this consumer exists, an
      // unrouted publish is dropped unseen. So look often (one API call each time, only
      // until the cluster's first MQTT client) — every 5 s lost the publishes of a client
      // that connected and sent at once (docs/ingest-routes.md).
      yield* Effect.sleep("250 millis")
    }
    const consumer = yield* Effect.tryPromise({
      try: () => js.consumers.get(MQTT_MESSAGES_STREAM, UNROUTED_CONSUMER),
      catch: natsError("JetStream", `cannot open the consumer ${UNROUTED_CONSUMER}`)
    })
    while (true) {
      const batch = yield* fetchBatch(consumer, { max: BATCH, expiresMs: 2_000, what: MQTT_MESSAGES_STREAM })
      if (batch.length === 0) continue
      const pending: Array<Promise<unknown>> = []
      for (const m of batch) {
        const subject = m.subject.slice(MQTT_SUBJECT_PREFIX.length)
        if (table.isCaptured(subject)) continue
        pending.push(deadLetterWithBytes(jsm, publisher, stats, subject, m.seq))
      }
      yield* Effect.tryPromise({
        try: () => Promise.all(pending),
        catch: natsError("Publish", "cannot dead-letter an unrouted MQTT message")
      })
      // AckPolicy.All: the last message acknowledges the batch.
      batch[batch.length - 1]!.ack()
    }
  })

/** The message's bytes (still held: not acknowledged yet), dead-lettered once per `$MQTT_msgs` sequence. */
const deadLetterWithBytes = async (
  jsm: NatsClient["Service"]["jsm"],
  publisher: Publisher,
  stats: IngestStats,
  subject: string,
  seq: number
) => {
  const stored = await jsm.streams.getMessage(MQTT_MESSAGES_STREAM, { seq }).catch(() => null)
  stats.noRoute += 1
  const topic = subject.replaceAll(".", "/")
  return publishDeadLetter(
    publisher,
    "NoRoute",
    `no ingest route takes MQTT topic ${JSON.stringify(topic).slice(1, -1)} (published with QoS 1 and PUBACKed by nats-server; add a route to the cluster file: docs/ingest-routes.md)`,
    subject,
    undefined,
    stored?.data ?? new Uint8Array(0),
    `dl.NoRoute.mqtt.${seq}`
  )
}
