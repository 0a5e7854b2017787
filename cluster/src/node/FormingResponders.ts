/**
 * What a node answers while its cluster forms (./Formation.ts): before JetStream works there
 * are no leases, members or partitions to show, but an operator must still see that the node
 * is up and what it waits for — not a silence that looks like a dead Pi.
 *
 * - NATS: the admin micro-service `bramble` with one endpoint, `bramble.admin.<node>.status`,
 *   which answers an `AdminError` with reason `Forming` and what the node waits for (so
 *   `bramble status` lists the node as `forming`).
 * - HTTP on the node's port: `/metrics` with `bramble_node_forming 1` and how long it has
 *   waited; any other path a 503 saying what the node waits for.
 *
 * Both stop (the scope closes) before the real admin actor and HTTP server start on the
 * same subjects and port.
 */
import { NatsClient, type NatsError } from "@bramble/nats"
import { Admin } from "@bramble/protocol"
import { Effect, Schema, type Scope } from "effect"
import { addAdminMicroService } from "../admin/AdminService.js"
import { serveHttp } from "../http/HttpServer.js"
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "../metrics/Prometheus.js"
import type { Formation } from "./Formation.js"

export interface FormingRespondersOptions {
  readonly node: string
  readonly formation: Formation
  /** Where the node's HTTP server will listen; port 0 = no HTTP server. */
  readonly http: { readonly host: string; readonly port: number }
}

const encodeError = Schema.encodeSync(Admin.AdminError)

const formingError = (options: FormingRespondersOptions) =>
  new Admin.AdminError({
    reason: "Forming",
    message: `${options.node} is waiting for the cluster to form (${Math.round((Date.now() - options.formation.since) / 1000)} s): ${options.formation.waitingFor() ?? "starting"}`
  })

/** The forming node's metrics: the same names the running node uses where they apply. */
export const formingMetrics = (options: FormingRespondersOptions): string =>
  renderPrometheus([
    { name: "bramble_node_forming", help: "1 while the node waits for its cluster to form (no JetStream quorum yet)", type: "gauge", samples: [{ labels: { node: options.node }, value: 1 }] },
    {
      name: "bramble_node_forming_seconds",
      help: "How long the node has been waiting for its cluster to form",
      type: "gauge",
      samples: [{ labels: { node: options.node }, value: Math.round((Date.now() - options.formation.since) / 1000) }]
    }
  ])

/** Answer status and `/metrics` as a forming node until the scope closes. */
export const serveFormingResponders = Effect.fn("FormingResponders.serveFormingResponders")(function*(options: FormingRespondersOptions): Effect.fn.Return<void, NatsError, NatsClient | Scope.Scope> {
  const { nc } = yield* NatsClient
  const service = yield* addAdminMicroService(nc, `Bramble node ${options.node}, waiting for its cluster to form`, { node: options.node, forming: "true" })
  service.addGroup(`${Admin.ADMIN_PREFIX}.${options.node}`).addEndpoint(Admin.AdminCalls.status.name, {
    handler: (error, msg) => {
      if (error !== null) return
      const e = formingError(options)
      msg.respondError(Admin.adminErrorCode(e.reason), e.message.slice(0, 200), JSON.stringify(encodeError(e)))
    },
    metadata: { scope: "node" }
  })
  if (options.http.port !== 0) {
    // A taken port is the real server's problem to report; forming, the node just goes on.
    yield* Effect.ignore(serveHttp({
      host: options.http.host,
      port: options.http.port,
      handle: (_request, response, url) => {
        if (url.pathname === "/metrics") {
          response.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE }).end(formingMetrics(options))
          return
        }
        response.writeHead(503, { "content-type": "text/plain; charset=utf-8", "retry-after": "5" }).end(`${formingError(options).message}\n`)
      }
    }))
  }
})
