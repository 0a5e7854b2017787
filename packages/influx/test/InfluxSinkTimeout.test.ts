/**
 * The timeout, on the TestClock: a server that accepts connections and never answers must
 * fail a write with `Timeout` exactly when the timeout has passed, and the request must be
 * aborted (its connection closed), not left hanging with a socket and a buffer.
 */
import { createServer, type Socket } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, type Layer } from "effect"
import { TestClock } from "effect/testing"
import { InfluxSink } from "@bramble/influx"
import { manyPoints, sinkFrom } from "./fixtures.js"
import { listenOnLoopback } from "./loopback.js"

/**
 * Accepts TCP connections, reads requests and never says a word. `requestClosed` waits
 * until the connection that carried the request is closed (undici may open a spare, idle
 * one after an abort; that one carries nothing).
 */
const silentServer = Effect.gen(function*() {
  const sockets = new Set<Socket>()
  const requested = yield* Deferred.make<void>()
  const requestClosed = yield* Deferred.make<void>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.once("data", () => {
      Deferred.doneUnsafe(requested, Effect.void)
      socket.on("close", () => Deferred.doneUnsafe(requestClosed, Effect.void))
    })
    socket.on("close", () => sockets.delete(socket))
  })
  const port = yield* listenOnLoopback(server, () => {
    for (const socket of sockets) socket.destroy()
  })
  return {
    url: `http://127.0.0.1:${port}`,
    requested: Deferred.await(requested),
    requestClosed: Deferred.await(requestClosed)
  }
})

describe("InfluxSink timeout", () => {
  for (const [name, layerFor] of [
    ["v2", (url: string) => InfluxSink.layerV2({ url, org: "bramble", bucket: "bramble" })],
    ["v1", (url: string) => InfluxSink.layerV1({ url, database: "bramble" })]
  ] as const satisfies ReadonlyArray<readonly [string, (url: string) => Layer.Layer<InfluxSink, unknown>]>) {
    it.effect(`timeout ${name} - a silent server fails the write with Timeout after the default 10 s and the request is aborted`, () =>
      Effect.gen(function*() {
        const server = yield* silentServer
        const sink = yield* sinkFrom(layerFor(server.url))
        const fiber = yield* Effect.forkChild(Effect.flip(sink.write(manyPoints(10))))
        yield* server.requested

        yield* TestClock.adjust("9999 millis")
        assert.isUndefined(fiber.pollUnsafe(), "still waiting before the timeout")
        yield* TestClock.adjust("1 millis")
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error.reason, "Timeout")
        assert.match(error.detail, /no answer within 10s/)

        yield* server.requestClosed
      }))
  }
})
