/**
 * Every node's HTTP server:
 *
 *   GET /                  the live dashboard (DashboardPage)
 *   GET /events            Server-Sent Events: readings, windows, alarms, cluster (LiveFeed)
 *   GET /api/v1/…          the documented, versioned JSON API for scripts (HttpApi)
 *
 * The page's own endpoints (kept as they are; scripts should use /api/v1):
 *   GET /api/status        this node's status (the admin `status` reply)
 *   GET /api/cluster       members, their health, and the partition map
 *   GET /api/devices       every device with its latest reading
 *   GET /api/device/<id>   one device (answered by its partition's owner, from any node)
 *   GET /api/alarms        the latest event of every alarm rule
 *   GET /api/history?minutes=15&limit=20000   recent readings from the log
 *   GET /metrics           Prometheus text format
 *   GET /healthz           200 while the node runs
 *   GET /assets/…          the page's script and stylesheet, and uPlot (./dashboard/Assets.ts)
 *
 *   POST /write, POST /api/v2/write, GET /ping   the InfluxDB-compatible write endpoint
 *                          (../ingest/WriteEndpoint.ts)
 *
 * Read-only otherwise: nothing else here changes the node (restarts and config go through
 * the admin protocol, which NATS permissions can restrict).
 */
import { Admin, Subjects } from "@bramble/protocol"
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect, FiberSet, type Scope } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { AdminService } from "../admin/AdminService.js"
import { peekStream } from "../admin/StreamPeek.js"
import { callCluster } from "../client/AdminClient.js"
import { storedReadings } from "../client/StoredReading.js"
import { nodeMetrics, processMetrics } from "../metrics/NodeMetrics.js"
import { type Histogram, PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "../metrics/Prometheus.js"
import { API_PREFIX, makeHttpApi } from "./api/HttpApi.js"
import { readAsset } from "./dashboard/Assets.js"
import { clusterOverview } from "./dashboard/ClusterOverview.js"
import { dashboardPage } from "./dashboard/DashboardPage.js"
import { type HttpServerError, type RunningHttpServer, sendJson, sendText, serveHttp } from "./HttpServer.js"
import { type LiveReading, makeLiveFeed } from "./dashboard/LiveFeed.js"

export interface NodeHttpOptions {
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  readonly cluster: string
  readonly admin: AdminService
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  /** Database write latency, when the storage stats are instrumented. */
  readonly writeLatency?: Histogram
  /** The InfluxDB-compatible write endpoint: handles its paths, false for any other. */
  readonly write?: (request: IncomingMessage, response: ServerResponse, url: URL) => boolean
  /** How long another node may take to answer a forwarded API query (default 5 s). */
  readonly forwardTimeoutMs?: number
}

/** History the dashboard asks for at most. */
const MAX_HISTORY = 50_000

/** Serve the node's HTTP endpoints until the scope closes. */
export const serveNodeHttp = Effect.fn("NodeHttp.serveNodeHttp")(function*(options: NodeHttpOptions): Effect.fn.Return<RunningHttpServer, HttpServerError, Scope.Scope> {
  const { admin, nc, js, jsm } = options
  const run = yield* FiberSet.makeRuntimePromise<never, unknown, unknown>()
  const overview = clusterOverview({ cluster: options.cluster, nc, view: admin.view, selfStatus: admin.status })
  const feed = makeLiveFeed({ nc, overview: () => run(overview) })
  yield* Effect.addFinalizer(() => Effect.sync(() => feed.close()))
  const page = dashboardPage({ cluster: options.cluster, node: admin.view.self })
  const api = makeHttpApi({
    cluster: options.cluster,
    admin,
    nc,
    js,
    jsm,
    overview,
    ...(options.forwardTimeoutMs === undefined ? {} : { forwardTimeoutMs: options.forwardTimeoutMs })
  })

  const metrics = Effect.gen(function*() {
    const [status, actors] = yield* Effect.all([admin.status, admin.registry.list])
    return renderPrometheus([...nodeMetrics({ status, actors, writeLatency: options.writeLatency }), ...processMetrics()])
  })

  const history = (minutes: number, limit: number) =>
    peekStream(js, jsm, {
      stream: Subjects.Streams.readings,
      filter: Subjects.READINGS_SUBJECTS[0]!,
      start: { kind: "since", time: Date.now() - minutes * 60_000 },
      limit,
      newest: true,
      timeoutMs: 10_000
    }).pipe(
      Effect.map((messages) => ({
        readings: messages.flatMap((m): Array<LiveReading> => {
          const where = Subjects.parseReadingsSubject(m.subject)
          return where === undefined
            ? []
            : storedReadings(m).map((reading) => ({ device: where.device, sensor: where.sensor, partition: where.partition, ts: reading.ts, values: reading.values }))
        })
      }))
    )

  /** Answer with the effect's value as JSON; 404/409/503 for admin errors. */
  const json = (response: ServerResponse, effect: Effect.Effect<unknown, unknown>) => {
    run(effect).then(
      (body) => sendJson(response, 200, body),
      (error: unknown) => {
        const e = error as { _tag?: string; reason?: string; message?: string }
        const status = e._tag === "AdminError" ? Admin.adminErrorCode(e.reason as Admin.AdminErrorReason) : 503
        sendJson(response, status, { error: e.message ?? String(error), ...(e.reason === undefined ? {} : { reason: e.reason }) })
      }
    )
  }

  const intParam = (url: URL, name: string, fallback: number, max: number) => {
    const value = Number(url.searchParams.get(name) ?? fallback)
    return Number.isFinite(value) && value > 0 ? Math.min(Math.floor(value), max) : fallback
  }

  const server = yield* serveHttp({
    host: options.host,
    port: options.port,
    handle: (request, response, url) => {
      const path = url.pathname
      if (options.write?.(request, response, url) === true) return
      if (path === API_PREFIX || path.startsWith(`${API_PREFIX}/`)) {
        run(api(request.method ?? "GET", url)).then(
          (answer) => sendJson(response, answer.status, answer.body, answer.headers),
          (error: unknown) => sendJson(response, 500, { error: { code: "Internal", message: String(error) } })
        )
        return
      }
      if (request.method !== "GET" && request.method !== "HEAD") {
        response.writeHead(405, { allow: "GET, HEAD" }).end()
        return
      }
      if (path === "/" || path === "/index.html") return sendText(response, 200, "text/html; charset=utf-8", page)
      if (path === "/events") return feed.attach(response)
      if (path === "/healthz") return sendText(response, 200, "text/plain", "ok\n")
      if (path === "/metrics") {
        run(metrics).then(
          (text) => sendText(response, 200, PROMETHEUS_CONTENT_TYPE, text as string),
          (error: unknown) => sendText(response, 500, "text/plain", `metrics failed: ${String(error)}\n`)
        )
        return
      }
      if (path === "/api/status") return json(response, admin.status)
      if (path === "/api/cluster") return json(response, overview)
      if (path === "/api/devices") return json(response, admin.queries.devices)
      if (path === "/api/alarms") return json(response, admin.queries.alarms({}))
      if (path === "/api/history") {
        return json(response, history(intParam(url, "minutes", 15, 24 * 60), intParam(url, "limit", 20_000, MAX_HISTORY)))
      }
      if (path.startsWith("/api/device/")) {
        const device = decodeURIComponent(path.slice("/api/device/".length))
        if (!Subjects.isToken(device)) return sendJson(response, 400, { error: `"${device}" is not a device id`, reason: "BadRequest" })
        return json(response, callCluster(nc, Admin.AdminCalls.device, { device }))
      }
      if (path.startsWith("/assets/")) {
        const asset = readAsset(path)
        if (asset instanceof Error) return sendText(response, 500, "text/plain", `${asset.message}\n`)
        if (asset !== undefined) return sendText(response, 200, asset.type, asset.body, asset.cacheControl)
      }
      sendText(response, 404, "text/plain", `not found: ${path}\n`)
    }
  })
  return server
})
