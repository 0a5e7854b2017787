/**
 * `bramble replay --config FILE --from T1 --to T2 [--devices a,b]`: recompute window results
 * for a past range from the log and overwrite them in the database (idempotent: same keys).
 */
import { windowPoint } from "@bramble/actor-storage"
import { loadClusterConfig } from "@bramble/config"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { makeSink } from "../node/Sink.js"
import { replay } from "../replay/Replay.js"
import { adminTarget, connectAdmin } from "./AdminConnection.js"
import { ExitCode } from "./ExitCode.js"
import { progressBar } from "./Progress.js"

const time = (flag: string) =>
  Flag.String(flag).pipe(Flag.withDescription(`${flag === "from" ? "Start" : "End"} of the range: ISO-8601 time or milliseconds since the epoch`))

const parseTime = (text: string): number | undefined => {
  const n = Number(text)
  const ms = Number.isFinite(n) ? n : Date.parse(text)
  return Number.isFinite(ms) ? ms : undefined
}

export const replayCommand = Command.make(
  "replay",
  {
    config: Flag.String("config").pipe(Flag.withAlias("c"), Flag.withDescription("Cluster file (for the windows, the sink and the servers)")),
    from: time("from"),
    to: time("to"),
    devices: Flag.String("devices").pipe(Flag.withDescription("Only these devices (comma-separated)"), Flag.optional),
    server: Flag.String("server").pipe(Flag.withDescription("NATS server to read the log from (default: the first node's)"), Flag.optional),
    dryRun: Flag.Boolean("dry-run").pipe(Flag.withDescription("Compute and count, write nothing"), Flag.withDefault(false))
  },
  ({ config, from, to, devices, server, dryRun }) =>
    Effect.scoped(Effect.gen(function*() {
      const loaded = yield* loadClusterConfig(config).pipe(
        Effect.catchTag("ConfigError", (error) => Console.error(error.message).pipe(Effect.andThen(ExitCode.fail(1))))
      )
      const start = parseTime(from)
      const end = parseTime(to)
      if (start === undefined || end === undefined || end <= start) {
        yield* Console.error(`--from and --to must be times (ISO-8601 or ms) with --from before --to; got ${from} and ${to}`)
        return yield* ExitCode.fail(2)
      }
      const c = loaded.config
      // The file's first node unless --server; as the admin on a secured cluster (reading the log is all it does there).
      const target = yield* adminTarget({ server, config: Option.some(config), credentials: Option.none(), user: Option.none() })
      const url = target.url
      const nc = yield* connectAdmin(url, { ...(target.login === undefined ? {} : { login: target.login }) })
      const bar = progressBar("replay")
      const results = yield* Effect.tryPromise(() =>
        replay(nc, {
          from: start,
          to: end,
          devices: Option.isSome(devices) ? new Set(devices.value.split(",").map((d) => d.trim())) : undefined,
          windows: c.windows,
          partitions: c.cluster.partitions,
          watermarkDelayMs: c.processing.watermarkDelay,
          allowedLatenessMs: c.processing.allowedLateness,
          decodeLimits: { maxPayloadBytes: c.processing.maxPayload, maxFutureSkewMs: 24 * 3600_000, maxClockAheadMs: c.processing.maxClockAhead }
        }, (p) => bar.update(`partition ${p.partition + 1}/${c.cluster.partitions}`, p.read, p.total))
      ).pipe(
        Effect.catch((error) =>
          Console.error(`replay failed while reading the log from ${url}: ${error.cause instanceof Error ? error.cause.message : String(error)}`).pipe(Effect.andThen(ExitCode.fail(1)))
        )
      )
      bar.done()
      if (!dryRun && results.length > 0) {
        const sink = yield* makeSink(c.sink)
        yield* sink.write(results.map(windowPoint))
      }
      yield* Console.log(`${dryRun ? "computed" : "wrote"} ${results.length} window results for ${new Date(start).toISOString()} .. ${new Date(end).toISOString()}`)
    }))
).pipe(
  Command.withDescription("Recompute window results for a past range from the log; they overwrite the stored ones"),
  Command.withExamples([
    { command: "bramble replay -c cluster.yaml --from 2026-11-20T00:00:00Z --to 2026-11-21T00:00:00Z", description: "Recompute a day" }
  ])
)
