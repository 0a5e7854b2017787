/**
 * The v2 write API (`/api/v2/write`) through `@influxdata/influxdb-client`: InfluxDB 2.x and
 * 3.x, 1.8+, victoria-metrics and other servers that accept it.
 *
 * The library's `WriteApi` is built for fire-and-forget: it buffers lines, flushes on a
 * timer, retries up to 5 times over 3 minutes from a 32,000-line retry buffer and logs
 * failures instead of reporting them. A storage actor that acknowledges messages only
 * after they are durable needs the opposite, so each batch gets its own `WriteApi`:
 * - `maxRetries: 0`, and `writeFailed` returns the rejection, so nothing is retried,
 *   buffered or logged behind our back and the error reaches the caller;
 * - `batchSize` above the batch length, no byte limit and `flushInterval: 0`, so nothing
 *   is sent before our `flush()` (an automatic flush would swallow its own failure);
 * - the `flush()` promise settles only with the server's answer to this batch.
 * The `AbortSignal` from `Effect.tryPromise` rides in the transport options down to
 * `http.request`, so an interrupted or timed-out write aborts its request.
 */
import http from "node:http"
import https from "node:https"
import { HttpError, InfluxDB } from "@influxdata/influxdb-client"
import { Effect, Redacted } from "effect"
import type { Scope } from "effect"
import type { InfluxSink, InfluxV2Options } from "../InfluxSink.js"
import type { SinkConfigError } from "../SinkWriteError.js"
import { makeBatchedSink, type RequestFailure, requestFailure } from "./batchedSink.js"
import { checkBatchSize, checkTimeout, displayUrl, gzipThreshold, networkFailure, parseBaseUrl } from "./connection.js"
import { parseRefusal, reasonForStatus } from "./serverAnswer.js"

const fromClientError = (error: unknown, batch: ReadonlyArray<string>, offset: number): RequestFailure => {
  if (error instanceof HttpError) {
    const body = error.body ?? ""
    const { detail, rejected } = parseRefusal(body, batch, offset, `${error.statusCode} ${error.statusMessage ?? ""}`.trim())
    return requestFailure(reasonForStatus(error.statusCode, body), detail, {
      status: error.statusCode,
      rejected,
      cause: error
    })
  }
  const { detail, reason } = networkFailure(error)
  return requestFailure(reason, detail, { cause: error })
}

export const makeV2 = Effect.fn("InfluxSink.makeV2")(function*(
  options: InfluxV2Options
): Effect.fn.Return<InfluxSink["Service"], SinkConfigError, Scope.Scope> {
  const base = yield* parseBaseUrl(options.url)
  const batchSize = yield* checkBatchSize(options.batchSize)
  const timeout = yield* checkTimeout(options.timeout)
  // One keep-alive agent per sink, closed with the layer, so batches reuse connections
  // and nothing is left open after shutdown.
  const agent = yield* Effect.acquireRelease(
    Effect.sync(() =>
      base.protocol === "https:" ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true })
    ),
    (agent) => Effect.sync(() => agent.destroy())
  )
  const client = (signal: AbortSignal) =>
    new InfluxDB({
      url: base.href,
      ...(options.token === undefined ? {} : { token: Redacted.value(options.token) }),
      // The sink's own timeout interrupts the request, which aborts it through `signal`.
      // The library's socket timeout would only report, leaving the socket open, so it
      // is off (0; its default is 10 s).
      timeout: 0,
      transportOptions: { agent, signal }
    })

  const send = (lines: ReadonlyArray<string>, offset: number) =>
    Effect.tryPromise({
      try: async (signal) => {
        const writeApi = client(signal).getWriteApi(options.org, options.bucket, "ms", {
          batchSize: lines.length + 1,
          maxBatchBytes: Number.MAX_SAFE_INTEGER,
          flushInterval: 0,
          maxRetries: 0,
          maxBufferLines: lines.length + 1,
          gzipThreshold: options.gzip === true ? gzipThreshold : Number.POSITIVE_INFINITY,
          writeFailed: (error) => Promise.reject(error)
        })
        try {
          writeApi.writeRecords(lines as Array<string>)
          await writeApi.flush()
        } finally {
          writeApi.dispose()
        }
      },
      catch: (error) => fromClientError(error, lines, offset)
    })

  const ping = Effect.tryPromise({
    try: (signal) => client(signal).transport.request("/ping", "", { method: "GET" }),
    catch: (error) => fromClientError(error, [], 0)
  }).pipe(Effect.asVoid)

  return makeBatchedSink({
    describe: `influx-v2 ${displayUrl(base)} org=${options.org} bucket=${options.bucket}`,
    secrets: options.token === undefined ? [] : [Redacted.value(options.token)],
    batchSize,
    timeout,
    send,
    ping
  })
})
