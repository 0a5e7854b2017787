/**
 * The ThingsBoard and webhook sinks against a real HTTP server on loopback (node:http, no
 * mocks): what each answer means for the batch, and that no secret reaches an error.
 */
import { assert, describe, it } from "@effect/vitest"
import type { BatchWriteError } from "@bramble/actor-storage"
import { Effect, Redacted } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import type { ForwardItem } from "../src/ForwardItem.js"
import { makeThingsBoardSink } from "../src/ThingsBoardSink.js"
import { makeWebhookSink, webhookSignature } from "../src/WebhookSink.js"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

const T0 = 1_700_000_000_000

interface Received {
  readonly url: string
  readonly headers: IncomingMessage["headers"]
  readonly body: string
}

interface TestServer {
  readonly url: string
  readonly received: Array<Received>
  readonly close: Effect.Effect<void>
}

/** A loopback HTTP server answering with `answer`; closed with the scope. */
const server = (answer: (request: Received, response: ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<TestServer>((resolve) => {
        const received: Array<Received> = []
        const s = createServer((req, res) => {
          const chunks: Array<Buffer> = []
          req.on("data", (c: Buffer) => chunks.push(c))
          req.on("end", () => {
            const r = { url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") }
            received.push(r)
            answer(r, res)
          })
        })
        const close = Effect.promise(() =>
          new Promise<void>((done) => {
            s.closeAllConnections()
            s.close(() => done())
          })
        )
        s.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, received, close }))
      })
    ),
    (h) => h.close
  )

const reading = (device: string, i: number): ForwardItem => ({
  kind: "reading",
  stream: "READINGS",
  seq: i + 1,
  subject: `readings.0.${device}.env`,
  device,
  bytes: new Uint8Array(),
  data: { device, sensor: "env", ts: T0 + i, values: { t: i } }
})

const tokens = new Map([["a", Redacted.make("tok-a")], ["b", Redacted.make("tok-b")], ["c", Redacted.make("tok-c")]])

describe("forward sinks - real HTTP server", () => {
  it.live("thingsboard: one request per device; a refused token holds that device's items (not refused), the others land", () =>
    Effect.gen(function*() {
      const tb = yield* server((r, res) => {
        if (r.url.includes("/tok-b/")) res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ message: "Invalid token tok-b" }))
        else res.writeHead(200).end()
      })
      const sink = makeThingsBoardSink({ name: "tb", url: tb.url, timeoutMs: 5_000, tokens, source: "raw", tokenSetting: (d) => `forward[0].devices[${d}]` })
      const batch = [reading("a", 0), reading("b", 1), reading("a", 2), reading("c", 3)]
      const error = yield* Effect.flip(sink.write(batch))
      assert.deepStrictEqual([error.reason, error.status, error.retryable], ["Misconfigured", 401, true])
      assert.deepStrictEqual(error.rejected, [], "nothing is refused: the token is wrong, not the readings")
      assert.strictEqual(error.acknowledged, 1)
      assert.deepStrictEqual(error.alsoAcknowledged, [2, 3], "c went out after b's token was refused")
      assert.include(error.detail, "ThingsBoard refused the access token of device b (forward target tb, HTTP 401): check forward[0].devices[b]")
      assert.notInclude(error.message, "tok-")
      assert.deepStrictEqual(tb.received.map((r) => r.url), ["/api/v1/tok-a/telemetry", "/api/v1/tok-b/telemetry", "/api/v1/tok-c/telemetry"])
      assert.deepStrictEqual(JSON.parse(tb.received[0]!.body), [{ ts: T0, values: { t: 0 } }, { ts: T0 + 2, values: { t: 2 } }])
      assert.strictEqual(sink.skip?.(reading("zzz", 9)), "no ThingsBoard access token for device zzz")
      assert.isUndefined(sink.skip?.(reading("c", 9)))
    }).pipe(Effect.scoped))

  it.live("thingsboard: 400 about the telemetry refuses that device's items; a refused token is read again before the next attempt", () =>
    Effect.gen(function*() {
      const tb = yield* server((r, res) => {
        if (r.url.includes("/tok-a/")) res.writeHead(400).end("Invalid telemetry")
        else if (r.url.includes("/fixed-b/")) res.writeHead(200).end()
        else res.writeHead(404).end()
      })
      let reloads = 0
      const sink = makeThingsBoardSink({
        name: "tb",
        url: tb.url,
        timeoutMs: 5_000,
        tokens,
        source: "raw",
        reloadTokens: Effect.sync(() => {
          reloads += 1
          return new Map([...tokens, ["b", Redacted.make("fixed-b")]])
        })
      })
      const refused = yield* Effect.flip(sink.write([reading("a", 0), reading("b", 1)]))
      assert.deepStrictEqual([refused.reason, refused.status], ["Rejected", 400])
      assert.deepStrictEqual(refused.rejected.map((r) => r.index), [0])
      const unknown = yield* Effect.flip(sink.write([reading("b", 1)]))
      assert.deepStrictEqual([unknown.reason, unknown.status, reloads], ["Misconfigured", 404, 1])
      assert.include(unknown.detail, "its access token names no device there")
      yield* sink.write([reading("b", 1)])
      assert.strictEqual(tb.received.at(-1)!.url, "/api/v1/fixed-b/telemetry")
    }).pipe(Effect.scoped))

  it.live("webhook: the body is signed; 503 is retryable, 400 refuses with the body's excerpt, a redirect, 401 and 403 are misconfigurations", () =>
    Effect.gen(function*() {
      let status = 200
      const hook = yield* server((_, res) => {
        if (status === 302) res.writeHead(302, { location: "/elsewhere" }).end()
        else res.writeHead(status, { "content-type": "text/plain" }).end(status === 400 ? "item 2: unknown field 'values'" : "")
      })
      const sink = makeWebhookSink({ name: "hook", url: `${hook.url}/in?key=k`, timeoutMs: 5_000, headers: { "X-Api-Key": Redacted.make("k3y") }, secret: Redacted.make("s3cret"), source: "raw" })
      const batch = [reading("a", 0), reading("b", 1)]
      yield* sink.write(batch)
      const got = hook.received[0]!
      assert.strictEqual(got.url, "/in?key=k")
      assert.strictEqual(got.headers["x-bramble-signature"], webhookSignature(got.body, "s3cret"))
      assert.strictEqual(got.headers["x-api-key"], "k3y")
      assert.deepStrictEqual((JSON.parse(got.body) as { items: Array<{ id: string }> }).items.map((i) => i.id), ["READINGS:1", "READINGS:2"])

      const outcome = (s: number) =>
        Effect.gen(function*() {
          status = s
          return yield* Effect.flip(sink.write(batch))
        })
      const unavailable = yield* outcome(503)
      assert.deepStrictEqual([unavailable.reason, unavailable.status, unavailable.retryable], ["Unavailable", 503, true])
      const refused = yield* outcome(400)
      assert.deepStrictEqual([refused.reason, refused.status, refused.retryable], ["Rejected", 400, false])
      assert.strictEqual(refused.detail, "item 2: unknown field 'values'")
      assert.match(refused.message, /\(HTTP 400\): item 2: unknown field 'values'/)
      assert.deepStrictEqual(refused.rejected, [], "the webhook does not say which item: writeDurably halves")
      const moved = yield* outcome(302)
      assert.deepStrictEqual([moved.reason, moved.retryable], ["Misconfigured", true])
      const unauthorized = yield* outcome(401)
      assert.deepStrictEqual([unauthorized.reason, unauthorized.status, unauthorized.retryable], ["Misconfigured", 401, true])
      assert.include(unauthorized.detail, "the receiver of webhook target hook refused its credentials (HTTP 401): check its headers and signing secret")
      const forbidden = yield* outcome(403)
      assert.deepStrictEqual([forbidden.reason, forbidden.status], ["Misconfigured", 403])
      // Neither a secret header nor the URL's path and query (webhook URLs often hold secrets).
      for (const e of [unavailable, refused, moved, unauthorized, forbidden]) {
        assert.notInclude(e.message, "k3y")
        assert.notInclude(e.message, "/in?key")
      }
    }).pipe(Effect.scoped))

  it.live("webhook: a closed port is unavailable, a receiver that never answers is a timeout", () =>
    Effect.gen(function*() {
      // A server that accepts and never answers; and a port nobody listens on.
      const silent = yield* server(() => {})
      const closed = yield* server((_, res) => res.end())
      const closedUrl = closed.url
      yield* closed.close
      const write = (url: string, timeoutMs: number) =>
        Effect.flip(makeWebhookSink({ name: "hook", url, timeoutMs, headers: {}, secret: undefined, source: "raw" }).write([reading("a", 0)]))
      const refused: BatchWriteError = yield* write(closedUrl, 5_000)
      assert.deepStrictEqual([refused.reason, refused.status], ["Unavailable", undefined])
      assert.match(refused.detail, /ECONNREFUSED/)
      const timedOut = yield* write(silent.url, 300)
      assert.deepStrictEqual([timedOut.reason, timedOut.retryable], ["Timeout", true])
      // Garbage collections while it waits must not lose the time limit (nodejs/node#57736: a
      // timeout signal inside AbortSignal.any can be collected before it fires).
      const collect = forceGc()
      const collecting = setInterval(collect, 20)
      const afterGc = yield* write(silent.url, 300).pipe(
        Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.die("the POST outlived its 300 ms limit") }),
        Effect.ensuring(Effect.sync(() => clearInterval(collecting)))
      )
      assert.deepStrictEqual([afterGc.reason, afterGc.retryable], ["Timeout", true])
    }).pipe(Effect.scoped))
})

/** A full garbage collection on demand, without starting the test process with --expose-gc. */
const forceGc = (): (() => void) => {
  setFlagsFromString("--expose-gc")
  return runInNewContext("gc") as () => void
}

