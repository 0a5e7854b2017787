/**
 * Recovering MQTT readings that nats-server PUBACKed but never copied into READINGS.
 *
 * nats-server (2.9.10 and later) answers an MQTT QoS 1 publish with a PUBACK once the
 * message is stored in its own `$MQTT_msgs` stream; the copy that becomes
 * `readings.<p>.<device>.<sensor>` is a plain routed publish that a broken route loses
 * (docs/delivery-guarantees.md quotes the code). `$MQTT_msgs` keeps a message as long as a
 * consumer with interest in it has not acknowledged it, so the PUBACKed reading still exists:
 * this module reads it back and puts it into READINGS when READINGS does not have it.
 *
 * Per partition, a durable consumer `bramble-mqtt-p<p>` on `$MQTT_msgs` takes
 * `$MQTT.msgs.readings.<p>.>`. For each message, in order, once the partition's last durable
 * checkpoint covers READINGS past the time the message was stored (plus a margin for the two
 * streams' leaders' clocks and the route's delay):
 * - that checkpoint has the reading's `seq` (at or below the stream's highest seq and in no
 *   reported gap, ./SequenceGaps.ts) → acknowledged, nothing to do;
 * - otherwise → published into READINGS (`Nats-Msg-Id` `mqtt-recovered.<sequence>`), then
 *   acknowledged, and counted as recovered. Its arrival fills the gap (`lateFilled`).
 * A reading without `seq` cannot be matched and is acknowledged unchecked.
 *
 * Putting a reading in twice is harmless: raw points are keyed by (device, event time) and a
 * window counts a (device, sensor, event time) once (docs/neighbours.md). So the rule errs on
 * the side of publishing. Everything goes through the partition's fence, like every write of
 * the worker; a message acknowledged nowhere is delivered again to the next owner.
 */
import { fetchBatch, NatsClient, type NatsError, natsError } from "@bramble/nats"
import { type DecodeLimits, decodeReading, Subjects } from "@bramble/protocol"
import { AckPolicy, DeliverPolicy, type JsMsg } from "@nats-io/jetstream"
import { Cause, Clock, Effect, Result, Schedule } from "effect"

/** The stream nats-server keeps MQTT QoS 1 messages in. */
export const MQTT_MESSAGES_STREAM = Subjects.Mqtt.messagesStream

/** How far READINGS must have been read past a message's time before it counts as missing. */
export const RECOVERY_MARGIN_MS = 10_000

/** How long a message may wait for its worker before the wait is logged (and again after as long). */
const WAIT_WARNING_MS = 30_000

/** How long a delivered, unacknowledged message stays with the fiber that took it. */
const ACK_WAIT_MS = 30_000

export const mqttRecoveryConsumer = (partition: number) => `bramble-mqtt-p${partition}`

export interface RecoveryProgress {
  /** The stream time (ms) up to which the partition's last durable checkpoint has read
   * READINGS: every message stored before it is in that checkpoint (gap state included). */
  readonly readThrough: Effect.Effect<number>
  /** Does the last durable checkpoint have (device, sensor, seq)? Loads the device's state if needed. */
  readonly seen: (device: string, sensor: string, seq: number) => Effect.Effect<boolean, NatsError>
}

export interface MqttRecoveryStats {
  recovered: number
}

const utf8 = new TextDecoder()

/** The `seq` of a device's JSON payload, if it has one. */
const seqOf = (data: Uint8Array): number | undefined => {
  try {
    const value = JSON.parse(utf8.decode(data)) as { seq?: unknown }
    return typeof value?.seq === "number" && Number.isSafeInteger(value.seq) ? value.seq : undefined
  } catch {
    return undefined
  }
}

const sleep = (ms: number) => Effect.sleep(`${ms} millis`)

/**
 * Runs until interrupted (the worker's scope). Waits while `$MQTT_msgs` does not exist (no
 * MQTT client has connected yet), and starts over after any failure: JetStream is often
 * unavailable for a while right after a partition heals, which is when there is most to do.
 */
export const runMqttRecovery = (options: RecoveryOptions) =>
  recoverOnce(options).pipe(
    // Any failure, a defect included (a message acknowledged on a closed connection), is
    // logged and retried; only interruption (the worker stopping) ends it.
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.interrupt
        : Effect.andThen(Effect.logWarning(`partition ${options.partition}: MQTT recovery failed; starting it again in 2 s`, cause), Effect.fail("retry" as const))
    ),
    Effect.retry(Schedule.spaced("2 seconds"))
  )

interface RecoveryOptions {
  readonly partition: number
  readonly progress: RecoveryProgress
  readonly stats: MqttRecoveryStats
  /** The partition's own limits: what it would refuse is not put back. */
  readonly limits: DecodeLimits
}

const recoverOnce = (options: RecoveryOptions) =>
  Effect.gen(function*() {
    const { partition, progress, stats } = options
    const { js, jsm } = yield* NatsClient
    const name = mqttRecoveryConsumer(partition)
    // Create (or find) the consumer; until MQTT's stream exists there is nothing to recover.
    const config = {
      durable_name: name,
      filter_subject: Subjects.mqttStoredSubject(Subjects.partitionFilter(partition)),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      // Messages held while the worker catches up are kept with `working()` every second, so
      // this only bounds how long a batch taken by an owner that stopped (crashed, fenced, or
      // lost its lease while cut off) stays out of reach of the next owner. A stop that runs
      // its finalizers gives them back at once (`nak`, below).
      ack_wait: ACK_WAIT_MS * 1_000_000,
      max_ack_pending: 10_000
    }
    while (true) {
      const ready = yield* Effect.tryPromise({
        try: async () => {
          const existing = await jsm.consumers.info(MQTT_MESSAGES_STREAM, name).catch(() => undefined)
          if (existing === undefined) await jsm.consumers.add(MQTT_MESSAGES_STREAM, config)
          // A consumer made by an older Bramble with another ack wait: nats-server refuses
          // to "add" a durable whose config differs, so it is updated in place.
          else if (existing.config.ack_wait !== config.ack_wait) await jsm.consumers.update(MQTT_MESSAGES_STREAM, name, { ack_wait: config.ack_wait })
        },
        catch: (error) => error
      }).pipe(Effect.as(true), Effect.orElseSucceed(() => false))
      if (ready) break
      yield* sleep(10_000)
    }
    const consumer = yield* Effect.tryPromise({
      try: () => js.consumers.get(MQTT_MESSAGES_STREAM, name),
      catch: natsError("JetStream", `partition ${partition}: cannot open the MQTT recovery consumer`)
    })

    const decide = (m: JsMsg) =>
      Effect.gen(function*() {
        const storedAt = Math.floor(m.info.timestampNanos / 1e6)
        // READINGS must have been read past this message (with a margin) before a missing
        // seq means missing: until then, wait for the worker.
        const waitFrom = yield* Clock.currentTimeMillis
        let warnAt = waitFrom + WAIT_WARNING_MS
        while (true) {
          const through = yield* progress.readThrough
          if (through >= storedAt + RECOVERY_MARGIN_MS) break
          m.working()
          // A worker that never reads that far holds every later message too: say so.
          const now = yield* Clock.currentTimeMillis
          if (now >= warnAt) {
            warnAt = now + WAIT_WARNING_MS
            yield* Effect.logWarning(
              `partition ${partition}: MQTT recovery has waited ${Math.round((now - waitFrom) / 1000)} s for READINGS to be checkpointed past ` +
                `${new Date(storedAt + RECOVERY_MARGIN_MS).toISOString()} (now through ${through > 0 ? new Date(through).toISOString() : "nothing"}) ` +
                `before deciding on ${MQTT_MESSAGES_STREAM} sequence ${m.seq}`
            )
          }
          yield* sleep(1_000)
        }
        const subject = m.subject.slice(Subjects.Mqtt.messagesPrefix.length)
        const parsed = Subjects.parseReadingsSubject(subject)
        const device = parsed?.device
        const sensor = parsed?.sensor
        const seq = seqOf(m.data)
        if (device === undefined || sensor === undefined || seq === undefined || (yield* progress.seen(device, sensor, seq))) {
          m.ack()
          return undefined
        }
        // A reading the partition refuses (a clock far ahead, a payload it cannot take) was
        // dead-lettered from READINGS, or — if its copy was lost — would only be dead-lettered
        // again: it never reaches the database either way, and the gap state does not follow
        // refused readings, so it would look missing every time. Not put back.
        if (Result.isFailure(decodeReading(m.data, device, sensor, storedAt, options.limits))) {
          m.ack()
          return undefined
        }
        yield* Effect.tryPromise({
          try: () => js.publish(subject, m.data, { msgID: `mqtt-recovered.${m.seq}` }),
          catch: natsError("Publish", `partition ${partition}: cannot put the recovered MQTT reading ${device}/${sensor} seq ${seq} into READINGS`)
        })
        m.ack()
        stats.recovered += 1
        return `${device}/${sensor} seq ${seq}`
      })

    while (true) {
      // A failed or lost fetch (JetStream unavailable right after a heal) is tried again.
      const batch = yield* fetchBatch(consumer, { max: 500, expiresMs: 5_000, what: `${MQTT_MESSAGES_STREAM} for partition ${partition}` }).pipe(
        Effect.orElseSucceed((): Array<JsMsg> => [])
      )
      const recovered: Array<string> = []
      let done = 0
      yield* Effect.gen(function*() {
        for (const m of batch) {
          const what = yield* decide(m)
          done += 1
          if (what !== undefined) recovered.push(what)
        }
      }).pipe(
        // Interrupted (the partition moved or its worker stopped) or failed half-way: what
        // was taken and not decided goes back to the consumer now, for whichever worker owns
        // the partition next, instead of waiting out the ack wait. Seen in the multi-host
        // partition test: batches taken by the owner that lost its lease held ~1,000
        // PUBACKed readings out of reach for two minutes after a partition healed.
        Effect.onExit(() => Effect.sync(() => {
          // A closed connection refuses the nak; the ack wait returns those messages then.
          for (const m of batch.slice(done)) {
            try {
              m.nak()
            } catch {
              break
            }
          }
        }))
      )
      // One line per batch: a partition cut off for a while has many to put back at once.
      if (recovered.length > 0) {
        yield* Effect.logWarning(
          `partition ${partition}: recovered ${recovered.length} MQTT reading(s) from ${MQTT_MESSAGES_STREAM} that nats-server PUBACKed but READINGS never got (first: ${recovered[0]})`
        )
      }
      if (batch.length === 0) yield* sleep(1_000)
    }
  })
