/**
 * A real InfluxDB 1.x (1.6.7 is what Debian ships, and 1.x is what runs on 32-bit Pis) on
 * loopback, for the storage actor's `/write` path. influxd needs a config file: every
 * directory goes under one home, both listeners (HTTP and the backup RPC service, which
 * defaults to `:8088` and would clash between instances) bind free loopback ports, and the
 * services a sink test does not use (usage reporting, `_internal` monitoring, UDP, Graphite,
 * collectd, OpenTSDB, subscriptions) are off.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { type Duration, Effect, type Scope } from "effect"
import { type ManagedProcess, makeManagedProcess, type RestartPolicy } from "../process/ManagedProcess.js"
import type { ProcessError } from "../process/ProcessError.js"
import { freePort } from "./freePort.js"
import { retryOnPortClash } from "../process/internal/portRetry.js"
import { expectStatus, httpRequest, parseJson } from "../process/internal/probe.js"
import { setupFiles } from "../process/internal/setupFiles.js"

/** What goes into an influxd 1.x config. */
export interface InfluxDb1ConfSpec {
  /** `meta/`, `data/` and `wal/` are created under it. */
  readonly dir: string
  /** e.g. `127.0.0.1:8086`. */
  readonly httpBindAddress: string
  /** The backup/restore RPC service, e.g. `127.0.0.1:8088`. */
  readonly rpcBindAddress: string
}

/** A TOML basic string (the JSON escapes are valid TOML escapes). */
const toml = (value: string): string => JSON.stringify(value)

/** Renders a minimal influxd 1.x config; everything not named keeps influxd's default. */
export const renderInfluxDb1Conf = (spec: InfluxDb1ConfSpec): string =>
  [
    "# influxd 1.x configuration rendered by Bramble (@bramble/deploy).",
    "# Upstream's key is reporting-disabled, Debian's patched build reads reporting-enabled;",
    "# each ignores the other's, so both are set.",
    "reporting-disabled = true",
    "reporting-enabled = false",
    `bind-address = ${toml(spec.rpcBindAddress)}`,
    "",
    "[meta]",
    `  dir = ${toml(join(spec.dir, "meta"))}`,
    "",
    "[data]",
    `  dir = ${toml(join(spec.dir, "data"))}`,
    `  wal-dir = ${toml(join(spec.dir, "wal"))}`,
    "  query-log-enabled = false",
    "",
    "[monitor]",
    "  store-enabled = false",
    "",
    "[subscriber]",
    "  enabled = false",
    "",
    "[http]",
    "  enabled = true",
    `  bind-address = ${toml(spec.httpBindAddress)}`,
    "  auth-enabled = false",
    "  log-enabled = true",
    "  suppress-write-log = true",
    "",
    "[logging]",
    "  suppress-logo = true",
    "",
    "[[graphite]]",
    "  enabled = false",
    "",
    "[[collectd]]",
    "  enabled = false",
    "",
    "[[opentsdb]]",
    "  enabled = false",
    "",
    "[[udp]]",
    "  enabled = false",
    ""
  ].join("\n")

export interface StartInfluxDb1Options {
  /** Home of the server: `influxdb.conf`, `influxd.log`, `meta/`, `data/`, `wal/` (created). */
  readonly dir: string
  /** Created once the server is up (`CREATE DATABASE` is idempotent). */
  readonly database: string
  /** HTTP port. Default: a free loopback port. */
  readonly port?: number
  readonly restartOnExit?: boolean | RestartPolicy
  /** Default 30 s. */
  readonly readyTimeout?: Duration.Input
  /** Default `influxd` on PATH. */
  readonly binary?: string
}

/** A running local InfluxDB 1.x with its database created. */
export interface LocalInfluxDb1 {
  /** `http://127.0.0.1:PORT`; write with `/write?db=…&precision=ms`. */
  readonly url: string
  readonly database: string
  readonly confPath: string
  readonly process: ManagedProcess
}

/** An InfluxQL identifier in double quotes. */
const quoteIdentifier = (name: string): string => `"${name.replace(/\\/g, "\\\\").replace(/"/g, "\\\"")}"`

/**
 * Starts influxd 1.x on free loopback ports, waits until `/ping` answers 204 and creates
 * `database`. Closing the scope stops it; `dir` is left in place.
 */
export const startInfluxDb1 = Effect.fn("LocalInfluxDb1.startInfluxDb1")(
  function*(options: StartInfluxDb1Options): Effect.fn.Return<LocalInfluxDb1, ProcessError, Scope.Scope> {
    const port = options.port ?? (yield* freePort)
    const rpcPort = yield* freePort
    const url = `http://127.0.0.1:${port}`
    const confPath = join(options.dir, "influxdb.conf")

    yield* setupFiles("influxd", () => {
      mkdirSync(options.dir, { recursive: true })
      writeFileSync(
        confPath,
        renderInfluxDb1Conf({
          dir: options.dir,
          httpBindAddress: `127.0.0.1:${port}`,
          rpcBindAddress: `127.0.0.1:${rpcPort}`
        })
      )
    })

    const probe = Effect.gen(function*() {
      yield* expectStatus(`${url}/ping`, yield* httpRequest(`${url}/ping`), 204)
      // Another influxd may hold the port: ours is the one started with our config file.
      const varsUrl = `${url}/debug/vars`
      const vars = (yield* parseJson(varsUrl, (yield* httpRequest(varsUrl)).body)) as { cmdline?: unknown } | null
      if (!Array.isArray(vars?.cmdline) || !vars.cmdline.includes(confPath)) {
        return yield* Effect.fail(new Error(`${url} is not the influxd started with ${confPath}`))
      }
      const queryUrl = `${url}/query`
      const created = yield* httpRequest(queryUrl, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ q: `CREATE DATABASE ${quoteIdentifier(options.database)}` }).toString()
      })
      yield* expectStatus(queryUrl, created, 200)
      if (created.body.includes("\"error\"")) {
        return yield* Effect.fail(new Error(`CREATE DATABASE ${options.database} failed: ${created.body}`))
      }
    })

    const managed = yield* makeManagedProcess({
      name: "influxd",
      command: options.binary ?? "influxd",
      args: ["run", "-config", confPath],
      logFile: join(options.dir, "influxd.log"),
      readiness: { probe, timeout: options.readyTimeout ?? "30 seconds" },
      restart: options.restartOnExit ?? false
    })

    return { url, database: options.database, confPath, process: managed }
  },
  // A server that lost a port race is started again from the top, with fresh ports.
  retryOnPortClash
)
