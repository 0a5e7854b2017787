/**
 * The node's HTTP server (node:http): the dashboard, its JSON API and live events, and
 * Prometheus `/metrics`, on one port from the cluster file (`nodes[].httpPort`).
 *
 * Closing the scope closes the listener and every open connection — Server-Sent Events
 * connections never end on their own, and a node must not hang on shutdown because a
 * browser tab is open.
 */
import { Data, Effect, type Scope } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/** The server could not listen. */
export class HttpServerError extends Data.TaggedError("HttpServerError")<{
  readonly reason: "AddressInUse" | "Listen"
  readonly message: string
}> {}

export type RequestHandler = (request: IncomingMessage, response: ServerResponse, url: URL) => void

/** A listening server. */
export interface RunningHttpServer {
  /** `http://host:port` (with the port actually bound). */
  readonly url: string
  readonly port: number
}

/** Listen on `host:port` (0 = any free port) until the scope closes. */
export const serveHttp = (options: {
  readonly host: string
  readonly port: number
  readonly handle: RequestHandler
}): Effect.Effect<RunningHttpServer, HttpServerError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ readonly server: ReturnType<typeof createServer>; readonly running: RunningHttpServer }, HttpServerError>((resume) => {
      const server = createServer((request, response) => {
        let url: URL
        try {
          url = new URL(request.url ?? "/", "http://localhost")
        } catch {
          response.writeHead(400).end()
          return
        }
        try {
          options.handle(request, response, url)
        } catch (error) {
          if (!response.headersSent) response.writeHead(500, { "content-type": "text/plain" })
          response.end(`internal error: ${error instanceof Error ? error.message : String(error)}`)
        }
      })
      // A Pi on a flaky Wi-Fi link leaves half-open sockets behind; do not keep them forever.
      server.keepAliveTimeout = 5_000
      server.once("error", (error: NodeJS.ErrnoException) => {
        resume(Effect.fail(
          new HttpServerError({
            reason: error.code === "EADDRINUSE" ? "AddressInUse" : "Listen",
            message: error.code === "EADDRINUSE"
              ? `port ${options.port} on ${options.host} is already in use (set nodes[].httpPort in the cluster file, or 0 to turn the HTTP server off)`
              : `cannot listen on ${options.host}:${options.port}: ${error.message}`
          })
        ))
      })
      server.listen(options.port, options.host, () => {
        const port = (server.address() as AddressInfo).port
        const host = options.host.includes(":") ? `[${options.host}]` : options.host
        resume(Effect.succeed({ server, running: { url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`, port } }))
      })
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  ).pipe(Effect.map(({ running }) => running))

/** Send a JSON body. */
export const sendJson = (response: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void => {
  const text = JSON.stringify(body)
  response.writeHead(status, { ...headers, "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
  response.end(text)
}

/** Send a text body. */
export const sendText = (response: ServerResponse, status: number, contentType: string, body: string | Uint8Array, cache = "no-store"): void => {
  response.writeHead(status, { "content-type": contentType, "cache-control": cache })
  response.end(body)
}
