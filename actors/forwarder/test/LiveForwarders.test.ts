/**
 * Forward targets changed while the node runs (docs/live-config.md): what a new version
 * changes (pure), and the node's forwarders following it on a real nats-server with a real
 * HTTP receiver — a changed target keeps its consumer (what the receiver already has is not
 * sent again, nothing is skipped), an added one starts, a removed one stops, and a version
 * whose secret cannot be read changes nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ClusterConfig, type ForwardTarget, parseClusterConfig } from "@bramble/config"
import { NatsClient } from "@bramble/nats"
import { encodeReadingPayload, Subjects } from "@bramble/protocol"
import type { Restartable } from "@bramble/runtime"
import { Effect, Result } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { forwardChanges, startForwarders } from "../src/Forwarders.js"
import { natsFixture } from "../../../test/support/NatsFixture.js"

const T0 = 1_700_000_000_000

const webhook = (name: string, url: string, extra: Partial<ForwardTarget> = {}): ForwardTarget =>
  ({ kind: "webhook", name, source: "raw", url, batchSize: 10, timeout: 1_000, retryCap: 500, startFrom: "new", headers: {}, ...extra }) as ForwardTarget

describe("forward targets of a new version", () => {
  it("added, removed and changed by name; a changed source is said; the same target decoded alike is no change", () => {
    const a = webhook("a", "http://127.0.0.1:1/a")
    const b = webhook("b", "http://127.0.0.1:1/b")
    const c = webhook("c", "http://127.0.0.1:1/c")
    assert.deepStrictEqual(forwardChanges([a, b, c], [a, webhook("b", "http://127.0.0.1:1/b2"), webhook("c", c.url, { source: "windows" }), webhook("d", "http://127.0.0.1:1/d")]), {
      added: ["d"],
      removed: [],
      changed: ["b", "c"],
      sourceChanged: ["c"]
    })
    assert.deepStrictEqual(forwardChanges([a, b], [{ ...a }]), { added: [], removed: ["b"], changed: [], sourceChanged: [] })
  })
})

/** A receiver answering 200 and keeping the readings' offsets from T0 per path. */
const receiver = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ url: string; got: (path: string) => Array<number>; close: () => Promise<void> }>((resolve) => {
      const got = new Map<string, Array<number>>()
      const s = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          const items = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { items: Array<{ data: { ts: number } }> }).items
          got.set(req.url ?? "", [...(got.get(req.url ?? "") ?? []), ...items.map((i) => i.data.ts - T0)])
          res.writeHead(200).end()
        })
      })
      s.listen(0, "127.0.0.1", () =>
        resolve({
          url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
          got: (path) => [...(got.get(path) ?? [])].sort((x, y) => x - y),
          close: () => new Promise<void>((done) => {
            s.closeAllConnections()
            s.close(() => done())
          })
        }))
    })
  ),
  (r) => Effect.promise(r.close)
)

const config = (targets: ReadonlyArray<ForwardTarget>): ClusterConfig => {
  const parsed = Result.getOrThrow(parseClusterConfig(`
cluster: { name: home }
nodes: [{ name: pi1 }]
sink: { kind: influx-v2, url: "http://127.0.0.1:8086" }
`))
  return { ...parsed, forward: targets }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

describe("the node's forwarders following new versions", () => {
  it.live("a changed target keeps its consumer; an added one starts; a removed one stops; a missing secret changes nothing", () =>
    Effect.gen(function*() {
      const { client } = yield* natsFixture({ name: "forwarders-live", topology: true })
      const http = yield* receiver
      const workers = new Set<string>()
      const registry: Restartable = {
        restartable: (name, _kind, effect) => Effect.acquireUseRelease(Effect.sync(() => workers.add(name)), () => effect, () => Effect.sync(() => workers.delete(name)))
      }
      const publish = (offsets: ReadonlyArray<number>) =>
        Effect.forEach(offsets, (i) =>
          Effect.promise(() => client.js.publish(Subjects.ingestSubject(`dev-${i % 3}`, "env"), encodeReadingPayload({ ts: T0 + i, values: { t: i } }))), { discard: true })
      const until = (what: () => string, done: () => boolean | Promise<boolean>) =>
        Effect.gen(function*() {
          for (let i = 0; i < 300; i++) {
            if (yield* Effect.promise(async () => done())) return
            yield* Effect.sleep("100 millis")
          }
          assert.fail(what())
        })
      // A new target starts with what arrives after its consumer exists: wait for it.
      const consumerExists = (name: string) =>
        until(() => `consumer ${name} created`, () => client.jsm.consumers.info("READINGS", name).then(() => true, () => false))

      const keep = webhook("keep", `${http.url}/keep`)
      const forwarders = yield* startForwarders({ config: config([keep]), registry }).pipe(Effect.provideService(NatsClient, client))
      yield* consumerExists("bramble-fwd-keep")
      yield* publish(range(0, 10))
      // Counted once acknowledged: nothing of 0..9 is left to deliver again.
      yield* until(() => `keep sent 0..9 (${JSON.stringify(forwarders.stats())})`, () => (forwarders.stats()[0]?.sent ?? 0) >= 10)
      assert.deepStrictEqual(http.got("/keep"), range(0, 10))

      // Version 2: keep goes to another URL; added is new.
      const v2 = yield* forwarders.prepare(config([webhook("keep", `${http.url}/keep2`), webhook("added", `${http.url}/added`)]))
      assert.deepStrictEqual(v2.changes, { added: ["added"], removed: [], changed: ["keep"], sourceChanged: [] })
      assert.deepStrictEqual([...workers].sort(), ["forward-keep"], "prepare alone changes nothing")
      yield* v2.apply
      assert.deepStrictEqual(forwarders.targets().map((t) => t.url), [`${http.url}/keep2`, `${http.url}/added`])
      yield* consumerExists("bramble-fwd-added")
      yield* publish(range(10, 20))
      yield* until(() => `keep2 and added got 10..19 (keep2 ${http.got("/keep2")}, added ${http.got("/added")})`, () =>
        http.got("/keep2").length >= 10 && http.got("/added").length >= 10)
      // The same consumer: the new URL gets what came after, nothing the old one had.
      assert.deepStrictEqual(http.got("/keep2"), range(10, 20))
      assert.deepStrictEqual(http.got("/keep"), range(0, 10))
      assert.deepStrictEqual(http.got("/added"), range(10, 20), "a new target starts with what arrives after it")
      assert.strictEqual(forwarders.stats()[0]!.sent, 20, "the changed target keeps its counters")

      // A version whose new target's secret is not set: refused whole, nothing stops or starts.
      const missing = yield* Effect.result(forwarders.prepare(config([webhook("signed", `${http.url}/signed`, { secretEnv: "BRAMBLE_TEST_UNSET_SECRET" } as Partial<ForwardTarget>)])))
      assert.isTrue(Result.isFailure(missing))
      if (Result.isFailure(missing)) assert.include(missing.failure.message, "BRAMBLE_TEST_UNSET_SECRET")
      assert.deepStrictEqual(forwarders.targets().map((t) => t.name), ["keep", "added"])

      // Version 3: added is removed. It stops; keep goes on.
      const v3 = yield* forwarders.prepare(config([webhook("keep", `${http.url}/keep2`)]))
      assert.deepStrictEqual(v3.changes, { added: [], removed: ["added"], changed: [], sourceChanged: [] })
      yield* v3.apply
      assert.deepStrictEqual([...workers].sort(), ["forward-keep"])
      yield* publish(range(20, 30))
      yield* until(() => `keep2 got 20..29 (${http.got("/keep2")})`, () => http.got("/keep2").length >= 20)
      assert.deepStrictEqual(http.got("/keep2"), range(10, 30))
      assert.deepStrictEqual(http.got("/added"), range(10, 20), "nothing more reached the removed target")
      assert.deepStrictEqual(forwarders.stats().map((s) => s.name), ["keep"])
    }).pipe(Effect.scoped), 60_000)
})
