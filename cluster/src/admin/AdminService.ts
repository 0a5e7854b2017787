/**
 * The admin actor: every node's NATS request-reply service, registered with the NATS
 * micro-services protocol as `bramble` (so `nats micro ls` / `nats micro info bramble` list
 * every node, its endpoints and their request/error counts).
 *
 * Endpoints (Admin.AdminCalls; JSON in and out, an empty body means `{}`):
 *   bramble.admin.<node>.status | actors | restart | config-show | config-validate
 *   bramble.admin.<node>.device | devices | alarms | ack | members | partitions
 *   bramble.admin.device | devices | alarms | ack | members | partitions   (any node, queue group)
 *
 * `members` and `partitions` are the cluster's map for operators (`bramble members`,
 * `bramble partitions`, `bramble status`): any node answers for the whole cluster, members
 * from its membership view, leases and consumer lag read from JetStream.
 *
 * A device's open windows live only on the node that owns its partition. A device query
 * reaching any other node (the cluster-wide subject picks one at random) is forwarded to the
 * owner the cluster view names; a node asked directly about a partition it does not own
 * answers `NotOwner`, so a stale forward is never answered with stale data.
 */
import type { ClusterConfig } from "@bramble/config"
import { parseClusterConfig } from "@bramble/config"
import { NatsClient, natsError, type NatsError } from "@bramble/nats"
import { Admin } from "@bramble/protocol"
import { Svcm, type ServiceMsg } from "@nats-io/services"
import type { NatsConnection } from "@nats-io/transport-node"
import { Cause, Clock, Effect, FiberSet, Result, Schema, type Scope } from "effect"
import { VERSION } from "@bramble/protocol"
import { callNode } from "../client/AdminClient.js"
import type { ActorRegistry } from "./ActorRegistry.js"
import { makeLagReader } from "./ConsumerLag.js"
import { partitionOfDevice } from "./DevicePartition.js"
import { makeAlarmAcks } from "./AlarmAcks.js"
import { makeDeviceQueries } from "./DeviceQueries.js"
import type { ClusterView } from "./ClusterView.js"
import { type AdminNode, nodeStatus, rateCounters } from "./NodeStatus.js"
import { makeRateMeter, runRateMeter } from "./RateMeter.js"

export interface AdminServiceOptions {
  readonly node: AdminNode
  readonly config: ClusterConfig
  readonly registry: ActorRegistry
  readonly view: ClusterView
  /** How long a forwarded device query may take (default 5 s). */
  readonly forwardTimeoutMs?: number
}

/** What the admin actor computes, for the dashboard and `/metrics` on the same node. */
export interface AdminService {
  readonly status: Effect.Effect<Admin.NodeStatus>
  readonly queries: ReturnType<typeof makeDeviceQueries>
  readonly view: ClusterView
  readonly registry: ActorRegistry
}

const utf8 = new TextDecoder()

const badRequest = (message: string) => new Admin.AdminError({ reason: "BadRequest", message })

/** Decode a request body (empty = `{}`) with the call's Schema. */
export const decodeAdminRequest = <Req, Rep>(call: Admin.AdminCall<Req, Rep>, body: Uint8Array): Result.Result<Req, Admin.AdminError> => {
  let json: unknown = {}
  const text = utf8.decode(body).trim()
  if (text.length > 0) {
    try {
      json = JSON.parse(text)
    } catch {
      return Result.fail(badRequest(`the ${call.name} request is not JSON: ${text.length > 80 ? `${text.slice(0, 80)}…` : text}`))
    }
  }
  const decoded = Schema.decodeUnknownResult(call.request)(json)
  return Result.isSuccess(decoded)
    ? Result.succeed(decoded.success)
    : Result.fail(badRequest(`invalid ${call.name} request: ${decoded.failure.message}`))
}

const encodeError = Schema.encodeSync(Admin.AdminError)

const headerText = (text: string) => {
  const line = text.replace(/[\r\n]+/g, " ").trim()
  return line.length > 200 ? `${line.slice(0, 200)}…` : line
}

/**
 * Register the `bramble` NATS micro-service on `nc` until the scope closes (the admin actor,
 * and a forming node's status endpoint, ../node/FormingResponders.ts).
 */
export const addAdminMicroService = (nc: NatsConnection, description: string, metadata: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      // nats.js services bundles its own copy of nats-core types; the connection is the same.
      try: () => new Svcm(nc as never).add({ name: Admin.ADMIN_SERVICE, version: VERSION, description, metadata }),
      catch: natsError("Request", `cannot register the ${Admin.ADMIN_SERVICE} micro-service (${description})`)
    }),
    (s) => Effect.promise(() => s.stop().catch(() => null))
  )

/** Start the admin service of this node; it stops when the scope closes. */
export const serveAdmin = Effect.fn("AdminService.serveAdmin")(function*(options: AdminServiceOptions): Effect.fn.Return<AdminService, NatsError, NatsClient | Scope.Scope> {
  const { nc, js, jsm, kvm } = yield* NatsClient
  const { node, registry, view, config } = options
  const self = node.name
  const queries = makeDeviceQueries({ js, jsm, view, registry, acks: makeAlarmAcks(kvm) })
  const lag = makeLagReader(jsm)
  const meter = makeRateMeter(() => rateCounters(node))
  yield* runRateMeter(meter)

  const versions = (): Admin.Versions => ({ bramble: VERSION, node: process.version, natsServer: nc.info?.version ?? "unknown" })
  const status = Effect.gen(function*() {
    const l = yield* Effect.option(lag)
    return nodeStatus({
      node,
      versions: versions(),
      rates: yield* meter.rates,
      lag: l._tag === "Some" ? l.value : undefined,
      owns: view.owns,
      now: yield* Clock.currentTimeMillis
    })
  })

  // `members` and `partitions` (`bramble members`, `bramble partitions`, `bramble status`):
  // the one answer to who is in the cluster and who owns what, with what operators watch
  // during a failover (incarnations, heartbeat and lease ages, target owner, lag).
  const members = Effect.gen(function*() {
    const [list, fresh, at] = yield* Effect.all([view.members, view.fresh ?? Effect.succeed(undefined), Clock.currentTimeMillis])
    return { members: list, answeredBy: self, at, ...(fresh === undefined ? {} : { fresh }) }
  })
  const partitionMap = Effect.gen(function*() {
    const [owners, lagByPartition, at] = yield* Effect.all([view.leaseDetails ?? view.owners, Effect.option(lag), Clock.currentTimeMillis])
    return {
      partitions: view.partitions,
      owners: owners.map((o) => {
        const l = lagByPartition._tag === "Some" ? lagByPartition.value.get(o.partition) : undefined
        return l === undefined ? o : { ...o, pending: l.pending, ackPending: l.ackPending }
      }),
      answeredBy: self,
      at
    }
  })

  const forwardTimeoutMs = options.forwardTimeoutMs ?? 5_000
  const deviceAnywhere = (request: Admin.DeviceRequest) =>
    Effect.gen(function*() {
      const partition = partitionOfDevice(request.device, view.partitions)
      if (view.owns(partition)) return yield* queries.device(request.device)
      const owner = yield* view.ownerOf(partition)
      if (owner === undefined || owner === self) {
        return yield* Effect.fail(
          new Admin.AdminError({ reason: "Unavailable", message: `partition ${partition} of ${request.device} has no owner right now (rebalancing); try again in a few seconds` })
        )
      }
      return yield* callNode(nc, owner, Admin.AdminCalls.device, request, forwardTimeoutMs).pipe(
        Effect.catchTag("AdminRequestFailed", (e) =>
          Effect.fail(new Admin.AdminError({ reason: "Unavailable", message: `${request.device} is owned by ${owner}, which did not answer: ${e.message}` })))
      )
    })

  const validate = (request: Admin.ConfigValidateRequest): Admin.ConfigValidateReply => {
    const result = parseClusterConfig(request.text, request.file ?? "cluster.yaml")
    if (Result.isFailure(result)) return { valid: false, message: result.failure.message }
    const c = result.success
    return {
      valid: true,
      message: `valid: cluster "${c.cluster.name}", ${c.nodes.length} node(s), ${c.cluster.partitions} partitions, ` +
        `${c.sensors.length} sensor(s), windows ${c.windows.map((w) => w.name).join(", ")}, sink ${c.sink.kind}`
    }
  }

  // Each request runs on its own fibre, interrupted if the service stops mid-request.
  const run = yield* FiberSet.makeRuntime<never, void, never>()

  /** The micro-service handler of one call: decode, answer, encode — or reply an AdminError. */
  const respond = <Req, Rep>(call: Admin.AdminCall<Req, Rep>, handler: (request: Req) => Effect.Effect<Rep, Admin.AdminError>) =>
    (error: Error | null, msg: ServiceMsg): void => {
      if (error !== null) return
      const reply = Effect.suspend(() => {
        const request = decodeAdminRequest(call, msg.data)
        return Result.isFailure(request) ? Effect.fail(request.failure) : handler(request.success)
      }).pipe(
        Effect.flatMap((value) => Effect.sync(() => JSON.stringify(Schema.encodeSync(call.reply)(value)))),
        Effect.catchCause((cause) => {
          const failure = Cause.findErrorOption(cause)
          if (failure._tag === "Some") return Effect.fail(failure.value)
          return Effect.andThen(
            Effect.logError(`admin ${call.name} failed`, cause),
            Effect.fail(new Admin.AdminError({ reason: "Internal", message: `${self} failed to answer ${call.name}; its log has the details` }))
          )
        }),
        Effect.matchEffect({
          onSuccess: (json) => Effect.sync(() => msg.respond(json)),
          onFailure: (e: Admin.AdminError) =>
            // A header value is one line; the body keeps the whole message.
            Effect.sync(() => msg.respondError(Admin.adminErrorCode(e.reason), headerText(e.message), JSON.stringify(encodeError(e))))
        }),
        Effect.catchDefect((defect) => Effect.logError(`admin ${call.name}: cannot send the reply`, defect)),
        Effect.asVoid
      )
      run(reply)
    }

  interface Endpoint {
    readonly name: string
    readonly onNode: (error: Error | null, msg: ServiceMsg) => void
    /** Also on the cluster-wide subject (queue group), with this handler. */
    readonly onCluster?: (error: Error | null, msg: ServiceMsg) => void
  }
  const endpoint = <Req, Rep>(
    call: Admin.AdminCall<Req, Rep>,
    handler: (request: Req) => Effect.Effect<Rep, Admin.AdminError>,
    clusterHandler: (request: Req) => Effect.Effect<Rep, Admin.AdminError> = handler
  ): Endpoint => ({
    name: call.name,
    onNode: respond(call, handler),
    ...(call.clusterWide ? { onCluster: respond(call, clusterHandler) } : {})
  })
  const C = Admin.AdminCalls
  const endpoints: ReadonlyArray<Endpoint> = [
    endpoint(C.status, () => status),
    endpoint(C.actors, () => Effect.map(registry.list, (actors) => ({ node: self, actors }))),
    endpoint(C.restart, (r) => Effect.map(registry.restart(r.actor), (message) => ({ node: self, actor: r.actor, message }))),
    endpoint(C.configShow, () => Effect.succeed({ node: self, config })),
    endpoint(C.configValidate, (r) => Effect.sync(() => validate(r))),
    endpoint(C.device, (r) => queries.device(r.device), deviceAnywhere),
    endpoint(C.devices, () => queries.devices),
    endpoint(C.alarms, (r) => queries.alarms(r)),
    endpoint(C.ack, (r) => queries.ack(r)),
    endpoint(C.members, () => members),
    endpoint(C.partitions, () => partitionMap)
  ]

  const service = yield* addAdminMicroService(nc, `Bramble admin actor of node ${self}`, { node: self })
  const mine = service.addGroup(`${Admin.ADMIN_PREFIX}.${self}`)
  const cluster = service.addGroup(Admin.ADMIN_PREFIX, Admin.ADMIN_QUEUE)
  for (const e of endpoints) {
    mine.addEndpoint(e.name, { handler: e.onNode, metadata: { scope: "node" } })
    // Endpoint names are unique within a service; the subject is what clients use.
    if (e.onCluster !== undefined) cluster.addEndpoint(`cluster-${e.name}`, { subject: e.name, handler: e.onCluster, metadata: { scope: "cluster" } })
  }
  // Ready means answering: the server has every subscription once the flush returns.
  yield* Effect.tryPromise({ try: () => nc.flush(), catch: natsError("Request", "cannot register the admin endpoints") })
  yield* Effect.logInfo(`admin: NATS micro-service "${Admin.ADMIN_SERVICE}" on ${Admin.ADMIN_PREFIX}.${self}.* and ${Admin.ADMIN_PREFIX}.*`)
  return { status, queries, view, registry }
})
