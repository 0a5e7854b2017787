/**
 * The read-only JSON API, version 1, served by every node under `/api/v1` (docs/http-api.md).
 * It mirrors the admin queries for scripts, notebooks and other systems that speak HTTP
 * rather than NATS:
 *
 *   GET /api/v1                                   this list of routes
 *   GET /api/v1/status                            the cluster: members, partitions, this node
 *   GET /api/v1/nodes/<name>                      one node's status (asked over NATS if not this one)
 *   GET /api/v1/devices                           every device with its latest reading
 *   GET /api/v1/devices/<id>                      one device (answered by its partition's owner)
 *   GET /api/v1/devices/<id>/windows?window=&sensor=&metric=&limit=   its latest closed windows
 *   GET /api/v1/alarms?device=&all=               raised alarms (every rule's latest event with all=true)
 *
 * The paths and bodies are a contract: new fields may appear, none change meaning or go
 * away within v1. Errors are `{"error": {"code", "message"}}` with a status that says what
 * to do (ApiError). Ids in paths are URL-decoded per segment, then checked with the
 * protocol's id rules, so `%2F` or `.` can never reach a subject.
 */
import { Admin, Subjects, type WindowResult } from "@bramble/protocol"
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import { Cause, Effect } from "effect"
import type { AdminService } from "../../admin/AdminService.js"
import { peekStream } from "../../admin/StreamPeek.js"
import { callNode } from "../../client/AdminClient.js"
import type { ClusterOverview } from "../dashboard/ClusterOverview.js"
import {
  ApiError,
  badRequest,
  errorBody,
  fromAdminError,
  fromNatsError,
  fromRequestFailed,
  notFound,
  RETRY_AFTER_SECONDS,
  unavailable
} from "./ApiError.js"
import { recentWindows, windowSeries } from "./LatestWindows.js"

/** Where the API is mounted. */
export const API_PREFIX = "/api/v1"

/** Results `/windows` returns unless `limit` says otherwise, and at most. */
export const DEFAULT_WINDOW_LIMIT = 100
export const MAX_WINDOW_LIMIT = 10_000

export interface HttpApiOptions {
  readonly cluster: string
  readonly admin: AdminService
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  /** The dashboard's cluster overview (every member asked for its health). */
  readonly overview: Effect.Effect<ClusterOverview>
  /** How long another node may take to answer a device or status query (default 5 s). */
  readonly forwardTimeoutMs?: number
}

/** What to send back. */
export interface ApiResponse {
  readonly status: number
  readonly body: unknown
  readonly headers: Readonly<Record<string, string>>
}

/** One route, as `GET /api/v1` lists it. */
export interface RouteInfo {
  readonly path: string
  readonly description: string
  readonly params?: Readonly<Record<string, string>>
}

export const ROUTES: ReadonlyArray<RouteInfo> = [
  { path: "/api/v1/status", description: "The cluster: members with their health, partition owners, and the status of the node that answered" },
  { path: "/api/v1/nodes/<name>", description: "One node's status (counters, partitions, storage, rates)" },
  { path: "/api/v1/devices", description: "Every device (and sensor) with readings in the log, its partition, owner and latest reading" },
  { path: "/api/v1/devices/<id>", description: "One device: latest reading of each sensor, open and recent windows, raised alarms, forecasts" },
  {
    path: "/api/v1/devices/<id>/windows",
    description: "The device's latest closed window results, newest first",
    params: {
      window: "only this window name (e.g. 1m)",
      sensor: "only this sensor",
      metric: "only this metric",
      limit: `at most this many results, 1-${MAX_WINDOW_LIMIT} (default ${DEFAULT_WINDOW_LIMIT})`
    }
  },
  {
    path: "/api/v1/alarms",
    description: "The alarms raised now, from the ALARMS stream",
    params: { device: "only this device", all: "true: every rule's latest event, cleared ones too (default false)" }
  }
]

const ID_RULE = "1-64 characters from A-Z a-z 0-9 _ -"

const ok = (body: unknown): ApiResponse => ({ status: 200, body, headers: {} })

const failure = (error: ApiError): ApiResponse => ({
  status: error.status,
  body: errorBody(error),
  headers: error.code === "Unavailable"
    ? { "retry-after": String(RETRY_AFTER_SECONDS) }
    : error.code === "MethodNotAllowed"
    ? { allow: "GET, HEAD" }
    : {}
})

/** Decode one path segment and check it is an id (device, node). */
const pathId = (segment: string, what: string): Effect.Effect<string, ApiError> => {
  let id: string
  try {
    id = decodeURIComponent(segment)
  } catch {
    return Effect.fail(badRequest(`the ${what} "${segment}" is not valid URL encoding`))
  }
  return Subjects.isToken(id)
    ? Effect.succeed(id)
    : Effect.fail(badRequest(`${JSON.stringify(id)} is not a ${what}: ${what}s are ${ID_RULE}`))
}

/** The query parameters of a route: unknown or repeated ones are refused, naming what is allowed. */
const queryOf = (url: URL, allowed: ReadonlyArray<string>): Effect.Effect<ReadonlyMap<string, string>, ApiError> => {
  const out = new Map<string, string>()
  for (const [name, value] of url.searchParams) {
    if (!allowed.includes(name)) {
      return Effect.fail(
        badRequest(
          allowed.length === 0
            ? `unknown query parameter "${name}": this route takes none`
            : `unknown query parameter "${name}": allowed are ${allowed.join(", ")}`,
          name
        )
      )
    }
    if (out.has(name)) return Effect.fail(badRequest(`query parameter "${name}" is given more than once`, name))
    out.set(name, value)
  }
  return Effect.succeed(out)
}

const tokenParam = (query: ReadonlyMap<string, string>, name: string): Effect.Effect<string | undefined, ApiError> => {
  const value = query.get(name)
  if (value === undefined) return Effect.succeed(undefined)
  return Subjects.isToken(value)
    ? Effect.succeed(value)
    : Effect.fail(badRequest(`${name}=${JSON.stringify(value)} is not a ${name} name: names are ${ID_RULE}`, name))
}

const limitParam = (query: ReadonlyMap<string, string>): Effect.Effect<number, ApiError> => {
  const text = query.get("limit")
  if (text === undefined) return Effect.succeed(DEFAULT_WINDOW_LIMIT)
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN
  return Number.isInteger(n) && n >= 1 && n <= MAX_WINDOW_LIMIT
    ? Effect.succeed(n)
    : Effect.fail(badRequest(`limit=${JSON.stringify(text)}: limit is a whole number from 1 to ${MAX_WINDOW_LIMIT}`, "limit"))
}

const boolParam = (query: ReadonlyMap<string, string>, name: string): Effect.Effect<boolean, ApiError> => {
  const text = query.get(name)
  if (text === undefined || text === "false") return Effect.succeed(false)
  if (text === "true") return Effect.succeed(true)
  return Effect.fail(badRequest(`${name}=${JSON.stringify(text)}: ${name} is true or false`, name))
}

/** A parameter naming one of `known` (what the device has); the error lists them. */
const oneOf = (value: string | undefined, name: string, known: ReadonlyArray<string>, device: string): Effect.Effect<void, ApiError> =>
  value === undefined || known.includes(value)
    ? Effect.void
    : Effect.fail(badRequest(`${name}=${value}: ${device} has no window results for that ${name}; it has ${known.join(", ")}`, name))

const distinct = (values: ReadonlyArray<string>) => [...new Set(values)].sort()

/** The API as a function of a request: always answers (a defect becomes a 500). */
export const makeHttpApi = (options: HttpApiOptions) => {
  const { admin, nc, js, jsm } = options
  const { view, queries } = admin
  const forwardTimeoutMs = options.forwardTimeoutMs ?? 5_000

  const status = Effect.gen(function*() {
    const [overview, self] = yield* Effect.all([options.overview, admin.status], { concurrency: 2 })
    return {
      cluster: options.cluster,
      answeredBy: view.self,
      at: overview.at,
      members: overview.members.map(({ status: _status, ...member }) => member),
      partitions: {
        count: overview.partitions,
        owners: overview.owners,
        unowned: overview.owners.filter((o) => o.owner === null).map((o) => o.partition)
      },
      node: self
    }
  })

  const nodeStatus = (name: string) =>
    Effect.gen(function*() {
      if (name === view.self) return yield* admin.status
      const members = yield* view.members
      const member = members.find((m) => m.node === name)
      if (member === undefined) {
        return yield* Effect.fail(notFound(`no node "${name}" in cluster ${options.cluster}; its members are ${members.map((m) => m.node).join(", ")}`))
      }
      return yield* callNode(nc, name, Admin.AdminCalls.status, {}, forwardTimeoutMs).pipe(
        Effect.mapError((e) =>
          e._tag === "AdminError"
            ? fromAdminError(e)
            : e.reason === "BadReply"
            ? fromRequestFailed(e)
            : unavailable(`node ${name} (${member.state}) did not answer: ${e.message}`)
        )
      )
    })

  /** The owner answers (it holds the open windows); this node forwards when it is not it. */
  const deviceState = (device: string) =>
    Effect.gen(function*() {
      const partition = Subjects.partitionOfDevice(device, view.partitions)
      if (view.owns(partition)) return yield* Effect.mapError(queries.device(device), fromAdminError)
      const owner = yield* view.ownerOf(partition)
      if (owner === undefined || owner === view.self) {
        return yield* Effect.fail(unavailable(`partition ${partition} of ${device} has no owner right now (rebalancing); try again in a few seconds`))
      }
      return yield* callNode(nc, owner, Admin.AdminCalls.device, { device }, forwardTimeoutMs).pipe(
        Effect.mapError((e) =>
          e._tag === "AdminError"
            ? fromAdminError(e)
            : e.reason === "BadReply"
            ? fromRequestFailed(e)
            : unavailable(`${device} is in partition ${partition}, owned by ${owner}, which did not answer: ${e.message}`)
        )
      )
    })

  /** Whether the log has any reading of `device` (any node can tell). */
  const hasReadings = (device: string) =>
    peekStream(js, jsm, { stream: Subjects.Streams.readings, filter: Subjects.deviceReadingsFilter(device), start: { kind: "lastPerSubject" }, limit: 1 }).pipe(
      Effect.map((messages) => messages.length > 0),
      Effect.mapError(fromNatsError)
    )

  const windows = (device: string, url: URL) =>
    Effect.gen(function*() {
      const query = yield* queryOf(url, ["window", "sensor", "metric", "limit"])
      const window = yield* tokenParam(query, "window")
      const sensor = yield* tokenParam(query, "sensor")
      const metric = yield* tokenParam(query, "metric")
      const limit = yield* limitParam(query)
      const series = yield* Effect.mapError(windowSeries(js, jsm, device), fromNatsError)
      if (series.length === 0) {
        if (!(yield* hasReadings(device))) return yield* Effect.fail(notFound(`no device "${device}": the log has no readings of it; see /api/v1/devices`))
        return { device, windows: [] as ReadonlyArray<WindowResult> }
      }
      yield* oneOf(window, "window", distinct(series.map((r) => r.window)), device)
      yield* oneOf(sensor, "sensor", distinct(series.map((r) => r.sensor)), device)
      yield* oneOf(metric, "metric", distinct(series.map((r) => r.metric)), device)
      const results = yield* Effect.mapError(recentWindows(js, jsm, { device, window, sensor, metric, limit }, series), fromNatsError)
      return { device, windows: results }
    })

  const alarms = (url: URL) =>
    Effect.gen(function*() {
      const query = yield* queryOf(url, ["device", "all"])
      const device = yield* tokenParam(query, "device")
      const all = yield* boolParam(query, "all")
      return yield* Effect.mapError(queries.alarms({ ...(device === undefined ? {} : { device }), all }), fromAdminError)
    })

  const noParams = (url: URL) => queryOf(url, [])

  const route = (url: URL): Effect.Effect<unknown, ApiError> => {
    const rest = url.pathname.slice(API_PREFIX.length).split("/").filter((s, i, all) => !(s === "" && (i === 0 || i === all.length - 1)))
    const [head, id, sub, ...more] = rest
    if (more.length > 0) return Effect.fail(notFound(`no route ${url.pathname}; GET ${API_PREFIX} lists the routes`))
    if (head === undefined) return Effect.as(noParams(url), { api: "v1", cluster: options.cluster, node: view.self, routes: ROUTES })
    if (head === "status" && id === undefined) return Effect.andThen(noParams(url), status)
    if (head === "nodes" && id !== undefined && sub === undefined) {
      return Effect.andThen(noParams(url), Effect.flatMap(pathId(id, "node name"), nodeStatus))
    }
    if (head === "devices" && id === undefined) return Effect.andThen(noParams(url), Effect.mapError(queries.devices, fromAdminError))
    if (head === "devices" && id !== undefined && sub === undefined) {
      return Effect.andThen(noParams(url), Effect.flatMap(pathId(id, "device id"), deviceState))
    }
    if (head === "devices" && id !== undefined && sub === "windows") return Effect.flatMap(pathId(id, "device id"), (device) => windows(device, url))
    if (head === "alarms" && id === undefined) return alarms(url)
    return Effect.fail(notFound(`no route ${url.pathname}; GET ${API_PREFIX} lists the routes`))
  }

  /** Answer one request under `/api/v1`. */
  return (method: string, url: URL): Effect.Effect<ApiResponse> => {
    if (method !== "GET" && method !== "HEAD") {
      return Effect.succeed(failure(new ApiError({ code: "MethodNotAllowed", message: `${method} is not allowed: the API is read-only (GET or HEAD)` })))
    }
    return route(url).pipe(
      Effect.map(ok),
      Effect.catchCause((cause) => {
        const error = Cause.findErrorOption(cause)
        if (error._tag === "Some") return Effect.succeed(failure(error.value))
        // The server is closing: nobody waits for this answer.
        if (Cause.hasInterruptsOnly(cause)) return Effect.succeed(failure(unavailable(`${view.self} is shutting down`)))
        return Effect.as(
          Effect.logError(`http api: ${url.pathname} failed`, cause),
          failure(new ApiError({ code: "Internal", message: `${view.self} failed to answer ${url.pathname}; its log has the details` }))
        )
      })
    )
  }
}
