/**
 * Two forwarders of one target — two nodes — on a real nats-server, delivering to a real HTTP
 * server: they share the target's consumer, and what a node took and never finished (it lost
 * its connection mid-request) is delivered by the other after `ack_wait`. Nothing is lost.
 * And a target whose credentials are refused is held, not drained into the dead letters.
 */
import { assert, describe, it } from "@effect/vitest"
import type { ForwardTarget } from "@bramble/config"
import { NatsClient } from "@bramble/nats"
import { defaultDecodeLimits, encodeReadingPayload, Subjects } from "@bramble/protocol"
import { Effect, Fiber } from "effect"
import { writeFileSync } from "node:fs"
import { createServer, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { runForwarder } from "../src/Forwarder.js"
import { makeForwarderStats } from "../src/ForwarderStats.js"
import { makeForwardSink } from "../src/Forwarders.js"
import { makeWebhookSink } from "../src/WebhookSink.js"
import { natsFixture } from "../../../test/support/NatsFixture.js"

const T0 = 1_700_000_000_000

/** A receiver: `/a` hangs while `hangA` (node A's receiver went silent), everything else is 200. */
const receiver = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ url: string; got: Map<string, Array<number>>; hangA: { value: boolean }; close: () => Promise<void> }>((resolve) => {
      const got = new Map<string, Array<number>>([["/a", []], ["/b", []]])
      const hangA = { value: false }
      const held: Array<ServerResponse> = []
      const s = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          const path = req.url ?? ""
          if (path === "/a" && hangA.value) {
            held.push(res)
            return
          }
          const items = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { items: Array<{ data: { ts: number } }> }).items
          got.get(path)?.push(...items.map((i) => i.data.ts))
          res.writeHead(200).end()
        })
      })
      const close = () =>
        new Promise<void>((done) => {
          s.closeAllConnections()
          s.close(() => done())
        })
      s.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, got, hangA, close }))
    })
  ),
  (r) => Effect.promise(r.close)
)

const target = (url: string): ForwardTarget => ({
  kind: "webhook",
  name: "shared",
  source: "raw",
  url,
  batchSize: 10,
  timeout: 1_000,
  retryCap: 500,
  startFrom: "new",
  headers: {}
})

describe("forwarders of one target on two nodes", () => {
  it.live("a batch a node held when it lost its connection is delivered by the other node after ack_wait; nothing is lost", () =>
    Effect.gen(function*() {
      const { server, client: publisher } = yield* natsFixture({ name: "forwarder", topology: true })
      const http = yield* receiver
      const connect = (name: string) => NatsClient.make({ servers: server.url, name })
      const a = yield* connect("node-a")
      const b = yield* connect("node-b")

      const start = (client: NatsClient["Service"], path: string) => {
        const t = target(`${http.url}${path}`)
        const stats = makeForwarderStats(t)
        const sink = makeWebhookSink({ name: t.name, url: t.url, timeoutMs: t.timeout, headers: {}, secret: undefined, source: t.source })
        return Effect.map(
          Effect.forkChild(Effect.provideService(runForwarder({ target: t, sink, stats, nodes: 2, decodeLimits: defaultDecodeLimits, ackWaitMs: 3_000 }), NatsClient, client)),
          (fiber) => ({ fiber, stats })
        )
      }
      const publish = (from: number, count: number) =>
        Effect.forEach(Array.from({ length: count }, (_, i) => from + i), (i) =>
          Effect.promise(() => publisher.js.publish(Subjects.ingestSubject(`dev-${i % 5}`, "env"), encodeReadingPayload({ ts: T0 + i, values: { t: i } }))), { discard: true })
      const delivered = () => new Set([...http.got.get("/a")!, ...http.got.get("/b")!])
      /** Polls `done` for up to 45 s; fails saying what was awaited. */
      const until = (what: () => string, done: Effect.Effect<boolean>) =>
        Effect.gen(function*() {
          for (let i = 0; i < 450; i++) {
            if (yield* done) return
            yield* Effect.sleep("100 millis")
          }
          assert.fail(what())
        })

      // Node A alone takes a batch and its receiver goes silent; then A loses its connection.
      const nodeA = yield* start(a, "/a")
      // A new target starts with what arrives after its consumer exists.
      yield* until(() => "A created the target's consumer", Effect.promise(() => publisher.jsm.consumers.info("READINGS", "bramble-fwd-shared").then(() => true, () => false)))
      http.hangA.value = true
      yield* publish(0, 10)
      yield* until(() => `A holds the batch (A: ${JSON.stringify(nodeA.stats)}; receiver got /a ${http.got.get("/a")!.length}, /b ${http.got.get("/b")!.length})`, Effect.sync(() => nodeA.stats.failures > 0))
      yield* Effect.promise(() => a.nc.close())

      // Node B gets what A held once ack_wait has passed, and everything after it.
      const nodeB = yield* start(b, "/b")
      yield* publish(10, 30)
      const all = Array.from({ length: 40 }, (_, i) => T0 + i)
      yield* until(() => `all 40 delivered (got ${delivered().size})`, Effect.sync(() => all.every((ts) => delivered().has(ts))))
      assert.deepStrictEqual(http.got.get("/a"), [], "A's receiver never answered")
      // B counts a batch as sent once the receiver's answer is back, a moment after the receiver has it.
      yield* until(() => `B counted 40 sent (counted ${nodeB.stats.sent})`, Effect.sync(() => nodeB.stats.sent >= 40))
      yield* Fiber.interrupt(nodeA.fiber)
      yield* Fiber.interrupt(nodeB.fiber)
    }).pipe(Effect.scoped))
})

describe("a forward target whose credentials are refused", () => {
  it.live("ThingsBoard refusing a device token holds its items (no dead letter), reports the setting to fix, and resumes when the token file is fixed", () =>
    Effect.gen(function*() {
      const { dir, client } = yield* natsFixture({ name: "forwarder-token", topology: true })
      // A ThingsBoard stand-in: two devices, with their tokens; any other token is 401.
      const got: Array<string> = []
      const tb = yield* Effect.acquireRelease(
        Effect.promise(() =>
          new Promise<{ url: string; close: () => Promise<void> }>((resolve) => {
            const s = createServer((req, res) => {
              const chunks: Array<Buffer> = []
              req.on("data", (c: Buffer) => chunks.push(c))
              req.on("end", () => {
                const device = req.url === "/api/v1/tok-a/telemetry" ? "a" : req.url === "/api/v1/tok-b/telemetry" ? "b" : undefined
                if (device === undefined) return void res.writeHead(401).end(JSON.stringify({ message: "Invalid device access token" }))
                for (const e of JSON.parse(Buffer.concat(chunks).toString("utf8")) as Array<{ ts: number }>) got.push(`${device}@${e.ts - T0}`)
                res.writeHead(200).end()
              })
            })
            s.listen(0, "127.0.0.1", () =>
              resolve({
                url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
                close: () => new Promise<void>((done) => {
                  s.closeAllConnections()
                  s.close(() => done())
                })
              }))
          })
        ),
        (r) => Effect.promise(r.close)
      )
      const tokensFile = join(dir, "tokens.json")
      writeFileSync(tokensFile, JSON.stringify({ a: "tok-a", b: "tok-typo" }))
      const t: ForwardTarget = { kind: "thingsboard", name: "tb", source: "raw", url: tb.url, batchSize: 10, timeout: 1_000, retryCap: 300, startFrom: "all", devices: [], tokensFile }
      const sink = yield* makeForwardSink(t, 0)
      const stats = makeForwarderStats(t)
      for (let i = 0; i < 6; i++) {
        yield* Effect.promise(() => client.js.publish(Subjects.ingestSubject(i % 2 === 0 ? "a" : "b", "env"), encodeReadingPayload({ ts: T0 + i, values: { t: i } })))
      }
      const fiber = yield* Effect.forkChild(Effect.provideService(runForwarder({ target: t, sink, stats, nodes: 1, decodeLimits: defaultDecodeLimits }), NatsClient, client))
      const until = (what: () => string, done: () => boolean) =>
        Effect.gen(function*() {
          for (let i = 0; i < 300; i++) {
            if (done()) return
            yield* Effect.sleep("100 millis")
          }
          assert.fail(what())
        })

      // b's token is wrong: a's readings land, b's are held; the target is unavailable, saying which setting to fix.
      yield* until(() => `held with a specific reason: ${JSON.stringify(stats)}`, () => stats.failures >= 3 && got.length === 3)
      assert.deepStrictEqual(got.sort(), ["a@0", "a@2", "a@4"])
      assert.isNumber(stats.unavailableSince)
      assert.include(stats.lastError, `ThingsBoard refused the access token of device b (forward target tb, HTTP 401): check forward[0].tokensFile (${tokensFile}, key "b")`)
      assert.notInclude(stats.lastError, "tok-typo")
      assert.strictEqual(stats.deadLettered, 0)
      assert.strictEqual(stats.sent, 0, "the batch is not acknowledged while part of it is held")

      // The operator fixes the token file: delivery resumes without a restart; nothing was dead-lettered.
      writeFileSync(tokensFile, JSON.stringify({ a: "tok-a", b: "tok-b" }))
      yield* until(() => `resumed: ${JSON.stringify(stats)} got ${got.join(",")}`, () => stats.sent === 6 && stats.unavailableSince === undefined)
      assert.deepStrictEqual(got.sort(), ["a@0", "a@2", "a@4", "b@1", "b@3", "b@5"], "what landed while b was held is not sent again")
      const deadLetters = yield* Effect.promise(() => client.jsm.streams.info("DEADLETTER"))
      assert.strictEqual(deadLetters.state.messages, 0)
      assert.strictEqual(stats.deadLettered, 0)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.scoped))
})
