/**
 * Publishes the alarm events edge actors raise (`sensor-fault`, `outbox-overflow`) to the
 * ALARMS stream, in the order they were raised, as soon as NATS is reachable. Alarm events
 * describe a state, so they are kept in memory only: a bounded queue that, when full, drops
 * the oldest event (counted). After a restart a sensor re-derives its state from its next
 * reads. Each event is published with `Nats-Msg-Id` from `alarmMsgId`, so a retry after a
 * lost PubAck is stored once. Every event is also logged, for a Pi that is offline.
 */
import { type Alarm, alarmMsgId, encodeAlarm, Subjects } from "@bramble/protocol"
import { Effect, Latch, type Scope } from "effect"
import type { Publish } from "./Publish.js"

export interface AlarmSenderStats {
  /** Raised and not yet published. */
  readonly queued: number
  readonly published: number
  /** Dropped because the queue was full. */
  readonly dropped: number
}

/** Where edge actors raise alarms. */
export interface AlarmSender {
  /** Queues an alarm event for ALARMS (and logs it); never blocks. */
  readonly raise: (alarm: Alarm) => Effect.Effect<void>
  readonly stats: () => AlarmSenderStats
}

/**
 * Starts the publisher for the duration of the scope. `capacity` bounds the events waiting
 * for NATS (default 1,000).
 */
export const makeAlarmSender = Effect.fn("AlarmSender.makeAlarmSender")(function*(options: {
  readonly publish: Publish
  readonly capacity?: number
}): Effect.fn.Return<AlarmSender, never, Scope.Scope> {
  const capacity = Math.max(1, options.capacity ?? 1_000)
  const queue: Array<Alarm> = []
  let published = 0
  let dropped = 0
  const ready = yield* Latch.make(false)

  const loop = Effect.gen(function*() {
    let backoff = 100
    while (true) {
      const next = queue[0]
      if (next === undefined) {
        ready.closeUnsafe()
        yield* ready.await
        continue
      }
      const sent = yield* Effect.result(
        options.publish(Subjects.alarmsSubject(next.device, next.rule), encodeAlarm(next), alarmMsgId(next))
      )
      if (sent._tag === "Success") {
        // The head may have been dropped meanwhile; remove this event only if it is still there.
        if (queue[0] === next) queue.shift()
        published += 1
        backoff = 100
      } else {
        yield* Effect.sleep(backoff)
        backoff = Math.min(backoff * 2, 5_000)
      }
    }
  })
  yield* Effect.forkScoped(loop)

  return {
    raise: (alarm) =>
      Effect.gen(function*() {
        const text = `alarm ${alarm.rule} ${alarm.state} for ${alarm.device}: ${alarm.message}`
        yield* alarm.state === "raised" ? Effect.logWarning(text) : Effect.logInfo(text)
        queue.push(alarm)
        if (queue.length > capacity) {
          queue.shift()
          dropped += 1
        }
        ready.openUnsafe()
      }),
    stats: () => ({ queued: queue.length, published, dropped })
  }
})
