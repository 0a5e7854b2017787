/**
 * Alarm acknowledgements: `bramble alarms ack <device> <rule> [--note]` (and the HTTP API)
 * store one per (device, rule) in the replicated KV bucket `bramble_alarm_acks`, which every
 * node reads when it lists alarms. Cluster state, not partition state: a restart or a
 * partition move does not touch it. An ack is of one raise: it shows while the latest event
 * of the rule is the raise it acknowledged (same event time), and not after a clear or a
 * new raise.
 */
import { ALARM_ACKS_BUCKET } from "@bramble/nats"
import { Admin } from "@bramble/protocol"
import type { KV, Kvm } from "@nats-io/kv"
import { Effect, Schema } from "effect"

const key = (device: string, rule: string) => `${device}.${rule}`
const decodeAck = Schema.decodeUnknownOption(Admin.AlarmAck)

const unavailable = (error: unknown) =>
  new Admin.AdminError({ reason: "Unavailable", message: `cannot reach the ${ALARM_ACKS_BUCKET} bucket: ${(error as Error).message}` })

export interface AlarmAcks {
  /** The acks of these events, attached where they apply (see the header). */
  readonly attach: (events: ReadonlyArray<Admin.AlarmEvent>) => Effect.Effect<Array<Admin.AlarmEvent>, Admin.AdminError>
  /** Acknowledge `event` (the raised latest event of its rule). */
  readonly put: (event: Admin.AlarmEvent, note: string | undefined, now?: number) => Effect.Effect<Admin.AlarmEvent, Admin.AdminError>
}

export const makeAlarmAcks = (kvm: Kvm): AlarmAcks => {
  let bucket: Promise<KV> | undefined
  const open = () => (bucket ??= kvm.open(ALARM_ACKS_BUCKET).catch((error) => {
    bucket = undefined
    throw error
  }))

  const get = (device: string, rule: string) =>
    Effect.tryPromise({
      try: async () => {
        const entry = await (await open()).get(key(device, rule))
        if (entry === null || entry.operation !== "PUT") return undefined
        const ack = decodeAck(entry.json<unknown>())
        return ack._tag === "Some" ? ack.value : undefined
      },
      catch: unavailable
    })

  const attach = (events: ReadonlyArray<Admin.AlarmEvent>) =>
    Effect.forEach(events, (event) =>
      event.state !== "raised"
        ? Effect.succeed(event)
        : Effect.map(get(event.device, event.rule), (ack) => ack !== undefined && ack.raisedAt === event.at ? { ...event, ack } : event), { concurrency: 8 })

  const put = (event: Admin.AlarmEvent, note: string | undefined, now = Date.now()) =>
    Effect.tryPromise({
      try: async () => {
        const ack: Admin.AlarmAck = { at: now, raisedAt: event.at, ...(note === undefined || note === "" ? {} : { note }) }
        await (await open()).put(key(event.device, event.rule), JSON.stringify(ack))
        return { ...event, ack }
      },
      catch: unavailable
    })

  return { attach, put }
}
