/**
 * The errors of the HTTP API (`/api/v1/…`), and how the failures of what answers it — the
 * admin protocol, another node, JetStream — become an HTTP status that means something to a
 * script: 400 fix the request, 404 no such thing, 405 read-only, 503 try again shortly
 * (with `Retry-After`), 502 another node answered nonsense, 500 a bug here (the node's log
 * has it). Every error body is `{"error": {"code", "message"}}` (plus `param` for a bad
 * query parameter).
 */
import type { NatsError } from "@bramble/nats"
import type { Admin } from "@bramble/protocol"
import { Data } from "effect"
import type { AdminRequestFailed } from "../../client/AdminClient.js"

/** The `code` of an error body; one per HTTP status the API uses. */
export type ApiErrorCode = "BadRequest" | "NotFound" | "MethodNotAllowed" | "Unavailable" | "BadGateway" | "Internal"

const STATUS: Record<ApiErrorCode, number> = {
  BadRequest: 400,
  NotFound: 404,
  MethodNotAllowed: 405,
  Internal: 500,
  BadGateway: 502,
  Unavailable: 503
}

/** A request the API answers with an error. */
export class ApiError extends Data.TaggedError("ApiError")<{
  readonly code: ApiErrorCode
  readonly message: string
  /** The query parameter at fault (BadRequest). */
  readonly param?: string
}> {
  /** The HTTP status of the code. */
  get status(): number {
    return STATUS[this.code]
  }
}

/** The JSON body of an error response. */
export interface ApiErrorBody {
  readonly error: { readonly code: ApiErrorCode; readonly message: string; readonly param?: string }
}

/** The body of `error`. */
export const errorBody = (error: ApiError): ApiErrorBody => ({
  error: { code: error.code, message: error.message, ...(error.param === undefined ? {} : { param: error.param }) }
})

/** How long a client should wait before retrying a 503, seconds. */
export const RETRY_AFTER_SECONDS = 2

export const badRequest = (message: string, param?: string): ApiError =>
  new ApiError({ code: "BadRequest", message, ...(param === undefined ? {} : { param }) })

export const notFound = (message: string): ApiError => new ApiError({ code: "NotFound", message })

export const unavailable = (message: string): ApiError => new ApiError({ code: "Unavailable", message })

/** An admin error (from this node or another one) as an API error. */
export const fromAdminError = (error: Admin.AdminError): ApiError => {
  switch (error.reason) {
    case "BadRequest":
      return badRequest(error.message)
    case "NotFound":
      return notFound(error.message)
    // The partition moved between the lookup and the answer: asking again finds the new owner.
    case "NotOwner":
    case "Unavailable":
    case "Forming":
      return unavailable(error.message)
    case "Internal":
      return new ApiError({ code: "Internal", message: error.message })
  }
}

/** A request to another node that got no usable answer. */
export const fromRequestFailed = (error: AdminRequestFailed): ApiError =>
  error.reason === "BadReply"
    ? new ApiError({ code: "BadGateway", message: error.message })
    : unavailable(error.message)

/** JetStream could not be read. */
export const fromNatsError = (error: NatsError): ApiError => unavailable(error.message)
