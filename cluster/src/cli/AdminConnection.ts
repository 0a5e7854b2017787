/**
 * What the operator commands (`status`, `devices`, `device`, `alarms`, `tail`, `actors`,
 * `restart`, `members`, `partitions`) share: the flags, a connection to any node's NATS
 * server — logged in as the admin when the cluster file has a `security:` section — error
 * messages that say what to do, exit codes scripts can rely on, and `--watch`.
 *
 * On a secured cluster every connection needs a user and password (and the cluster's CA when
 * TLS is on). `--config FILE` (or `$BRAMBLE_CONFIG`, which the node's systemd unit sets too)
 * names the cluster file; the command then logs in as `admin` with the password in
 * `<security.credentials>/admin.password`, or as `--user` (e.g. `dashboard`, read-only).
 * `--credentials DIR` (or `$BRAMBLE_CREDENTIALS`) says where those files are on this machine
 * when it is not where the cluster file says.
 *
 * Exit codes: 0 success; 1 the request failed or nothing answered (the message on stderr
 * says why and what to try); 2 usage (an argument that cannot be right); 130 Ctrl-C.
 */
import { loadClusterConfig } from "@bramble/config"
import { type ClientCredentials, loadClientCredentials, natsUrlForNode, type Role, UserNames } from "@bramble/deploy"
import { Admin } from "@bramble/protocol"
import { Svcm } from "@nats-io/services"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { resolve } from "node:path"
import { Console, Effect, Option, Redacted, type Scope } from "effect"
import { Flag } from "effect/cli"
import type { AdminRequestFailed } from "../client/index.js"
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

/** How a query command shows its answer (a table or JSON, once or watched) and how long it
 * waits for it; spread into the command's flags, after `connectionFlags`. */
export const viewFlags = { json: jsonFlag, watch: watchFlag, interval: intervalFlag, timeout: timeoutFlag }

/** What `viewFlags` parse to. */
export interface ViewFlags {
  readonly json: boolean
  readonly watch: boolean
  readonly interval: number
  readonly timeout: number
}

export const configFlag = Flag.String("config").pipe(
  Flag.withAlias("c"),
  Flag.withDescription(
    "The cluster file (default: $BRAMBLE_CONFIG). On a secured cluster the command logs in with the credentials it names " +
      "(over TLS when it turns TLS on); without --server it asks the file's first node"
  ),
  Flag.optional
)
export const credentialsFlag = Flag.String("credentials").pipe(
  Flag.withDescription("Directory `bramble deploy creds` wrote, when not where the cluster file's security.credentials says (default: $BRAMBLE_CREDENTIALS)"),
  Flag.optional
)
export const userFlag = Flag.String("user").pipe(
  Flag.withDescription(`Log in to a secured cluster as this user: ${UserNames.admin} (default), ${UserNames.dashboard} (read-only queries), ${UserNames.node("<node>")}`),
  Flag.optional
)

/** Where and as whom a command connects; spread into a command's flags. */
export const connectionFlags = { server: serverFlag, config: configFlag, credentials: credentialsFlag, user: userFlag }

/** What `connectionFlags` parse to. */
export interface ConnectionFlags {
  readonly server: Option.Option<string>
  readonly config: Option.Option<string>
  readonly credentials: Option.Option<string>
  readonly user: Option.Option<string>
}

const fromEnv = (name: string): string | undefined => process.env[name]?.trim() || undefined

/** The server to use. */
export const serverUrl = (server: Option.Option<string>): string =>
  Option.getOrElse(server, () => fromEnv("BRAMBLE_NATS") ?? DEFAULT_SERVER)

/** The role a `--user` name stands for (the names `bramble deploy creds` made passwords for). */
export const roleOfUser = (user: string): Role | undefined => {
  if (user === UserNames.admin) return { kind: "admin" }
  if (user === UserNames.dashboard) return { kind: "dashboard" }
  const prefix = user.slice(0, user.indexOf(":") + 1)
  const name = user.slice(prefix.length)
  if (name === "") return undefined
  if (prefix === UserNames.node("")) return { kind: "node", node: name }
  if (prefix === UserNames.device("")) return { kind: "device", device: name, transport: "nats" }
  return undefined
}

/** A command's server and login: what `connectAdmin` needs. */
export interface AdminTarget {
  readonly url: string
  /** Undefined for a cluster without a `security:` section (or no cluster file). */
  readonly login?: ClientCredentials
}

/**
 * The server (`--server`, `$BRAMBLE_NATS`, the cluster file's first node, the default) and,
 * for a secured cluster file, the credentials of `--user` (default the admin). A file or
 * credential that cannot be read: exit 1 saying which and why.
 */
export const adminTarget = Effect.fn("AdminConnection.adminTarget")(function*(flags: ConnectionFlags): Effect.fn.Return<AdminTarget, CliFailure> {
  const file = Option.getOrUndefined(Option.orElse(flags.config, () => Option.fromNullishOr(fromEnv("BRAMBLE_CONFIG"))))
  const user = Option.getOrUndefined(flags.user)
  if (file === undefined) {
    if (user !== undefined || Option.isSome(flags.credentials)) {
      return yield* usage("--user and --credentials need the cluster file: --config FILE (or BRAMBLE_CONFIG)")
    }
    return { url: serverUrl(flags.server) }
  }
  const { config } = yield* loadClusterConfig(file).pipe(Effect.catchTag("ConfigError", (error) => fail(1, error.message)))
  const url = Option.getOrElse(flags.server, () => fromEnv("BRAMBLE_NATS") ?? natsUrlForNode(config, config.nodes[0]!.name))
  const security = config.security
  if (security === undefined) return { url }
  const role = roleOfUser(user ?? UserNames.admin)
  if (role === undefined) {
    return yield* usage(`--user ${user}: expected ${UserNames.admin}, ${UserNames.dashboard}, ${UserNames.node("<node>")} or ${UserNames.device("<id>")}`)
  }
  const dir = Option.getOrUndefined(Option.orElse(flags.credentials, () => Option.fromNullishOr(fromEnv("BRAMBLE_CREDENTIALS"))))
  const secured = dir === undefined ? config : { ...config, security: { ...security, credentials: resolve(dir) } }
  const login = yield* loadClientCredentials(secured, role).pipe(
    Effect.catchTag("SecurityError", (error) =>
      fail(1, `${error.message}\nThe cluster is secured: the command logs in with that file (--credentials DIR says where the credentials are, if not there).`))
  )
  return login === undefined ? { url } : { url, login }
})

/** Print `message` on stderr and finish with `code`. */
export const fail = (code: 1 | 2, message: string): Effect.Effect<never, CliFailure> =>
  Console.error(message).pipe(Effect.andThen(ExitCode.fail(code)))

/** A usage error (exit 2). */
export const usage = (message: string) => fail(2, `${message}\nRun with --help for usage.`)

/**
 * A connection to `server` for the command's scope, logged in as `login` when given.
 * Unreachable or refused: exit 1 with what to do. `persistent` connections (watch, tail)
 * reconnect after a node restart, and ping every 10 s, so one that stops hearing from the
 * server (a node that froze, or a message no client can parse — ../partition/Quarantine.ts)
 * reconnects within half a minute instead of nats.js' default of several minutes.
 */
export const connectAdmin = (
  server: string,
  options: { readonly persistent?: boolean; readonly timeoutMs?: number; readonly login?: ClientCredentials } = {}
): Effect.Effect<NatsConnection, CliFailure, Scope.Scope> => {
  const login = options.login
  return Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        connect({
          servers: server,
          name: "bramble-cli",
          timeout: options.timeoutMs ?? 5_000,
          ...(options.persistent === true ? { maxReconnectAttempts: -1, reconnectTimeWait: 1_000, pingInterval: 10_000, maxPingOut: 2 } : { reconnect: false }),
          ...(login === undefined
            ? {}
            : {
              user: login.user,
              pass: Redacted.value(login.pass),
              ...(login.tls === undefined ? {} : { tls: { caFile: login.tls.caFile } }),
              ...(login.inboxPrefix === undefined ? {} : { inboxPrefix: login.inboxPrefix })
            })
        }),
      catch: (error) => error
    }),
    (nc) => Effect.promise(() => nc.close().catch(() => undefined))
  ).pipe(
    Effect.catch((error) => {
      const text = error instanceof Error ? error.message : String(error)
      if (/authorization violation|authentication/i.test(text)) {
        return fail(
          1,
          `NATS at ${server} refused the login${login === undefined ? "" : ` of ${login.user}`} (${text}).\n` +
            (login === undefined
              ? "The cluster is secured: pass the cluster file with --config FILE (or set BRAMBLE_CONFIG), and the command logs in as the admin."
              : "Check that the password file is the one `bramble deploy creds` made for this cluster, and that the nodes have its nats-users.json.")
        )
      }
      if (/tls/i.test(text) && login?.tls === undefined) {
        return fail(1, `NATS at ${server} requires TLS (${text}).\nPass the cluster file with --config FILE (or set BRAMBLE_CONFIG): it names the cluster's CA.`)
      }
      return fail(
        1,
        `cannot reach NATS at ${server}: ${text}\n` +
          `Is a bramble node running there? Point at any node's NATS port with --server nats://HOST:PORT, or set BRAMBLE_NATS.`
      )
    })
  )
}

/** `adminTarget` then `connectAdmin`: the connection and the server it went to. */
export const connectWith = Effect.fn("AdminConnection.connectWith")(function*(
  flags: ConnectionFlags,
  options: { readonly persistent?: boolean; readonly timeoutMs?: number } = {}
): Effect.fn.Return<{ readonly nc: NatsConnection; readonly url: string }, CliFailure, Scope.Scope> {
  const target = yield* adminTarget(flags)
  const nc = yield* connectAdmin(target.url, { ...options, ...(target.login === undefined ? {} : { login: target.login }) })
  return { nc, url: target.url }
})

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
      case "Forming":
        return `${error.message}\nThe node answers once its cluster has formed; \`bramble status\` shows every node.`
    }
  }
  switch (error.reason) {
    case "NoResponders":
      return `no bramble node answers on ${server} (${error.message}).\n` +
        `Start one (bramble node --config cluster.yaml) or point --server at a node's NATS port.`
    case "Timeout":
      return `${error.message}.\nThe node may be overloaded or restarting: try again, or allow longer with --timeout.`
    case "BadReply":
      return error.message
    case "Connection":
      return /permissions violation/i.test(error.message)
        ? `${error.message}\nThis user may not make that request: log in as the admin (--config FILE, without --user).`
        : error.message
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

/**
 * A query command's body: connects as `flags` say (a connection that outlives a restarting
 * server with `--watch`) and shows what `fetch` answers — within `--timeout`, once or every
 * `--interval` seconds (`showOrWatch`).
 */
export const showQuery = <A>(
  flags: ConnectionFlags & ViewFlags,
  title: string,
  fetch: (nc: NatsConnection, timeoutMs: number, url: string) => Effect.Effect<A, Admin.AdminError | AdminRequestFailed | CliFailure>,
  render: (value: A) => string
): Effect.Effect<void, CliFailure> =>
  Effect.scoped(Effect.gen(function*() {
    const { server, config, credentials, user, json, watch, interval, timeout } = flags
    const { nc, url } = yield* connectWith({ server, config, credentials, user }, { persistent: watch })
    yield* showOrWatch({ watch, interval, json, title, server: url, fetch: fetch(nc, timeout * 1000, url), render })
  }))
