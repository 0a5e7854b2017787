/**
 * `bramble export --from T1 [--to T2] [--devices a,b] [--kind raw|windows|alarms]
 * [--window NAME] [--format csv|ndjson] --out FILE [--slack 10m] [--strict] [--server URL]`:
 * a time range of the log as a file for pandas, R or a spreadsheet (docs/export.md).
 *
 * The range is in event time, [from, to) (ExportLog says how arrival order is handled). The
 * log keeps `streams.<stream>.maxAge` (7 days of readings by default); when the range starts
 * before what the stream still holds, the command says so on stderr, prints the database
 * query that has the older data, and exports what the log holds (exit 0) — or, with
 * `--strict`, writes nothing and exits 1.
 *
 * The file appears only when complete: rows go to `FILE.partial`, renamed at the end and
 * removed on a failure or Ctrl-C. A progress bar goes to stderr when it is a terminal.
 */
import { Subjects } from "@bramble/protocol"
import { Console, Effect, Exit, Option, Result } from "effect"
import { Command, Flag } from "effect/cli"
import { once } from "node:events"
import { createWriteStream, renameSync, rmSync, type WriteStream } from "node:fs"
import { connectionFlags, connectWith, fail, usage } from "./AdminConnection.js"
import { missingBefore, type ExportPlan, readExport, streamHead, streamOf } from "./ExportLog.js"
import { EXPORT_FORMATS, EXPORT_KINDS, type ExportKind, isoTime, type Row, rowEncoder } from "./ExportRows.js"
import { progressBar } from "./Progress.js"
import { formatDuration, parseDuration, parseTime } from "./TimeArg.js"

/** How long after `--to` a message may have been stored and still be exported, unless `--slack` says. */
export const DEFAULT_SLACK = "10m"

const MEASUREMENT: Record<ExportKind, string> = { raw: "reading", windows: "window", alarms: "alarm" }
const WHAT: Record<ExportKind, string> = { raw: "raw readings", windows: "window results", alarms: "alarm events" }
const TIME_COLUMN: Record<ExportKind, string> = { raw: "time", windows: "start", alarms: "at" }

/** Where the older data is: the same range as a database query (InfluxQL for 1.x, Flux for 2.x). */
export const databaseHint = (plan: Pick<ExportPlan, "kind" | "devices" | "window" | "from">, until: number): string => {
  const from = isoTime(plan.from)
  const to = isoTime(until)
  const devices = plan.devices ?? []
  const window = plan.kind === "windows" ? plan.window : undefined
  // Inside the shell's double quotes: identifiers in \"…\", values in '…'.
  const influxql = [
    `time >= '${from}' AND time < '${to}'`,
    ...(devices.length === 0 ? [] : [`(${devices.map((d) => `\\"device\\" = '${d}'`).join(" OR ")})`]),
    ...(window === undefined ? [] : [`\\"window\\" = '${window}'`])
  ].join(" AND ")
  const flux = [
    `r._measurement == "${MEASUREMENT[plan.kind]}"`,
    ...(devices.length === 0 ? [] : [`(${devices.map((d) => `r.device == "${d}"`).join(" or ")})`]),
    ...(window === undefined ? [] : [`r.window == "${window}"`])
  ].join(" and ")
  return [
    `  InfluxDB 1.x (sink influx-v1):  influx -database <sink.database> -precision rfc3339 -execute \\`,
    `    "SELECT * FROM \\"${MEASUREMENT[plan.kind]}\\" WHERE ${influxql}"`,
    `  InfluxDB 2.x (sink influx-v2):  influx query \\`,
    `    'from(bucket: "<sink.bucket>") |> range(start: ${from}, stop: ${to}) |> filter(fn: (r) => ${flux})'`
  ].join("\n")
}

/** The warning (or, with --strict, the error) for a range older than the stream holds. */
export const olderThanStreamMessage = (plan: ExportPlan, stream: string, holdsFrom: number, maxAgeMs: number, removed: number): string =>
  `${stream} no longer holds messages stored before ${isoTime(holdsFrom)}, and --from is ${isoTime(plan.from)}: ` +
  `${removed} older message(s) were removed` +
  (maxAgeMs > 0 ? ` (the stream keeps ${formatDuration(maxAgeMs)}: streams.${streamKey(stream)}.maxAge in the cluster file).` : ".") +
  `\nThe database has the older ${WHAT[plan.kind]}, for example:\n${databaseHint(plan, holdsFrom)}`

const streamKey = (stream: string) =>
  stream === Subjects.Streams.readings ? "readings" : stream === Subjects.Streams.aggregates ? "aggregates" : "alarms"

/** A byte count as people read it. */
export const formatBytes = (bytes: number): string =>
  bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`

/** Where the rows go: a file (written as FILE.partial, renamed when complete) or stdout. */
interface Output {
  readonly write: (text: string) => Promise<void>
  readonly bytes: () => number
  /** Flush and put the file in place. */
  readonly finish: () => Promise<void>
  /** The reader of stdout went away (`| head`): not a failure of the export. */
  readonly readerGone: () => boolean
}

type Writable = NodeJS.WritableStream & { readonly errored?: Error | null }

const writeTo = (stream: Writable, text: string): Promise<void> => {
  if (stream.errored) return Promise.reject(stream.errored)
  if (stream.write(text)) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      stream.off("drain", onDrain)
      reject(error)
    }
    const onDrain = () => {
      stream.off("error", onError)
      resolve()
    }
    stream.once("drain", onDrain)
    stream.once("error", onError)
  })
}

/** Keeps the stream's first error (an 'error' event nobody listens to would crash the process). */
const watchErrors = (stream: Writable) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const seen: { error?: NodeJS.ErrnoException } = {}
      const listener = (error: NodeJS.ErrnoException) => {
        seen.error ??= error
      }
      stream.on("error", listener)
      return { seen, listener }
    }),
    ({ listener }) => Effect.sync(() => stream.off("error", listener))
  ).pipe(Effect.map(({ seen }) => seen))

const openOutput = (out: string) =>
  Effect.gen(function*() {
    let bytes = 0
    const write = (stream: Writable, seen: { readonly error?: Error }) => (text: string) =>
      (seen.error === undefined ? writeTo(stream, text) : Promise.reject(seen.error)).then(() => {
        bytes += Buffer.byteLength(text)
      })
    if (out === "-") {
      const seen = yield* watchErrors(process.stdout)
      return {
        write: write(process.stdout, seen),
        bytes: () => bytes,
        finish: () => Promise.resolve(),
        readerGone: () => seen.error?.code === "EPIPE"
      } satisfies Output
    }
    const partial = `${out}.partial`
    const file = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const file: WriteStream = createWriteStream(partial)
          await once(file, "open")
          return file
        },
        catch: (error) => error
      }),
      (file, exit) =>
        Effect.sync(() => {
          // Renamed on success; a failure or Ctrl-C leaves no half file behind.
          if (Exit.isFailure(exit)) {
            file.destroy()
            rmSync(partial, { force: true })
          }
        })
    ).pipe(Effect.catch((error) => fail(1, `cannot write ${partial}: ${error instanceof Error ? error.message : String(error)}`)))
    const seen = yield* watchErrors(file)
    return {
      write: write(file, seen),
      bytes: () => bytes,
      finish: async () => {
        await new Promise<void>((resolve, reject) => file.end((error?: Error | null) => (error ? reject(error) : resolve())))
        renameSync(partial, out)
      },
      readerGone: () => false
    } satisfies Output
  })

const time = (flag: "from" | "to", description: string) => Flag.String(flag).pipe(Flag.withDescription(description))

export const exportCommand = Command.make(
  "export",
  {
    from: time("from", "Start of the range, inclusive, in event time: ISO-8601, now-2h, now-2h (or --from=-2h), or ms since the epoch"),
    to: time("to", "End of the range, exclusive (default now)").pipe(Flag.withDefault("now")),
    devices: Flag.String("devices").pipe(Flag.withAlias("d"), Flag.withDescription("Only these devices (comma-separated)"), Flag.optional),
    kind: Flag.Literals("kind", EXPORT_KINDS).pipe(Flag.withDescription("raw readings, window results or alarm events (default raw)"), Flag.withDefault("raw" as const)),
    window: Flag.String("window").pipe(Flag.withDescription("With --kind windows: only this window (e.g. 1m)"), Flag.optional),
    format: Flag.Literals("format", EXPORT_FORMATS).pipe(Flag.withDescription("csv (with a header) or ndjson (one JSON object per line; default csv)"), Flag.withDefault("csv" as const)),
    out: Flag.String("out").pipe(Flag.withAlias("o"), Flag.withDescription("The file to write (- for stdout); it appears only when complete")),
    slack: Flag.String("slack").pipe(
      Flag.withDescription(`How long after --to a reading may have arrived (stream time) and still be exported (default ${DEFAULT_SLACK})`),
      Flag.withDefault(DEFAULT_SLACK)
    ),
    strict: Flag.Boolean("strict").pipe(Flag.withDescription("Fail (exit 1, no file) when the log no longer holds the start of the range"), Flag.withDefault(false)),
    ...connectionFlags
  },
  (flags) =>
    Effect.scoped(Effect.gen(function*() {
      const now = Date.now()
      const from = parseTime(flags.from, now)
      if (Result.isFailure(from)) return yield* usage(`--from: ${from.failure}`)
      const to = parseTime(flags.to, now)
      if (Result.isFailure(to)) return yield* usage(`--to: ${to.failure}`)
      if (to.success <= from.success) {
        return yield* usage(`--to (${isoTime(to.success)}) must be after --from (${isoTime(from.success)})`)
      }
      const devices = Option.isSome(flags.devices)
        ? [...new Set(flags.devices.value.split(",").map((d) => d.trim()).filter((d) => d.length > 0))]
        : undefined
      const badDevice = devices?.find((d) => !Subjects.isToken(d))
      if (badDevice !== undefined) return yield* usage(`--devices: "${badDevice}" is not a device id (1-64 characters from A-Z a-z 0-9 _ -)`)
      if (devices !== undefined && devices.length === 0) return yield* usage("--devices: no device given")
      const window = Option.getOrUndefined(flags.window)
      if (window !== undefined && flags.kind !== "windows") return yield* usage("--window goes with --kind windows")
      if (window !== undefined && !Subjects.isToken(window)) return yield* usage(`--window: "${window}" is not a window name`)
      const slackMs = parseDuration(flags.slack)
      if (slackMs === undefined) return yield* usage(`--slack: "${flags.slack}" is not a duration (90s, 10m, 2h, 1d)`)

      const plan: ExportPlan = { kind: flags.kind, from: from.success, to: to.success, devices, window, slackMs }
      const stream = streamOf(plan.kind)
      // The admin (or read-only dashboard) login when the cluster file turns security on.
      const { nc, url } = yield* connectWith({ server: flags.server, config: flags.config, credentials: flags.credentials, user: flags.user })
      const head = yield* streamHead(nc, stream).pipe(
        Effect.catch((error) =>
          fail(1, `${error.message}\nIs ${url} a bramble node's NATS server? The first node creates the streams when it starts.`)
        )
      )
      const holdsFrom = missingBefore(head, plan.from, now)
      if (holdsFrom !== undefined) {
        const message = olderThanStreamMessage(plan, stream, holdsFrom, head.maxAgeMs, head.firstSeq - 1)
        if (flags.strict) return yield* fail(1, `error: ${message}\n--strict: nothing was written.`)
        yield* Console.error(`warning: ${message}\nExporting what the log holds (--strict makes this an error).`)
      }

      const output = yield* openOutput(flags.out)
      const encode = rowEncoder(plan.kind, flags.format)
      const bar = progressBar("export")
      const tty = process.stderr.isTTY === true
      yield* Effect.tryPromise(() => output.write(encode.header)).pipe(
        Effect.catch((error) => fail(1, `cannot write ${flags.out}: ${error.cause instanceof Error ? error.cause.message : String(error.cause)}`))
      )
      const report = yield* readExport(nc, plan, {
        emit: (rows: ReadonlyArray<Row>) => output.write(rows.map(encode.line).join("")),
        onProgress: (p) => bar.update(p.stage, p.read, p.total),
        estimateTotal: tty
      }).pipe(
        Effect.ensuring(Effect.sync(() => bar.done())),
        Effect.catch((error) =>
          output.readerGone()
            ? Effect.succeed(undefined)
            : fail(1, error._tag === "NatsError" ? `${error.message}\nIs the node at ${url} running? \`bramble status\` tells.` : error.message)
        )
      )
      // `bramble export --out - | head`: head has what it wanted.
      if (report === undefined) return
      yield* Effect.tryPromise(() => output.finish()).pipe(
        Effect.catch((error) => fail(1, `cannot write ${flags.out}: ${error.cause instanceof Error ? error.cause.message : String(error.cause)}`))
      )

      const range = `${TIME_COLUMN[plan.kind]} in [${isoTime(plan.from)}, ${isoTime(plan.to)})`
      const scope = devices === undefined ? "every device" : `${devices.length} device(s)`
      const summary = `exported ${report.rows} row${report.rows === 1 ? "" : "s"} (${formatBytes(output.bytes())}) to ${flags.out === "-" ? "stdout" : flags.out}: ` +
        `${WHAT[plan.kind]} of ${scope}${window === undefined ? "" : `, window ${window}`}, ${range}; ` +
        `read ${report.messages} messages from ${stream}` +
        (report.skipped > 0 ? `, ${report.skipped} unreadable (dead-lettered by the node) skipped` : "")
      yield* (flags.out === "-" ? Console.error(summary) : Console.log(summary))
      if (report.rows === 0) {
        yield* Console.error(
          `Nothing matched. The range is event time, ${range}; ${WHAT[plan.kind]} stored more than --slack ` +
            `(${formatDuration(slackMs)}) after --to are not read. \`bramble devices\` lists the devices.`
        )
      }
    }))
).pipe(
  Command.withDescription("Export a time range of readings, window results or alarms from the log as CSV or NDJSON (for pandas and notebooks)"),
  Command.withExamples([
    { command: "bramble export --from now-2h --out last2h.csv", description: "The last two hours of raw readings, every device" },
    {
      command: "bramble export --from 2026-11-20T00:00:00Z --to 2026-11-21T00:00:00Z --kind windows --window 1m --devices greenhouse-1,barn --format ndjson --out day.ndjson",
      description: "One day of 1-minute windows of two devices"
    },
    { command: "bramble export --from=-7d --kind alarms --out - | head", description: "A week of alarm events on stdout" }
  ])
)
