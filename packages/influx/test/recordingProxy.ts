/**
 * A forwarding HTTP proxy that records every request on its way to the real database:
 * how the sink batched (lines per request) and encoded (gzip) what it sent. The
 * databases' own request counters lag behind by up to a second, this does not.
 */
import { createServer } from "node:http"
import { gunzipSync } from "node:zlib"
import { Effect, type Scope } from "effect"
import { listenOnLoopback } from "./loopback.js"

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly contentEncoding: string | undefined
  readonly lines: number
  readonly status: number
}

export const recordingProxy = (
  target: string
): Effect.Effect<{ readonly url: string; readonly requests: ReadonlyArray<RecordedRequest> }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const requests: Array<RecordedRequest> = []
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        const body = Buffer.concat(chunks)
        const encoding = req.headers["content-encoding"]
        const text = body.length === 0 ? "" : (encoding === "gzip" ? gunzipSync(body) : body).toString("utf8")
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter(([k]) =>
            !["host", "content-length", "connection", "transfer-encoding", "keep-alive"].includes(k)
          )
        ) as Record<string, string>
        fetch(`${target}${req.url ?? "/"}`, {
          method: req.method ?? "GET",
          headers,
          ...(req.method === "GET" || req.method === "HEAD" ? {} : { body })
        }).then(async (answer) => {
          const answerBody = Buffer.from(await answer.arrayBuffer())
          requests.push({
            method: req.method ?? "GET",
            path: (req.url ?? "/").split("?")[0]!,
            contentEncoding: encoding,
            lines: text === "" ? 0 : text.split("\n").length,
            status: answer.status
          })
          res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "text/plain" })
          res.end(answerBody)
        }, () => {
          res.destroy()
        })
      })
    })
    const port = yield* listenOnLoopback(server, () => server.closeAllConnections())
    return { url: `http://127.0.0.1:${port}`, requests }
  })
