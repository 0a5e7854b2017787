/**
 * A real VictoriaMetrics on loopback: the light InfluxDB-line-protocol sink for tests, the
 * demo and benchmarks (it accepts `/write` and `/api/v2/write`).
 *
 * Two flags make it behave like the InfluxDB Bramble's exactly-once argument relies on
 * (docs/design.md, decision 4): `-dedup.minScrapeInterval=1ms` keeps one sample per series and
 * millisecond, so a replayed point overwrites instead of adding a duplicate (checked on
 * 1.79: without it `/api/v1/export` returns every copy); `-search.latencyOffset=0s` and
 * `-search.disableCache` make fresh and rewritten points visible to queries at once.
 * Ingested rows still sit in an in-memory buffer for about a second before they are
 * searchable; `forceFlush` empties it so tests need not wait.
 */
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { type Duration, Effect, type Scope } from "effect"
import { type ManagedProcess, makeManagedProcess, type RestartPolicy } from "../process/ManagedProcess.js"
import type { ProcessError } from "../process/ProcessError.js"
import { freePort } from "./freePort.js"
import { retryOnPortClash } from "../process/internal/portRetry.js"
import { setupFiles } from "../process/internal/setupFiles.js"
import { expectStatus, httpRequest } from "../process/internal/probe.js"

export interface StartVictoriaMetricsOptions {
  /** Home of the server: storage in `data/`, output in `victoria-metrics.log` (created). */
  readonly dir: string
  /** Default: a free loopback port. */
  readonly port?: number
  /** Bind address. Default 127.0.0.1; the multi-host tests bind their lab network's gateway,
   * which every host can reach, as Pis reach the LAN's database. */
  readonly host?: string
  /** Appended to the default flags (a later flag overrides an earlier one). */
  readonly extraArgs?: ReadonlyArray<string>
  readonly restartOnExit?: boolean | RestartPolicy
  /** Default 30 s. */
  readonly readyTimeout?: Duration.Input
  /** Default `victoria-metrics` on PATH. */
  readonly binary?: string
}

/** A running local VictoriaMetrics. */
export interface LocalVictoriaMetrics {
  /** `http://127.0.0.1:PORT`; InfluxDB writes go to `/write` or `/api/v2/write`. */
  readonly url: string
  /** The `-storageDataPath`. */
  readonly dataDir: string
  /** Makes every point written so far visible to queries (`/internal/force_flush`). */
  readonly forceFlush: Effect.Effect<void>
  readonly process: ManagedProcess
}

/**
 * Starts VictoriaMetrics on a free loopback port and waits until `/health` answers.
 * Closing the scope stops it; `dir` is left in place.
 */
export const startVictoriaMetrics = Effect.fn("LocalVictoriaMetrics.startVictoriaMetrics")(
  function*(options: StartVictoriaMetricsOptions): Effect.fn.Return<LocalVictoriaMetrics, ProcessError, Scope.Scope> {
    const port = options.port ?? (yield* freePort)
    const url = `http://${options.host ?? "127.0.0.1"}:${port}`
    const dataDir = join(options.dir, "data")
    yield* setupFiles("victoria-metrics", () => mkdirSync(options.dir, { recursive: true }))

    const probe = Effect.gen(function*() {
      yield* expectStatus(`${url}/health`, yield* httpRequest(`${url}/health`), 200)
      // Another process may hold the port: make sure the answer comes from our storage.
      const metrics = yield* httpRequest(`${url}/metrics`)
      const expected = `flag{name="storageDataPath", value="${dataDir}"`
      if (!metrics.body.includes(expected)) {
        return yield* Effect.fail(new Error(`${url} is not the VictoriaMetrics serving ${dataDir}`))
      }
    })

    const managed = yield* makeManagedProcess({
      name: "victoria-metrics",
      command: options.binary ?? "victoria-metrics",
      args: [
        `-httpListenAddr=${options.host ?? "127.0.0.1"}:${port}`,
        `-storageDataPath=${dataDir}`,
        "-retentionPeriod=100y",
        "-dedup.minScrapeInterval=1ms",
        "-search.latencyOffset=0s",
        "-search.disableCache",
        ...(options.extraArgs ?? [])
      ],
      logFile: join(options.dir, "victoria-metrics.log"),
      readiness: { probe, timeout: options.readyTimeout ?? "30 seconds" },
      restart: options.restartOnExit ?? false
    })

    const forceFlush = httpRequest(`${url}/internal/force_flush`).pipe(
      Effect.flatMap((response) => expectStatus(`${url}/internal/force_flush`, response, 200)),
      Effect.orDie
    )

    return { url, dataDir, forceFlush, process: managed }
  },
  // A server that lost a port race is started again from the top, with fresh ports.
  retryOnPortClash
)
