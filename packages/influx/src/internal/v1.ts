/**
 * InfluxDB 1.x's `/write` endpoint, for 32-bit Pis where InfluxDB 2 does not run. Lines
 * come from the same `Point` escaping as the v2 path; the request is a plain `fetch` POST
 * of `text/plain` to `/write?db=…&rp=…&precision=ms`, with HTTP basic auth when a username
 * is set (1.x also accepts `u`/`p` query parameters, which end up in access logs).
 */
import { promisify } from "node:util"
import { gzip as gzipCallback } from "node:zlib"
import { Effect, Redacted } from "effect"
import type { InfluxSink, InfluxV1Options } from "../InfluxSink.js"
import { SinkConfigError } from "../SinkWriteError.js"
import { makeBatchedSink, type RequestFailure, requestFailure } from "./batchedSink.js"
import {
  checkBatchSize,
  checkTimeout,
  displayUrl,
  endpoint,
  gzipThreshold,
  networkFailure,
  parseBaseUrl
} from "./connection.js"
import { parseRefusal, reasonForStatus } from "./serverAnswer.js"

const gzip = promisify(gzipCallback)

// An answer we could not read is still an answer: keep the status, say what we know.
const readBody = (response: Response): Promise<string> => response.text().catch(() => "")

export const makeV1 = Effect.fn("InfluxSink.makeV1")(function*(
  options: InfluxV1Options
): Effect.fn.Return<InfluxSink["Service"], SinkConfigError> {
  const base = yield* parseBaseUrl(options.url)
  const batchSize = yield* checkBatchSize(options.batchSize)
  const timeout = yield* checkTimeout(options.timeout)
  if (options.database === "") return yield* new SinkConfigError({ detail: "database is empty" })
  if (options.password !== undefined && options.username === undefined) {
    return yield* new SinkConfigError({ detail: "a password needs a username" })
  }
  const authorization = options.username === undefined
    ? undefined
    : Redacted.make(
      `Basic ${
        Buffer.from(
          `${options.username}:${options.password === undefined ? "" : Redacted.value(options.password)}`
        ).toString("base64")
      }`
    )
  const headers = (extra: Record<string, string>): Record<string, string> =>
    authorization === undefined ? extra : { ...extra, authorization: Redacted.value(authorization) }
  const writeUrl = endpoint(base, "/write", {
    db: options.database,
    rp: options.retentionPolicy,
    precision: "ms"
  }).href
  const pingUrl = endpoint(base, "/ping", {}).href

  const send = (lines: ReadonlyArray<string>, offset: number) =>
    Effect.tryPromise({
      try: async (signal): Promise<RequestFailure | undefined> => {
        const text = Buffer.from(lines.join("\n"), "utf8")
        const compress = options.gzip === true && text.length > gzipThreshold
        const body = compress ? await gzip(text) : text
        const response = await fetch(writeUrl, {
          method: "POST",
          headers: headers({
            "content-type": "text/plain; charset=utf-8",
            ...(compress ? { "content-encoding": "gzip" } : {})
          }),
          body,
          signal
        })
        const answer = await readBody(response)
        if (response.status === 204 || response.status === 200) return undefined
        const { detail, rejected } = parseRefusal(
          answer || response.headers.get("x-influxdb-error") || "",
          lines,
          offset,
          `${response.status} ${response.statusText}`.trim()
        )
        return requestFailure(reasonForStatus(response.status, answer), detail, { status: response.status, rejected })
      },
      catch: (error) => {
        const { detail, reason } = networkFailure(error)
        return requestFailure(reason, detail, { cause: error })
      }
    }).pipe(Effect.flatMap((failure) => failure === undefined ? Effect.void : Effect.fail(failure)))

  const ping = Effect.tryPromise({
    try: async (signal): Promise<RequestFailure | undefined> => {
      const response = await fetch(pingUrl, { method: "GET", headers: headers({}), signal })
      const answer = await readBody(response)
      if (response.ok) return undefined
      const { detail } = parseRefusal(answer, [], 0, `${response.status} ${response.statusText}`.trim())
      return requestFailure(reasonForStatus(response.status, answer), detail, { status: response.status })
    },
    catch: (error) => {
      const { detail, reason } = networkFailure(error)
      return requestFailure(reason, detail, { cause: error })
    }
  }).pipe(Effect.flatMap((failure) => failure === undefined ? Effect.void : Effect.fail(failure)))

  const rp = options.retentionPolicy === undefined ? "" : ` rp=${options.retentionPolicy}`
  return makeBatchedSink({
    describe: `influx-v1 ${displayUrl(base)} db=${options.database}${rp}`,
    secrets: options.password === undefined ? [] : [Redacted.value(options.password), `${options.username}:${Redacted.value(options.password)}`],
    batchSize,
    timeout,
    send,
    ping
  })
})
