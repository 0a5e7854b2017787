/**
 * What the operator commands (`status`, `devices`, `device`, `alarms`, `tail`, `actors`,
 * `restart`) share: the flags, a connection to any node's NATS server, error messages that
 * say what to do, exit codes scripts can rely on, and `--watch`.
 *
 * Exit codes: 0 success; 1 the request failed or nothing answered (the message on stderr
 * says why and what to try); 2 usage (an argument that cannot be right); 130 Ctrl-C.
 */
import { Admin } from "@bramble/protocol"
import { Svcm } from "@nats-io/services"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Console, Effect, Option, type Scope } from "effect"
import { Flag } from "effect/cli"
import type { AdminRequestFailed } from "../admin/AdminClient.js"
import { type CliFailure, ExitCode } from "./ExitCode.js"
import { clock, dim } from "./Table.js"

/** Where the commands connect when neither `--server` nor `BRAMBLE_NATS` says. */
export const DEFAULT_SERVER = "nats://127.0.0.1:4222"

export const serverFlag = Flag.String("server").pipe(
  Flag.withAlias("s"),
  Flag.withDescription(`NATS URL of any node (default: $BRAMBLE_NATS, else ${DEFAULT_SERVER})`),
  Flag.optional
)
export const jsonFlag = Flag.Boolean("json").pipe(Flag.withDescription("Print JSON for scripts instead of a table"), Flag.withDefault(false))
export const watchFlag = Flag.Boolean("watch").pipe(Flag.withAlias("w"), Flag.withDescription("Refresh until Ctrl-C"), Flag.withDefault(false))
export const intervalFlag = Flag.Int("interval").pipe(Flag.withDescription("Seconds between refreshes with --watch"), Flag.withDefault(2))
export const timeoutFlag = Flag.Int("timeout").pipe(Flag.withDescription("Seconds to wait for an answer"), Flag.withDefault(5))

/** The server to use. */
export const serverUrl = (server: Option.Option<string>): string =>
  Option.getOrElse(server, () => process.env["BRAMBLE_NATS"]?.trim() || DEFAULT_SERVER)

/** Print `message` on stderr and finish with `code`. */
export const fail = (code: 1 | 2, message: string): Effect.Effect<never, CliFailure> =>
  Console.error(message).pipe(Effect.andThen(ExitCode.fail(code)))

/** A usage error (exit 2). */
export const usage = (message: string) => fail(2, `${message}\nRun with --help for usage.`)

/**
 * A connection to `server` for the command's scope. Unreachable: exit 1 with what to do.
 * `persistent` connections (watch, tail) reconnect after a node restart.
 */
export const connectAdmin = (server: string, options: { readonly persistent?: boolean; readonly timeoutMs?: number } = {}): Effect.Effect<NatsConnection, CliFailure, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        connect({
          servers: server,
          name: "bramble-cli",
          timeout: options.timeoutMs ?? 5_000,
          ...(options.persistent === true ? { maxReconnectAttempts: -1, reconnectTimeWait: 1_000 } : { reconnect: false })
        }),
      catch: (error) => error
    }),
    (nc) => Effect.promise(() => nc.close().catch(() => undefined))
  ).pipe(
    Effect.catch((error) =>
      fail(
        1,
        `cannot reach NATS at ${server}: ${error instanceof Error ? error.message : String(error)}\n` +
          `Is a bramble node running there? Point at any node's NATS port with --server nats://HOST:PORT, or set BRAMBLE_NATS.`
      )
    )
  )

/** The message for a failed admin call, with what to do about it. */
export const explain = (error: Admin.AdminError | AdminRequestFailed, server: string): string => {
  if (error._tag === "AdminError") {
    switch (error.reason) {
      case "NotFound":
        return error.message
      case "BadRequest":
        return `the node refused the request: ${error.message}`
      case "NotOwner":
      case "Unavailable":
        return `${error.message}\nTry again in a few seconds; \`bramble status\` shows whether every node is healthy.`
      case "Internal":
        return `${error.message}\nThe node's log (journalctl -u bramble, or its stdout) has the details.`
    }
  }
  switch (error.reason) {
    case "NoResponders":
      return `no bramble node answers on ${server} (${error.message}).\n` +
        `Start one (bramble node --config cluster.yaml) or point --server at a node's NATS port.`
    case "Timeout":
      return `${error.message}.\nThe node may be overloaded or restarting: try again, or allow longer with --timeout.`
    case "BadReply":
    case "Connection":
      return error.message
  }
}

/** Run an admin call; a failure is explained on stderr and ends the command with exit 1. */
export const orExplain = (server: string) => <A>(effect: Effect.Effect<A, Admin.AdminError | AdminRequestFailed>): Effect.Effect<A, CliFailure> =>
  Effect.catch(effect, (error) => fail(1, explain(error, server)))

/** The nodes that registered the `bramble` micro-service, by node name (sorted). */
export const discoverNodes = (nc: NatsConnection, timeoutMs: number): Effect.Effect<ReadonlyArray<string>> =>
  Effect.promise(async () => {
    const names = new Set<string>()
    try {
      const pings = await new Svcm(nc as never).client({ strategy: "stall", maxWait: timeoutMs }).ping(Admin.ADMIN_SERVICE)
      for await (const ping of pings) {
        const node = ping.metadata?.["node"]
        if (node !== undefined) names.add(node)
      }
    } catch {
      // no responders: no node
    }
    return [...names].sort()
  })

/**
 * Render once, or with `watch` again every `interval` seconds until Ctrl-C. Once: a failure
 * ends the command (exit 1). Watching: a failure is shown and the next refresh tries again.
 */
export const showOrWatch = <A>(options: {
  readonly watch: boolean
  readonly interval: number
  readonly json: boolean
  readonly title: string
  readonly fetch: Effect.Effect<A, Admin.AdminError | AdminRequestFailed | CliFailure>
  readonly render: (value: A) => string
  readonly server: string
}): Effect.Effect<void, CliFailure> => {
  const { json, render } = options
  const print = (value: A) => Console.log(json ? JSON.stringify(value, null, options.watch ? 0 : 2) : render(value))
  if (!options.watch) {
    return options.fetch.pipe(
      Effect.catch((error) => error._tag === "CliFailure" ? Effect.fail(error) : fail(1, explain(error, options.server))),
      Effect.flatMap(print)
    )
  }
  const tty = process.stdout.isTTY === true && !json
  const once = Effect.gen(function*() {
    const result = yield* Effect.result(options.fetch)
    const header = dim(`${options.title} — every ${options.interval}s, ${clock(Date.now())} (Ctrl-C to stop)`)
    if (tty) yield* Console.log("\x1b[2J\x1b[H" + header)
    if (result._tag === "Success") yield* print(result.success)
    else if (result.failure._tag === "CliFailure") return yield* Effect.fail(result.failure)
    else yield* (json ? Console.log(JSON.stringify({ error: explain(result.failure, options.server) })) : Console.error(explain(result.failure, options.server)))
    if (!tty && !json) yield* Console.log("")
  })
  return Effect.forever(Effect.andThen(once, Effect.sleep(`${Math.max(1, options.interval)} seconds`)))
}
