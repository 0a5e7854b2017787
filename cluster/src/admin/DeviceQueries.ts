/**
 * Questions about devices: one device's full state, the list of every device, the alarms.
 *
 * The log answers most of it, from any node: the latest reading of each of a device's
 * sensors (READINGS, last message per subject), its last closed windows (AGGREGATES) and
 * alarm events (ALARMS). Only the windows still open live in memory, in the device's
 * aggregator actor on the node that owns its partition — which is why a device query is
 * answered by the owner (see AdminService for the forwarding).
 */
import type { DevicePeek } from "@bramble/actor-aggregator"
import { Admin, Codec, decodeReading, type Reading, readWindowResult, Subjects, type WindowResult } from "@bramble/protocol"
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream"
import { type Deferred, Effect, Result } from "effect"
import type { ActorRegistry } from "./ActorRegistry.js"
import { partitionOfDevice } from "./DevicePartition.js"
import type { ClusterView } from "./ClusterView.js"
import { peekStream, type PeekedMessage } from "./StreamPeek.js"

/** Most (device, sensor) pairs `devices` lists. */
export const MAX_DEVICES = 10_000

const LIMITS = { maxPayloadBytes: 1024 * 1024, maxFutureSkewMs: Number.MAX_SAFE_INTEGER }

/** A stored reading, decoded as the partition worker decodes it; undefined if it was refused. */
export const storedReading = (m: PeekedMessage): Reading | undefined => {
  const where = Subjects.parseReadingsSubject(m.subject)
  if (where === undefined) return undefined
  const decoded = decodeReading(m.data, where.device, where.sensor, m.storedAt, LIMITS)
  return Result.isSuccess(decoded) ? decoded.success : undefined
}

const storedWindow = (m: PeekedMessage): WindowResult | undefined => {
  try {
    return readWindowResult(m.data)
  } catch {
    return undefined
  }
}

/** An alarm payload, whatever its encoding (the rules engine owns its schema). */
export const decodeLoosely = (bytes: Uint8Array): unknown => {
  try {
    return Codec.isJson(bytes) ? Codec.decodeJson(bytes) : Codec.decode(bytes)
  } catch {
    return { undecodable: bytes.length }
  }
}

/** An alarm event from its ALARMS subject `alarms.<device>.<rule>`. */
export const storedAlarm = (m: PeekedMessage): Admin.AlarmInfo | undefined => {
  const parts = m.subject.split(".")
  if (parts.length !== 3 || parts[0] !== "alarms") return undefined
  return { device: parts[1]!, rule: parts[2]!, at: m.storedAt, seq: m.seq, event: decodeLoosely(m.data) }
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
  /** The latest event of every alarm rule, optionally of one device (any node can answer). */
  readonly alarms: (device?: string) => Effect.Effect<Admin.AlarmsReply, Admin.AdminError>
}

export const makeDeviceQueries = (options: {
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly view: ClusterView
  readonly registry: ActorRegistry
}): DeviceQueries => {
  const { js, jsm, view, registry } = options
  const peek = (stream: string, filter: string, limit: number) =>
    peekStream(js, jsm, { stream, filter, start: { kind: "lastPerSubject" }, limit })

  const alarms = (device?: string) =>
    peek(Subjects.Streams.alarms, device === undefined ? "alarms.>" : `alarms.${device}.*`, MAX_DEVICES).pipe(
      Effect.map((messages) => ({
        alarms: messages.flatMap((m) => storedAlarm(m) ?? []).sort((a, b) => a.device.localeCompare(b.device) || a.rule.localeCompare(b.rule))
      })),
      Effect.mapError(unavailable("cannot read the ALARMS stream"))
    )

  const openWindows = (partition: number, device: string, mustExist: boolean) =>
    Effect.gen(function*() {
      const entities = registry.devicesOf(partition)
      if (entities === undefined) return { live: false, windows: [] as ReadonlyArray<WindowResult> }
      const live = (yield* entities.list).some((s) => s.name === device)
      // Peeking at a passivated device brings it back from its checkpoint; not worth it
      // for a device the log has never heard of.
      if (!live && !mustExist) return { live: false, windows: [] as ReadonlyArray<WindowResult> }
      const peeked = yield* entities.ask(device, (reply: Deferred.Deferred<DevicePeek>) => ({ _tag: "Peek" as const, reply })).pipe(
        Effect.timeout("5 seconds"),
        Effect.mapError((error) =>
          new Admin.AdminError({ reason: "Unavailable", message: `the aggregator of ${device} did not answer: ${error._tag}` })
        )
      )
      return { live: true, windows: peeked.openWindows }
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
      const [latest, recent, alarmList] = yield* Effect.all([
        peek(Subjects.Streams.readings, `readings.${partition}.${device}.*`, 1000).pipe(
          Effect.map((ms) => ms.flatMap((m) => storedReading(m) ?? [])),
          Effect.mapError(unavailable("cannot read the READINGS stream"))
        ),
        peek(Subjects.Streams.aggregates, `aggregates.${device}.>`, 1000).pipe(
          Effect.map((ms) => ms.flatMap((m) => storedWindow(m) ?? [])),
          Effect.mapError(unavailable("cannot read the AGGREGATES stream"))
        ),
        alarms(device)
      ], { concurrency: 3 })
      const open = yield* openWindows(partition, device, latest.length > 0)
      if (latest.length === 0 && !open.live) {
        return yield* Effect.fail(
          new Admin.AdminError({ reason: "NotFound", message: `no readings of device "${device}" in READINGS (partition ${partition}); see \`bramble devices\`` })
        )
      }
      const order = (a: WindowResult, b: WindowResult) =>
        a.sensor.localeCompare(b.sensor) || a.metric.localeCompare(b.metric) || a.window.localeCompare(b.window) || a.start - b.start
      return {
        device,
        partition,
        owner: view.self,
        latest: [...latest].sort((a, b) => a.sensor.localeCompare(b.sensor)),
        openWindows: [...open.windows].sort(order),
        recentWindows: [...recent].sort(order),
        alarms: alarmList.alarms,
        forecast: null,
        live: open.live
      }
    })

  const devices = Effect.gen(function*() {
    const messages = yield* peek(Subjects.Streams.readings, "readings.*.*.*", MAX_DEVICES).pipe(
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

  return { device, devices, alarms }
}
