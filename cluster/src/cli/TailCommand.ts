/**
 * `bramble tail`: follow what flows through the cluster, live — readings as the log stores
 * them (after partitioning), window results as they close, alarm events — one readable line
 * each. A core NATS subscription: it sees what is published from now on, costs the cluster
 * no consumer state, and leaves nothing behind when stopped.
 */
import { decodeReadings, parseAlarm, readForecast, readWindowResult, Subjects } from "@bramble/protocol"
import type { Msg, NatsConnection } from "@nats-io/transport-node"
import { Console, Effect, Option, Queue, Result } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { connectionFlags, connectWith, fail, jsonFlag, usage } from "./AdminConnection.js"
import { clock, cyan, dim, green, num, red, values, yellow } from "./Table.js"

const KINDS = ["all", "readings", "aggregates", "alarms"] as const
type Kind = (typeof KINDS)[number]

/** One followed message, as `--json` prints it. */
export type TailEvent =
  | { readonly kind: "reading"; readonly subject: string; readonly device: string; readonly sensor: string; readonly partition: number; readonly ts: number; readonly values: Readonly<Record<string, number>> }
  | { readonly kind: "window"; readonly subject: string; readonly device: string; readonly sensor: string; readonly metric: string; readonly window: string; readonly start: number; readonly end: number; readonly count: number; readonly mean: number; readonly min: number; readonly max: number }
  | { readonly kind: "forecast"; readonly subject: string; readonly device: string; readonly sensor: string; readonly metric: string; readonly window: string; readonly start: number; readonly mean: number; readonly basedOn: number }
  | { readonly kind: "alarm"; readonly subject: string; readonly device: string; readonly rule: string; readonly state: "raised" | "cleared"; readonly value?: number | undefined; readonly message: string; readonly at: number }
  | { readonly kind: "undecodable"; readonly subject: string; readonly bytes: number }

const LIMITS = { maxPayloadBytes: 1024 * 1024, maxFutureSkewMs: Number.MAX_SAFE_INTEGER }

/** The subjects to follow. */
export const tailSubjects = (kind: Kind, device: string | undefined): ReadonlyArray<string> => {
  const d = device ?? "*"
  const all = {
    readings: Subjects.deviceReadingsFilter(d),
    aggregates: Subjects.deviceAggregatesFilter(d),
    alarms: Subjects.deviceAlarmsFilter(d)
  }
  return kind === "all" ? Object.values(all) : [all[kind]]
}

/** Decode one message. */
export const tailEvent = (msg: Pick<Msg, "subject" | "data">): TailEvent => {
  const subject = msg.subject
  const where = Subjects.parseReadingsSubject(subject)
  if (where !== undefined) {
    // A batch record shows its last reading (and how many it holds in the subject line).
    const { readings } = decodeReadings(msg.data, where.device, where.sensor, Date.now(), LIMITS)
    const reading = readings.at(-1)
    if (reading !== undefined) {
      return { kind: "reading", subject: readings.length > 1 ? `${subject} (batch of ${readings.length})` : subject, device: where.device, sensor: where.sensor, partition: where.partition, ts: reading.ts, values: reading.values }
    }
    return { kind: "undecodable", subject, bytes: msg.data.length }
  }
  if (Subjects.isForecastSubject(subject)) {
    try {
      const f = readForecast(msg.data)
      return { kind: "forecast", subject, device: f.device, sensor: f.sensor, metric: f.metric, window: f.window, start: f.start, mean: f.mean, basedOn: f.basedOn }
    } catch {
      return { kind: "undecodable", subject, bytes: msg.data.length }
    }
  }
  if (Subjects.isAggregatesSubject(subject)) {
    try {
      const w = readWindowResult(msg.data)
      return { kind: "window", subject, device: w.device, sensor: w.sensor, metric: w.metric, window: w.window, start: w.start, end: w.end, count: w.count, mean: w.mean, min: w.min, max: w.max }
    } catch {
      return { kind: "undecodable", subject, bytes: msg.data.length }
    }
  }
  if (Subjects.isAlarmsSubject(subject)) {
    const alarm = parseAlarm(msg.data)
    if (Result.isSuccess(alarm)) return { kind: "alarm", subject, ...alarm.success }
  }
  return { kind: "undecodable", subject, bytes: msg.data.length }
}

/** One readable line. */
export const tailLine = (event: TailEvent, at: number = Date.now()): string => {
  const time = dim(clock(at, true))
  switch (event.kind) {
    case "reading":
      return `${time} ${green("reading")} ${event.device}/${event.sensor} ${dim(`p${event.partition}`)} ${values(event.values)}${dim(` @ ${clock(event.ts, true)}`)}`
    case "window":
      return `${time} ${cyan("window ")} ${event.device}/${event.sensor} ${event.metric} ${event.window} ` +
        `[${clock(event.start)}, ${clock(event.end)}) n=${event.count} mean=${num(event.mean)} min=${num(event.min)} max=${num(event.max)}`
    case "forecast":
      return `${time} ${cyan("predict")} ${event.device}/${event.sensor} ${event.metric} ${event.window} from ${clock(event.start)} mean=${num(event.mean)} ${dim(`(${event.basedOn} windows)`)}`
    case "alarm":
      return `${time} ${event.state === "raised" ? red("alarm  ") : green("cleared")} ${event.device} ${yellow(event.rule)}` +
        `${event.value === undefined ? "" : ` value=${num(event.value)}`} ${event.message}`
    case "undecodable":
      return `${time} ${dim("?      ")} ${event.subject} (${event.bytes} bytes, not decodable)`
  }
}

const follow = (nc: NatsConnection, subjects: ReadonlyArray<string>, onEvent: (event: TailEvent) => Effect.Effect<void>, count: number | undefined) =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Msg>()
    const subs = subjects.map((subject) =>
      nc.subscribe(subject, {
        callback: (error, msg) => {
          if (error === null) Queue.offerUnsafe(queue, msg)
        }
      })
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => subs.forEach((s) => s.unsubscribe())))
    yield* Effect.promise(() => nc.flush())
    let seen = 0
    while (count === undefined || seen < count) {
      const msg = yield* Queue.take(queue)
      yield* onEvent(tailEvent(msg))
      seen += 1
    }
  })

export const tailCommand = Command.make(
  "tail",
  {
    what: Argument.Literals("what", KINDS).pipe(Argument.withDescription("What to follow (default: all)"), Argument.withDefault("all" as Kind)),
    device: Flag.String("device").pipe(Flag.withAlias("d"), Flag.withDescription("Only this device"), Flag.optional),
    count: Flag.Int("count").pipe(Flag.withAlias("n"), Flag.withDescription("Stop after this many messages"), Flag.optional),
    ...connectionFlags,
    json: jsonFlag
  },
  ({ what, device, count, server, config, credentials, user, json }) =>
    Effect.scoped(Effect.gen(function*() {
      const d = Option.getOrUndefined(device)
      if (d !== undefined && !Subjects.isToken(d)) return yield* usage(`"${d}" is not a device id`)
      const n = Option.getOrUndefined(count)
      if (n !== undefined && n < 1) return yield* usage("--count must be at least 1")
      const { nc, url } = yield* connectWith({ server, config, credentials, user }, { persistent: true })
      const subjects = tailSubjects(what, d)
      if (!json) yield* Console.error(dim(`following ${subjects.join(", ")} on ${url} (Ctrl-C to stop)`))
      yield* follow(nc, subjects, (event) => Console.log(json ? JSON.stringify(event) : tailLine(event)), n).pipe(
        Effect.catchDefect((defect) => fail(1, `tail stopped: ${String(defect)}`))
      )
    }))
).pipe(
  Command.withDescription("Follow readings, window results and alarms live, one line each"),
  Command.withExamples([
    { command: "bramble tail", description: "Everything" },
    { command: "bramble tail aggregates --device greenhouse-1", description: "One device's window results" },
    { command: "bramble tail readings --json -n 100 > sample.ndjson", description: "Capture 100 readings as JSON lines" }
  ])
)
