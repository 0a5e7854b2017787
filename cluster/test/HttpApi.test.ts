/**
 * The read-only HTTP API (`/api/v1`) against a real node (nats-server, VictoriaMetrics,
 * simulated DHT sensors): every route's answer, and every error status — 400 for a bad id or
 * query parameter (naming it), 404 for an unknown device, node or route, 405 for a write,
 * 503 when the partition's owner does not answer or there is none, 500 for a bug.
 *
 * The 503 and 500 cases run a second API server on the same NATS server whose cluster view
 * says another node ("ghost", "slow") owns every partition, or whose status fails: the real
 * forwarding code then asks a node that is not there, or one that never answers.
 */
import { assert, layer } from "@effect/vitest"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { parseAlarm, readWindowResult, type WindowResult } from "@bramble/protocol"
import { Context, Effect, Layer, Result } from "effect"
import type { ClusterView } from "../src/admin/ClusterView.js"
import { serveNodeHttp } from "../src/http/NodeHttp.js"
import { eventually } from "../../test/support/Eventually.js"
import { DEVICES, startTestNode, type TestNode } from "./TestNode.js"

class Fixture extends Context.Service<Fixture, TestNode>()("cluster/test/HttpApi/Fixture") {}

interface Answer<A = unknown> {
  readonly status: number
  readonly headers: Headers
  readonly body: A
}

const call = <A = unknown>(url: string, init?: RequestInit) =>
  Effect.promise(async (): Promise<Answer<A>> => {
    const response = await fetch(url, init)
    const text = await response.text()
    assert.include(response.headers.get("content-type") ?? "", "application/json", `${url} answers JSON`)
    return { status: response.status, headers: response.headers, body: (text === "" ? undefined : JSON.parse(text)) as A }
  })

interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly param?: string }
}

/** Asserts an error answer: its status, code, and (for 400) the parameter it names. */
const expectError = (answer: Answer, status: number, code: string, param?: string) => {
  assert.strictEqual(answer.status, status, JSON.stringify(answer.body))
  const body = answer.body as ErrorBody
  assert.strictEqual(body.error.code, code)
  assert.isTrue(body.error.message.length > 0)
  if (param !== undefined) assert.strictEqual(body.error.param, param)
}

const keyOf = (r: WindowResult) => `${r.sensor}/${r.metric}/${r.window}/${r.start}`

layer(Layer.effect(Fixture, startTestNode()), { excludeTestServices: true, timeout: "240 seconds" })("http api v1", (it) => {
  it.effect("api v1 - the index lists every route", () =>
    Effect.gen(function*() {
      const { node } = yield* Fixture
      const index = yield* call<{ api: string; node: string; routes: Array<{ path: string }> }>(`${node.httpUrl}/api/v1`)
      assert.strictEqual(index.status, 200)
      assert.strictEqual(index.body.api, "v1")
      assert.strictEqual(index.body.node, "n1")
      assert.deepStrictEqual(index.body.routes.map((r) => r.path), [
        "/api/v1/status",
        "/api/v1/nodes/<name>",
        "/api/v1/devices",
        "/api/v1/devices/<id>",
        "/api/v1/devices/<id>/windows",
        "/api/v1/alarms"
      ])
      assert.strictEqual((yield* call(`${node.httpUrl}/api/v1/`)).status, 200)
    }))

  it.effect("api v1 - status: members, partition owners and the answering node", () =>
    Effect.gen(function*() {
      const { node } = yield* Fixture
      const status = yield* call<{
        cluster: string
        answeredBy: string
        members: Array<{ node: string; state: string; health: string; partitions: Array<number>; status?: unknown }>
        partitions: { count: number; owners: Array<{ partition: number; owner: string | null }>; unowned: Array<number> }
        node: { node: string; partitions: Array<unknown> }
      }>(`${node.httpUrl}/api/v1/status`)
      assert.strictEqual(status.status, 200)
      assert.strictEqual(status.body.cluster, "admintest")
      assert.strictEqual(status.body.answeredBy, "n1")
      assert.deepStrictEqual(status.body.members.map((m) => [m.node, m.state, m.health]), [["n1", "alive", "ok"]])
      assert.deepStrictEqual(status.body.members[0]!.partitions, [0, 1, 2, 3])
      assert.isUndefined(status.body.members[0]!.status, "member statuses are under /nodes/<name>")
      assert.strictEqual(status.body.partitions.count, 4)
      assert.deepStrictEqual(status.body.partitions.owners.map((o) => [o.partition, o.owner]), [[0, "n1"], [1, "n1"], [2, "n1"], [3, "n1"]])
      assert.deepStrictEqual(status.body.partitions.unowned, [])
      assert.strictEqual(status.body.node.node, "n1")
      assert.strictEqual(status.body.node.partitions.length, 4)
      expectError(yield* call(`${node.httpUrl}/api/v1/status?verbose=1`), 400, "BadRequest", "verbose")
    }))

  it.effect("api v1 - nodes/<name>: this node's status; 404 for a stranger, 400 for a bad name", () =>
    Effect.gen(function*() {
      const { node } = yield* Fixture
      const self = yield* call<{ node: string; versions: { natsServer: string } }>(`${node.httpUrl}/api/v1/nodes/n1`)
      assert.strictEqual(self.status, 200)
      assert.strictEqual(self.body.node, "n1")
      assert.strictEqual(self.body.versions.natsServer, "2.9.10")
      const stranger = yield* call<ErrorBody>(`${node.httpUrl}/api/v1/nodes/n9`)
      expectError(stranger, 404, "NotFound")
      assert.include(stranger.body.error.message, "n1", "the error names the members")
      expectError(yield* call(`${node.httpUrl}/api/v1/nodes/n1%20x`), 400, "BadRequest")
    }))

  it.effect("api v1 - devices and devices/<id>: the latest readings, answered by the owner", () =>
    Effect.gen(function*() {
      const { node } = yield* Fixture
      const base = node.httpUrl!
      const devices = yield* eventually("every device listed", async () => {
        const answer = (await (await fetch(`${base}/api/v1/devices`)).json()) as { devices: Array<{ device: string; owner: string; values: Record<string, number> }> }
        return DEVICES.every((d) => answer.devices.some((s) => s.device === d)) ? answer : undefined
      })
      assert.isTrue(devices.devices.every((d) => d.owner === "n1" && typeof d.values["temperature"] === "number"))
      const device = yield* call<{ device: string; owner: string; partition: number; latest: Array<{ device: string; sensor: string; ts: number; values: Record<string, number> }> }>(
        `${base}/api/v1/devices/${DEVICES[1]}`
      )
      assert.strictEqual(device.status, 200)
      assert.strictEqual(device.body.device, DEVICES[1])
      assert.strictEqual(device.body.owner, "n1")
      assert.isAbove(device.body.latest.length, 0)
      assert.isTrue(device.body.latest.every((r) => r.device === DEVICES[1] && typeof r.values["humidity"] === "number"))
      // Trailing slash and URL-encoded ids name the same device.
      assert.strictEqual((yield* call(`${base}/api/v1/devices/${encodeURIComponent(DEVICES[1])}/`)).status, 200)
      expectError(yield* call(`${base}/api/v1/devices/nope`), 404, "NotFound")
      expectError(yield* call(`${base}/api/v1/devices/bad%20id`), 400, "BadRequest")
      expectError(yield* call(`${base}/api/v1/devices/a%2Fb`), 400, "BadRequest")
      expectError(yield* call(`${base}/api/v1/devices/a.b`), 400, "BadRequest")
      expectError(yield* call(`${base}/api/v1/devices/%E0%A4%A`), 400, "BadRequest")
      expectError(yield* call(`${base}/api/v1/devices/${DEVICES[1]}?full=1`), 400, "BadRequest", "full")
      expectError(yield* call(`${base}/api/v1/devices?x=1`), 400, "BadRequest", "x")
    }))

  it.effect("api v1 - devices/<id>/windows: the newest closed windows, newest first, as AGGREGATES holds them", () =>
    Effect.gen(function*() {
      const { node, nc } = yield* Fixture
      const base = node.httpUrl!
      const device = DEVICES[0]
      const url = `${base}/api/v1/devices/${device}/windows?window=2s&sensor=env&metric=temperature&limit=5`
      const answer = yield* eventually("five 2s windows of temperature", async () => {
        const response = await fetch(url)
        const body = (await response.json()) as { device: string; windows: Array<WindowResult> }
        return response.status === 200 && body.windows.length === 5 ? body : undefined
      }, { timeoutMs: 120_000 })
      assert.strictEqual(answer.device, device)
      const got = answer.windows
      assert.isTrue(got.every((r) => r.device === device && r.window === "2s" && r.sensor === "env" && r.metric === "temperature"))
      for (let i = 1; i < got.length; i++) assert.isBelow(got[i]!.start, got[i - 1]!.start, "newest first, one result per window")

      // Exactly what the stream holds for that series between the oldest and newest answer
      // (windows closing after the request only add newer starts).
      const stored = yield* Effect.promise(async () => {
        const js = jetstream(nc)
        const consumer = await js.consumers.get("AGGREGATES", { filter_subjects: `aggregates.${device}.env.temperature.2s` })
        const byKey = new Map<string, WindowResult>()
        const last = (await (await jetstreamManager(nc)).streams.info("AGGREGATES")).state.last_seq
        while (true) {
          const m = await consumer.next({ expires: 5_000 })
          if (m === null) break
          const r = readWindowResult(m.data)
          byKey.set(keyOf(r), r)
          if (m.info.pending === 0 || m.seq >= last) break
        }
        return [...byKey.values()]
      })
      const oldest = got.at(-1)!.start
      const newest = got[0]!.start
      const expected = stored.filter((r) => r.start >= oldest && r.start <= newest).sort((a, b) => b.start - a.start)
      assert.deepStrictEqual(got, expected)

      // Without filters: every series, at most `limit`, newest first.
      const all = yield* call<{ windows: Array<WindowResult> }>(`${base}/api/v1/devices/${device}/windows?limit=7`)
      assert.strictEqual(all.status, 200)
      assert.strictEqual(all.body.windows.length, 7)
      for (let i = 1; i < all.body.windows.length; i++) assert.isAtMost(all.body.windows[i]!.start, all.body.windows[i - 1]!.start)
      const byDefault = yield* call<{ windows: Array<WindowResult> }>(`${base}/api/v1/devices/${device}/windows`)
      assert.isAtMost(byDefault.body.windows.length, 100)
      assert.isAbove(byDefault.body.windows.length, 7)

      // Bad parameters say which one and what is allowed.
      const badWindow = yield* call<ErrorBody>(`${base}/api/v1/devices/${device}/windows?window=5m`)
      expectError(badWindow, 400, "BadRequest", "window")
      assert.include(badWindow.body.error.message, "2s", "lists the device's windows")
      expectError(yield* call(`${base}/api/v1/devices/${device}/windows?metric=pressure`), 400, "BadRequest", "metric")
      expectError(yield* call(`${base}/api/v1/devices/${device}/windows?sensor=a.b`), 400, "BadRequest", "sensor")
      for (const limit of ["0", "-1", "abc", "1.5", "10001"]) {
        const bad = yield* call<ErrorBody>(`${base}/api/v1/devices/${device}/windows?limit=${limit}`)
        expectError(bad, 400, "BadRequest", "limit")
        assert.include(bad.body.error.message, "1 to 10000")
      }
      expectError(yield* call(`${base}/api/v1/devices/${device}/windows?windows=2s`), 400, "BadRequest", "windows")
      expectError(yield* call(`${base}/api/v1/devices/${device}/windows?limit=1&limit=2`), 400, "BadRequest", "limit")
      expectError(yield* call(`${base}/api/v1/devices/nope/windows`), 404, "NotFound")
      expectError(yield* call(`${base}/api/v1/devices/${device}/windows/extra`), 404, "NotFound")
    }))

  it.effect("api v1 - alarms: raised alarms, one device's, or every latest event with all=true", () =>
    Effect.gen(function*() {
      const { node, nc } = yield* Fixture
      const base = node.httpUrl!
      type Alarms = { alarms: Array<{ device: string; rule: string; state: string; seq: number }> }
      const raised = yield* eventually("too-warm raised for greenhouse-2", async () => {
        const body = (await (await fetch(`${base}/api/v1/alarms`)).json()) as Alarms
        return body.alarms.some((a) => a.device === "greenhouse-2" && a.rule === "too-warm") ? body : undefined
      })
      assert.isTrue(raised.alarms.every((a) => a.state === "raised"))
      const one = yield* call<Alarms>(`${base}/api/v1/alarms?device=greenhouse-2&all=true`)
      assert.strictEqual(one.status, 200)
      assert.isTrue(one.body.alarms.length > 0 && one.body.alarms.every((a) => a.device === "greenhouse-2"))
      // The event is the one ALARMS holds.
      const stored = yield* Effect.promise(async () => {
        const m = await (await jetstreamManager(nc)).streams.getMessage("ALARMS", { last_by_subj: "alarms.greenhouse-2.too-warm" })
        return { seq: m!.seq, alarm: parseAlarm(m!.data) }
      })
      assert.isTrue(Result.isSuccess(stored.alarm))
      const event = one.body.alarms.find((a) => a.rule === "too-warm")!
      assert.isAtMost(event.seq, stored.seq)
      assert.deepStrictEqual((yield* call<Alarms>(`${base}/api/v1/alarms?device=barn`)).body.alarms, [])
      expectError(yield* call(`${base}/api/v1/alarms?all=yes`), 400, "BadRequest", "all")
      expectError(yield* call(`${base}/api/v1/alarms?device=bad%20id`), 400, "BadRequest", "device")
      expectError(yield* call(`${base}/api/v1/alarms?rule=x`), 400, "BadRequest", "rule")
    }))

  it.effect("api v1 - read-only (405 with Allow), unknown routes 404, HEAD answers without a body", () =>
    Effect.gen(function*() {
      const { node } = yield* Fixture
      const base = node.httpUrl!
      for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
        const answer = yield* call(`${base}/api/v1/devices`, { method })
        expectError(answer, 405, "MethodNotAllowed")
        assert.strictEqual(answer.headers.get("allow"), "GET, HEAD")
      }
      expectError(yield* call(`${base}/api/v1/nothing`), 404, "NotFound")
      expectError(yield* call(`${base}/api/v1/devices/${DEVICES[0]}/alarms`), 404, "NotFound")
      expectError(yield* call(`${base}/api/v1/v2/status`), 404, "NotFound")
      const head = yield* Effect.promise(() => fetch(`${base}/api/v1/status`, { method: "HEAD" }))
      assert.strictEqual(head.status, 200)
      assert.strictEqual(yield* Effect.promise(() => head.text()), "")
      // The dashboard's own paths keep working.
      assert.strictEqual((yield* call(`${base}/api/cluster`)).status, 200)
    }))

  it.effect("api v1 - 503 when the owner is missing, gone or silent; 500 for a bug, never a hang", () =>
    Effect.scoped(Effect.gen(function*() {
      const { node, nc } = yield* Fixture
      // Another node owns everything in this view; which one is set per case.
      let owner: string | undefined = "ghost"
      const view: ClusterView = {
        self: "n1",
        partitions: 4,
        members: Effect.sync(() => [
          { node: "n1", state: "alive" as const, partitions: [] },
          { node: "ghost", state: "alive" as const, partitions: [0, 1, 2, 3] }
        ]),
        owners: Effect.sync(() => [0, 1, 2, 3].map((partition) => ({ partition, owner: owner ?? null }))),
        ownerOf: () => Effect.sync(() => owner),
        owns: () => false
      }
      const admin = { ...node.admin, view, status: Effect.die(new Error("status is broken in this test")) }
      const server = yield* serveNodeHttp({
        host: "127.0.0.1",
        port: 0,
        cluster: "admintest",
        admin,
        nc,
        js: jetstream(nc),
        jsm: yield* Effect.promise(() => jetstreamManager(nc)),
        forwardTimeoutMs: 1_000
      })
      const device = `${server.url}/api/v1/devices/${DEVICES[0]}`

      const noResponders = yield* call<ErrorBody>(device)
      expectError(noResponders, 503, "Unavailable")
      assert.strictEqual(noResponders.headers.get("retry-after"), "2")
      assert.include(noResponders.body.error.message, "ghost")

      owner = undefined
      const unowned = yield* call<ErrorBody>(device)
      expectError(unowned, 503, "Unavailable")
      assert.include(unowned.body.error.message, "no owner")

      // An owner that takes the request and never answers: the forward times out.
      owner = "slow"
      const sub = nc.subscribe("bramble.admin.slow.device", { callback: () => {} })
      yield* Effect.addFinalizer(() => Effect.sync(() => sub.unsubscribe()))
      yield* Effect.promise(() => nc.flush())
      const silent = yield* call<ErrorBody>(device)
      expectError(silent, 503, "Unavailable")
      assert.include(silent.body.error.message, "did not answer")

      // A member that is not there.
      expectError(yield* call(`${server.url}/api/v1/nodes/ghost`), 503, "Unavailable")

      // A defect in what answers is a 500 with a JSON body, and the server goes on.
      expectError(yield* call(`${server.url}/api/v1/nodes/n1`), 500, "Internal")
      expectError(yield* call(`${server.url}/api/v1/status`), 500, "Internal")
      expectError(yield* call(`${server.url}/api/v1/devices/nope?x=1`), 400, "BadRequest", "x")
    })))
})
