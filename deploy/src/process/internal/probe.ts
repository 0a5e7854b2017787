/**
 * Small network checks for readiness probes. They fail with a plain `Error` whose message
 * says what was expected: `ManagedProcess` puts the last one into its `NotReady` error.
 */
import { connect } from "node:net"
import { Duration, Effect } from "effect"

/** One HTTP response, body as text. */
export interface HttpResponse {
  readonly status: number
  readonly body: string
}

/** An HTTP request that gives up after `timeout`. */
export const httpRequest = (
  url: string,
  init: { readonly method?: string; readonly body?: string; readonly headers?: Record<string, string> } = {},
  timeout: Duration.Input = "5 seconds"
): Effect.Effect<HttpResponse, Error> =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(url, {
        method: init.method ?? "GET",
        ...(init.body === undefined ? {} : { body: init.body }),
        ...(init.headers === undefined ? {} : { headers: init.headers }),
        signal
      })
      return { status: response.status, body: await response.text() }
    },
    catch: (error) => new Error(`${init.method ?? "GET"} ${url}: ${error instanceof Error ? error.message : String(error)}`)
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () => Effect.fail(new Error(`${init.method ?? "GET"} ${url}: no answer within ${Duration.format(Duration.fromInputUnsafe(timeout))}`))
    })
  )

/** Fails unless the response has the expected status. */
export const expectStatus = (url: string, response: HttpResponse, status: number): Effect.Effect<void, Error> =>
  response.status === status
    ? Effect.void
    : Effect.fail(new Error(`${url} answered ${response.status} (expected ${status}): ${response.body.slice(0, 300)}`))

/** Succeeds once a TCP connection to `host:port` is accepted. */
export const tcpConnect = (host: string, port: number): Effect.Effect<void, Error> =>
  Effect.callback<void, Error>((resume) => {
    const socket = connect({ host, port })
    socket.setTimeout(2_000)
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.void)
    })
    socket.once("timeout", () => {
      socket.destroy()
      resume(Effect.fail(new Error(`tcp ${host}:${port}: connect timed out`)))
    })
    socket.once("error", (error) => {
      socket.destroy()
      resume(Effect.fail(new Error(`tcp ${host}:${port}: ${error.message}`)))
    })
    return Effect.sync(() => socket.destroy())
  })

/** The address to connect to for a listener bound to `host` (wildcards mean loopback). */
export const connectHost = (host: string): string =>
  host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host

/** Parses a JSON body, failing (not throwing) when it is not JSON. */
export const parseJson = (url: string, body: string): Effect.Effect<unknown, Error> =>
  Effect.try({
    try: () => JSON.parse(body) as unknown,
    catch: () => new Error(`${url} did not answer JSON: ${body.slice(0, 200)}`)
  })
