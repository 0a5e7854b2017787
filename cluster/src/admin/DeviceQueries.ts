/**
 * Questions about devices: one device's full state, the list of every device, the alarms.
 *
 * The log answers most of it, from any node: the latest reading of each of a device's
 * sensors (READINGS, last message per subject), its last closed windows and forecasts
 * (AGGREGATES) and alarm events (ALARMS). The windows still open, the alarms raised right
 * now and the latest forecasts live in the device's aggregator actor on the node that owns
 * its partition — which is why a device query is answered by the owner (see AdminService
 * for the forwarding).
 */
import type { DevicePeek } from "@bramble/actor-aggregator"
import {
  Admin,
  clockSkewOf,
  type Forecast,
  parseAlarm,
  readForecast,
  readWindowResult,
  Subjects,
  type WindowResult
} from "@bramble/protocol"
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream"
import { type Deferred, Effect, Result } from "effect"
import { storedReading, storedReadings } from "../client/StoredReading.js"
import type { ActorRegistry } from "./ActorRegistry.js"
import type { AlarmAcks } from "./AlarmAcks.js"
import { partitionOfDevice } from "./DevicePartition.js"
import type { ClusterView } from "./ClusterView.js"
import { peekStream, type PeekedMessage } from "./StreamPeek.js"

/** Most (device, sensor) pairs `devices` lists. */
export const MAX_DEVICES = 10_000

const FORECAST_SUFFIX = ".forecast"

const storedWindow = (m: PeekedMessage): WindowResult | undefined => {
  if (m.subject.endsWith(FORECAST_SUFFIX)) return undefined
  try {
    return readWindowResult(m.data)
  } catch {
    return undefined
  }
}

const storedForecast = (m: PeekedMessage): Forecast | undefined => {
  if (!m.subject.endsWith(FORECAST_SUFFIX)) return undefined
  try {
    return readForecast(m.data)
  } catch {
    return undefined
  }
}

/** A stored alarm event; undefined when its payload is not an alarm. */
export const storedAlarm = (m: Pick<PeekedMessage, "data" | "seq" | "storedAt">): Admin.AlarmEvent | undefined => {
  const alarm = parseAlarm(m.data)
  return Result.isSuccess(alarm) ? { ...alarm.success, seq: m.seq, storedAt: m.storedAt } : undefined
}

const unavailable = (what: string) => (error: { readonly message: string }) =>
  new Admin.AdminError({ reason: "Unavailable", message: `${what}: ${error.message}` })

const byName = <A extends { readonly device: string; readonly sensor: string }>(a: A, b: A) =>
  a.device.localeCompare(b.device) || a.sensor.localeCompare(b.sensor)

/** Device queries answered by one node. */
export interface DeviceQueries {
  /** The full state of a device whose partition this node owns. */
  readonly device: (device: string) => Effect.Effect<Admin.DeviceState, Admin.AdminError>
  /** Every device the log has readings of (any node can answer). */
  readonly devices: Effect.Effect<Admin.DevicesReply, Admin.AdminError>
  /** The alarms raised now (every rule's latest event with `all`), optionally of one device
   * (any node can answer, from ALARMS). */
  readonly alarms: (request: Admin.AlarmsRequest) => Effect.Effect<Admin.AlarmsReply, Admin.AdminError>
  /** Acknowledge the raised alarm of a rule on a device (any node can answer). */
  readonly ack: (request: Admin.AckRequest) => Effect.Effect<Admin.AckReply, Admin.AdminError>
}

export const makeDeviceQueries = (options: {
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly view: ClusterView
  readonly registry: ActorRegistry
  readonly acks: AlarmAcks
}): DeviceQueries => {
  const { js, jsm, view, registry, acks } = options
  const peek = (stream: string, filter: string, limit: number) =>
    peekStream(js, jsm, { stream, filter, start: { kind: "lastPerSubject" }, limit })

  const alarmEvents = (device: string | undefined) =>
    peek(Subjects.Streams.alarms, device === undefined ? Subjects.StreamWildcards.alarms : Subjects.deviceAlarmsFilter(device), MAX_DEVICES).pipe(
      Effect.map((messages) =>
        messages.flatMap((m) => storedAlarm(m) ?? []).sort((a, b) => a.device.localeCompare(b.device) || a.rule.localeCompare(b.rule))
      ),
      Effect.mapError(unavailable("cannot read the ALARMS stream"))
    )

  const alarms = (request: Admin.AlarmsRequest) =>
    alarmEvents(request.device).pipe(
      Effect.flatMap((events) => acks.attach(request.all === true ? events : events.filter((e) => e.state === "raised"))),
      Effect.map((events) => ({ alarms: events }))
    )

  const ack = (request: Admin.AckRequest) =>
    Effect.gen(function*() {
      const events = yield* alarmEvents(request.device)
      const event = events.find((e) => e.rule === request.rule)
      if (event === undefined || event.state !== "raised") {
        const raised = events.filter((e) => e.state === "raised").map((e) => e.rule)
        return yield* Effect.fail(
          new Admin.AdminError({
            reason: "NotFound",
            message: `no raised alarm "${request.rule}" on device "${request.device}"` +
              (event === undefined ? "" : " (it was cleared)") +
              (raised.length === 0 ? "; the device has no raised alarm" : `; raised on it: ${raised.join(", ")}`)
          })
        )
      }
      return { alarm: yield* acks.put(event, request.note) }
    })

  const peekActor = (partition: number, device: string, mustExist: boolean) =>
    Effect.gen(function*() {
      const entities = registry.devicesOf(partition)
      if (entities === undefined) return undefined
      const live = (yield* entities.list).some((s) => s.name === device)
      // Peeking at a passivated device brings it back from its checkpoint; not worth it
      // for a device the log has never heard of.
      if (!live && !mustExist) return undefined
      const peeked = yield* entities.ask(device, (reply: Deferred.Deferred<DevicePeek>) => ({ _tag: "Peek" as const, reply })).pipe(
        Effect.timeout("5 seconds"),
        Effect.mapError((error) =>
          new Admin.AdminError({ reason: "Unavailable", message: `the aggregator of ${device} did not answer: ${error._tag}` })
        )
      )
      return peeked
    })

  const device = (device: string) =>
    Effect.gen(function*() {
      const partition = partitionOfDevice(device, view.partitions)
      if (!view.owns(partition)) {
        const owner = yield* view.ownerOf(partition)
        return yield* Effect.fail(
          new Admin.AdminError({
            reason: "NotOwner",
            message: `${view.self} does not own partition ${partition} of ${device}` +
              (owner === undefined ? " (nobody does right now)" : `; ask ${owner} (bramble.admin.${owner}.device) or bramble.admin.device`)
          })
        )
      }
      const [stored, aggregates, events] = yield* Effect.all([
        peek(Subjects.Streams.readings, Subjects.readingsSubject(partition, device, "*"), 1000).pipe(
          Effect.map((ms) => ms.flatMap((m) => storedReadings(m).map((reading) => ({ reading, storedAt: m.storedAt })))),
          Effect.mapError(unavailable("cannot read the READINGS stream"))
        ),
        peek(Subjects.Streams.aggregates, Subjects.deviceAggregatesFilter(device), 2000).pipe(
          Effect.mapError(unavailable("cannot read the AGGREGATES stream"))
        ),
        alarmEvents(device)
      ], { concurrency: 3 })
      const latest = stored.map((s) => s.reading)
      // The device's clock, from the reading stored last (issue 15: a wrong clock is its own fault).
      const newest = stored.reduce<(typeof stored)[number] | undefined>((a, s) => a === undefined || s.storedAt > a.storedAt ? s : a, undefined)
      const actor = yield* peekActor(partition, device, latest.length > 0)
      if (latest.length === 0 && actor === undefined) {
        return yield* Effect.fail(
          new Admin.AdminError({ reason: "NotFound", message: `no readings of device "${device}" in READINGS (partition ${partition}); see \`bramble devices\`` })
        )
      }
      const order = (a: WindowResult, b: WindowResult) =>
        a.sensor.localeCompare(b.sensor) || a.metric.localeCompare(b.metric) || a.window.localeCompare(b.window) || a.start - b.start
      // The actor knows what is raised and predicted right now; without it (passivated, or
      // its partition restarting), the log's latest events say the same as of their storing.
      const active = actor === undefined
        ? events.filter((e) => e.state === "raised")
        : actor.activeAlarms.map((rule) =>
          events.find((e) => e.rule === rule) ??
            { device, rule, state: "raised" as const, message: `${rule} is raised`, at: Date.now(), seq: 0, storedAt: 0 }
        )
      const forecasts = actor === undefined ? aggregates.flatMap((m) => storedForecast(m) ?? []) : actor.forecasts
      const byKey = (a: Forecast, b: Forecast) =>
        a.sensor.localeCompare(b.sensor) || a.metric.localeCompare(b.metric) || a.window.localeCompare(b.window)
      return {
        device,
        partition,
        owner: view.self,
        latest: [...latest].sort((a, b) => a.sensor.localeCompare(b.sensor)),
        openWindows: [...(actor?.openWindows ?? [])].sort(order),
        recentWindows: aggregates.flatMap((m) => storedWindow(m) ?? []).sort(order),
        alarms: yield* acks.attach(active),
        forecasts: [...forecasts].sort(byKey),
        live: actor !== undefined,
        ...(newest === undefined ? {} : { clockSkewMs: clockSkewOf(newest.storedAt, newest.reading.ts) })
      }
    })

  const devices = Effect.gen(function*() {
    const messages = yield* peek(Subjects.Streams.readings, Subjects.READINGS_SUBJECTS[0]!, MAX_DEVICES).pipe(
      Effect.mapError(unavailable("cannot read the READINGS stream"))
    )
    const owners = new Map((yield* view.owners).map((o) => [o.partition, o.owner]))
    const out: Array<Admin.DeviceSummary> = []
    for (const m of messages) {
      const where = Subjects.parseReadingsSubject(m.subject)
      if (where === undefined) continue
      const reading = storedReading(m)
      out.push({
        device: where.device,
        sensor: where.sensor,
        partition: where.partition,
        owner: owners.get(where.partition) ?? null,
        ts: reading?.ts ?? m.storedAt,
        values: reading?.values ?? {}
      })
    }
    return { devices: out.sort(byName) }
  })

  return { device, devices, alarms, ack }
}
