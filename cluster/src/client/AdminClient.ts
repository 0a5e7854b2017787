/**
 * Calling the admin actor: encode the request Schema as JSON, send it over NATS
 * request-reply, and decode the reply — or the `AdminError` a node answers instead. Used by
 * the `bramble` CLI, by nodes forwarding a device query to its owner, and by the dashboard
 * asking other nodes for their status.
 */
import { Admin } from "@bramble/protocol"
import { type NatsConnection, RequestError, TimeoutError } from "@nats-io/transport-node"
import { Data, Effect, Result, Schema } from "effect"

/** The request got no usable answer (as opposed to an `AdminError` answer). */
export class AdminRequestFailed extends Data.TaggedError("AdminRequestFailed")<{
  readonly reason: "NoResponders" | "Timeout" | "Connection" | "BadReply"
  readonly subject: string
  readonly message: string
}> {}

const utf8 = new TextDecoder()

/** JSON text of a request (what `nats req` would send). */
export const encodeAdminRequest = <Req, Rep>(call: Admin.AdminCall<Req, Rep>, request: Req): string =>
  JSON.stringify(Schema.encodeSync(call.request)(request))

const decodeAdminError = Schema.decodeUnknownResult(Admin.AdminError)

/** Decode a reply body into the call's reply, or the AdminError it carries. */
export const decodeAdminReply = <Req, Rep>(
  call: Admin.AdminCall<Req, Rep>,
  subject: string,
  body: Uint8Array
): Result.Result<Rep, Admin.AdminError | AdminRequestFailed> => {
  let json: unknown
  try {
    json = JSON.parse(utf8.decode(body))
  } catch {
    return Result.fail(new AdminRequestFailed({ reason: "BadReply", subject, message: `${subject} answered something that is not JSON` }))
  }
  if (typeof json === "object" && json !== null && (json as { _tag?: unknown })._tag === "AdminError") {
    const error = decodeAdminError(json)
    if (Result.isSuccess(error)) return Result.fail(error.success)
  }
  const reply = Schema.decodeUnknownResult(call.reply)(json)
  return Result.isSuccess(reply)
    ? Result.succeed(reply.success)
    : Result.fail(
      new AdminRequestFailed({ reason: "BadReply", subject, message: `${subject} answered with an unexpected reply (${reply.failure.message}); is every node running the same Bramble version?` })
    )
}

const failure = (subject: string, timeoutMs: number) => (error: unknown): AdminRequestFailed => {
  if (error instanceof RequestError && error.isNoResponders()) {
    return new AdminRequestFailed({ reason: "NoResponders", subject, message: `nothing answers ${subject}` })
  }
  if (error instanceof TimeoutError || (error instanceof Error && error.cause instanceof TimeoutError)) {
    return new AdminRequestFailed({ reason: "Timeout", subject, message: `${subject} did not answer within ${timeoutMs} ms` })
  }
  return new AdminRequestFailed({ reason: "Connection", subject, message: `${subject}: ${error instanceof Error ? error.message : String(error)}` })
}

/** One admin call on `subject`. */
export const adminRequest = <Req, Rep>(
  nc: NatsConnection,
  subject: string,
  call: Admin.AdminCall<Req, Rep>,
  request: Req,
  timeoutMs = 5_000
): Effect.Effect<Rep, Admin.AdminError | AdminRequestFailed> =>
  Effect.tryPromise({
    try: () => nc.request(subject, encodeAdminRequest(call, request), { timeout: timeoutMs }),
    catch: failure(subject, timeoutMs)
  }).pipe(Effect.flatMap((msg) => Effect.fromResult(decodeAdminReply(call, subject, msg.data))))

/** Calls `node`'s endpoint (`bramble.admin.<node>.<call>`). */
export const callNode = <Req, Rep>(nc: NatsConnection, node: string, call: Admin.AdminCall<Req, Rep>, request: Req, timeoutMs?: number) =>
  adminRequest(nc, Admin.adminNodeSubject(node, call.name), call, request, timeoutMs)

/** Calls the cluster-wide endpoint (`bramble.admin.<call>`), answered by any node. */
export const callCluster = <Req, Rep>(nc: NatsConnection, call: Admin.AdminCall<Req, Rep>, request: Req, timeoutMs?: number) =>
  adminRequest(nc, Admin.adminClusterSubject(call.name), call, request, timeoutMs)
