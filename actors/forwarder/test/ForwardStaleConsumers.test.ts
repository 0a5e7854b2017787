/**
 * Consumers of forward targets removed from the cluster file: the rule (pure, with explicit
 * times) and the removal against a real nats-server, where a consumer another node still
 * uses — pulling, or holding a batch while its receiver refuses the credentials — is kept.
 */
import { assert, describe, it } from "@effect/vitest"
import type { ForwardTarget } from "@bramble/config"
import { ensureForwardConsumer, NatsClient } from "@bramble/nats"
import { defaultDecodeLimits, encodeReadingPayload, Subjects } from "@bramble/protocol"
import { Effect, Fiber } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { runForwarder } from "../src/Forwarder.js"
import { makeForwarderStats } from "../src/ForwarderStats.js"
import { type ConsumerSighting, isUnconfigured, makeIdleTracker, removeStaleForwardConsumers } from "../src/StaleConsumers.js"
import { makeWebhookSink } from "../src/WebhookSink.js"
import { natsFixture } from "../../../test/support/NatsFixture.js"

const sighting = (name: string, busy: boolean, position = "0/0", stream = "READINGS"): ConsumerSighting => ({ stream, name, busy, position, activity: busy ? "a pull request waiting" : "moving" })

describe("stale forward consumers - the rule", () => {
  it("only bramble-fwd-* consumers that no configured target reads on that stream are candidates", () => {
    const targets = [{ name: "tb", source: "raw" }, { name: "hook", source: "windows" }] as const
    assert.isFalse(isUnconfigured(targets, "READINGS", "bramble-fwd-tb"))
    assert.isFalse(isUnconfigured(targets, "AGGREGATES", "bramble-fwd-hook"))
    assert.isTrue(isUnconfigured(targets, "READINGS", "bramble-fwd-old"))
    assert.isTrue(isUnconfigured(targets, "READINGS", "bramble-fwd-hook"), "hook's source changed: its consumer on READINGS is left over")
    assert.isFalse(isUnconfigured(targets, "READINGS", "bramble-p3"), "not a forward consumer")
    assert.isFalse(isUnconfigured(targets, "READINGS", "my-own-consumer"))
    assert.isTrue(isUnconfigured([], "ALARMS", "bramble-fwd-alerts"), "every target removed")
  })

  it("removed once seen unused throughout the grace period; any use restarts its clock; in use is said once", () => {
    const tracker = makeIdleTracker(1_000)
    assert.deepStrictEqual(tracker.observe([sighting("bramble-fwd-a", false), sighting("bramble-fwd-b", true)], 0).inUse.map((s) => s.name), ["bramble-fwd-b"])
    assert.deepStrictEqual(tracker.observe([sighting("bramble-fwd-a", false), sighting("bramble-fwd-b", true)], 500), { remove: [], inUse: [] })
    // b stops being busy at 600: its clock starts then.
    assert.deepStrictEqual(tracker.observe([sighting("bramble-fwd-a", false), sighting("bramble-fwd-b", false)], 600).remove, [])
    assert.deepStrictEqual(tracker.observe([sighting("bramble-fwd-a", false), sighting("bramble-fwd-b", false)], 1_000).remove.map((s) => s.name), ["bramble-fwd-a"])
    // b moved between two looks (someone pulled and acknowledged): not unused.
    assert.deepStrictEqual(tracker.observe([sighting("bramble-fwd-b", false, "5/5")], 1_500).remove, [])
    assert.deepStrictEqual(tracker.observe([sighting("bramble-fwd-b", false, "5/5")], 2_400).remove, [])
    assert.deepStrictEqual(tracker.observe([sighting("bramble-fwd-b", false, "5/5")], 2_500).remove.map((s) => s.name), ["bramble-fwd-b"])
    // A consumer that disappears (another node removed it) is forgotten; one that comes back starts over.
    assert.deepStrictEqual(tracker.observe([], 3_000), { remove: [], inUse: [] })
    assert.deepStrictEqual(tracker.observe([sighting("bramble-fwd-a", false)], 3_100).remove, [])
    assert.deepStrictEqual(tracker.observe([sighting("bramble-fwd-a", false)], 4_100).remove.map((s) => s.name), ["bramble-fwd-a"])
  })
})


/** A receiver answering 401 to everything (a target whose credentials are wrong). */
const refusingReceiver = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ url: string; requests: { count: number }; close: () => Promise<void> }>((resolve) => {
      const requests = { count: 0 }
      const s = createServer((req, res) => {
        req.resume()
        req.on("end", () => {
          requests.count += 1
          res.writeHead(401).end("unauthorized")
        })
      })
      const close = () => new Promise<void>((done) => {
        s.closeAllConnections()
        s.close(() => done())
      })
      s.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, requests, close }))
    })
  ),
  (r) => Effect.promise(r.close)
)

const webhook = (name: string, url: string, source: "raw" | "alarms"): ForwardTarget => ({
  kind: "webhook",
  name,
  source,
  url,
  batchSize: 10,
  timeout: 1_000,
  retryCap: 300,
  startFrom: "new",
  headers: {}
})

describe("stale forward consumers - nats-server", () => {
  it.live("an unused consumer of a removed target is removed; configured ones, others' and ones in use are kept", () =>
    Effect.gen(function*() {
      const { server, client } = yield* natsFixture({ name: "fwd-stale", topology: true })
      const other = yield* NatsClient.make({ servers: server.url, name: "other-node" })
      const { jsm, js } = client
      const consumer = (target: string, stream = "READINGS", filterSubject = "readings.*.*.*") =>
        ensureForwardConsumer(jsm, { target, stream, filterSubject, ackWaitMs: 30_000, maxAckPending: 100, startFrom: "new" })
      yield* consumer("kept")
      yield* consumer("gone")
      yield* consumer("moved") // this file reads `moved` from windows now
      yield* Effect.promise(() => jsm.consumers.add("READINGS", { durable_name: "someone-else", ack_policy: "explicit" as never }))

      // Another node whose file still has two targets: one pulling (no traffic), one holding
      // a batch while its receiver refuses the credentials.
      const receiver = yield* refusingReceiver
      const otherNode = (name: string, source: "raw" | "alarms") => {
        const t = webhook(name, receiver.url, source)
        const stats = makeForwarderStats(t)
        const sink = makeWebhookSink({ name, url: t.url, timeoutMs: t.timeout, headers: {}, secret: undefined, source })
        return Effect.map(
          Effect.forkChild(Effect.provideService(runForwarder({ target: t, sink, stats, nodes: 2, decodeLimits: defaultDecodeLimits }), NatsClient, other)),
          (fiber) => ({ fiber, stats })
        )
      }
      const pulling = yield* otherNode("pulling", "alarms") // no alarms: it only ever waits
      const holding = yield* otherNode("holding", "raw")
      const names = (stream: string) =>
        Effect.promise(async () => {
          const out: Array<string> = []
          for await (const c of jsm.consumers.list(stream)) out.push(c.name)
          return out.sort()
        })
      const until = (what: string, done: Effect.Effect<boolean>) =>
        Effect.gen(function*() {
          for (let i = 0; i < 300; i++) {
            if (yield* done) return
            yield* Effect.sleep("100 millis")
          }
          assert.fail(`timed out waiting: ${what}`)
        })
      yield* until("both of the other node's consumers exist", Effect.map(Effect.all([names("READINGS"), names("ALARMS")]), ([r, a]) => a.includes("bramble-fwd-pulling") && r.includes("bramble-fwd-holding")))
      yield* Effect.promise(() => js.publish(Subjects.ingestSubject("dev-1", "env"), encodeReadingPayload({ ts: 1_700_000_000_000, values: { t: 1 } })))
      yield* until("the holding forwarder holds its batch", Effect.sync(() => holding.stats.unavailableSince !== undefined))

      const cleanup = yield* Effect.forkChild(Effect.provideService(
        removeStaleForwardConsumers({ targets: [{ name: "kept", source: "raw" }, { name: "moved", source: "windows" }], graceMs: 1_500, intervalMs: 200 }),
        NatsClient,
        client
      ))
      yield* until("gone and moved removed", Effect.map(names("READINGS"), (n) => !n.includes("bramble-fwd-gone") && !n.includes("bramble-fwd-moved")))
      // Well past the grace period: what is configured, not ours, or in use is still there.
      yield* Effect.sleep("4 seconds")
      assert.deepStrictEqual(yield* names("READINGS"), ["bramble-fwd-holding", "bramble-fwd-kept", "someone-else"])
      assert.deepStrictEqual(yield* names("ALARMS"), ["bramble-fwd-pulling"])
      assert.strictEqual(holding.stats.deadLettered, 0, "a refused credential dead-letters nothing")

      // The other node gets the new file: its forwarders stop, and their consumers go too.
      yield* Fiber.interrupt(pulling.fiber)
      yield* Fiber.interrupt(holding.fiber)
      // What `holding` held is still "ack pending" on the server (handed back, nobody pulls).
      assert.strictEqual((yield* Effect.promise(() => jsm.consumers.info("READINGS", "bramble-fwd-holding"))).num_ack_pending, 1)
      yield* until(
        "the other node's consumers removed once unused",
        Effect.map(Effect.all([names("READINGS"), names("ALARMS")]), ([r, a]) => r.join(",") === "bramble-fwd-kept,someone-else" && a.length === 0)
      )
      yield* Fiber.interrupt(cleanup)
    }).pipe(Effect.scoped))
})
