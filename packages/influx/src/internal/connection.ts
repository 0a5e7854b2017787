/**
 * Connection details both wire paths share: checking the options once when the layer is
 * built, naming the sink without its secrets, and turning a raw network exception into a
 * `SinkWriteError` at the edge, once.
 */
import { Duration, Effect, Option } from "effect"
import { SinkConfigError, type SinkWriteReason } from "../SinkWriteError.js"

/** InfluxDB's advice for lines per write request. */
export const defaultBatchSize = 5_000
export const defaultTimeout: Duration.Input = "10 seconds"
/** Bodies up to this many bytes are sent uncompressed even with gzip on (the v2 client's default). */
export const gzipThreshold = 1_000

/** A base URL without credentials, query or trailing slash. */
export const parseBaseUrl = (text: string): Effect.Effect<URL, SinkConfigError> =>
  Effect.gen(function*() {
    let url: URL
    try {
      url = new URL(text)
    } catch {
      return yield* new SinkConfigError({ detail: `url ${JSON.stringify(text)} is not a URL` })
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return yield* new SinkConfigError({ detail: `url must be http:// or https://, got ${url.protocol}` })
    }
    if (url.username !== "" || url.password !== "") {
      // Credentials in a URL end up in logs and in `describe`; they have their own options.
      return yield* new SinkConfigError({ detail: "url must not contain credentials; use the token/username/password options" })
    }
    if (url.search !== "" || url.hash !== "") {
      return yield* new SinkConfigError({ detail: "url must not contain a query or fragment" })
    }
    url.pathname = url.pathname.replace(/\/+$/, "")
    return url
  })

/** `http://host:port/prefix` for `describe` and messages. */
export const displayUrl = (url: URL): string => `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`

/** A URL for `path` under the base URL (which may carry a reverse-proxy prefix). */
export const endpoint = (base: URL, path: string, query: Record<string, string | undefined>): URL => {
  const url = new URL(base.href)
  url.pathname = `${base.pathname.replace(/\/+$/, "")}${path}`
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(key, value)
  }
  return url
}

export const checkBatchSize = (batchSize: number | undefined): Effect.Effect<number, SinkConfigError> => {
  const size = batchSize ?? defaultBatchSize
  return Number.isSafeInteger(size) && size >= 1
    ? Effect.succeed(size)
    : Effect.fail(new SinkConfigError({ detail: `batchSize must be a positive integer, got ${String(batchSize)}` }))
}

export const checkTimeout = (timeout: Duration.Input | undefined): Effect.Effect<Duration.Duration, SinkConfigError> => {
  const duration = Duration.fromInput(timeout ?? defaultTimeout)
  return Option.isSome(duration) && Duration.toMillis(duration.value) > 0
    ? Effect.succeed(duration.value)
    : Effect.fail(new SinkConfigError({ detail: `timeout must be a positive duration, got ${String(timeout)}` }))
}

const codeOf = (error: unknown): string | undefined => {
  let current: unknown = error
  // fetch wraps the socket error: TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } }).
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string") return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

const messageOf = (error: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    const message = current instanceof Error ? current.message : String(current)
    if (message !== "" && !parts.includes(message)) parts.push(message)
    current = current instanceof Error ? current.cause : undefined
  }
  return parts.length === 0 ? "unknown error" : parts.join(": ")
}

/** Reason and text for an exception that is not an HTTP answer (the request never got one). */
export const networkFailure = (error: unknown): { readonly reason: SinkWriteReason; readonly detail: string } => {
  const code = codeOf(error)
  const name = error instanceof Error ? error.name : undefined
  const timedOut = name === "RequestTimedOutError" || code === "ETIMEDOUT" || code === "ESOCKETTIMEDOUT" ||
    code === "UND_ERR_CONNECT_TIMEOUT" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT"
  return { reason: timedOut ? "Timeout" : "Unavailable", detail: messageOf(error) }
}
