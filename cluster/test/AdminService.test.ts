/**
 * The admin actor against a real node (nats-server, VictoriaMetrics, simulated sensors):
 * Schema-typed replies on every endpoint, typed error replies for bad requests, the NATS
 * micro-services discovery, device queries answered on the node and cluster-wide subjects,
 * and restarting an actor.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { NatsClient } from "@bramble/nats"
import { Admin } from "@bramble/protocol"
import { Svcm } from "@nats-io/services"
import type { NatsConnection } from "@nats-io/transport-node"
import { Context, Effect, Layer, Result, Schema } from "effect"
import { adminRequest, callCluster, callNode } from "../src/client/AdminClient.js"
import { makeActorRegistry } from "../src/admin/ActorRegistry.js"
import { decodeAdminRequest, serveAdmin } from "../src/admin/AdminService.js"
import type { ClusterView } from "../src/admin/ClusterView.js"
import { renderMembers, renderPartitions } from "../src/cli/ClusterMapCommand.js"
import { eventually } from "../../test/support/Eventually.js"
import { DEVICES, startTestNode, type TestNode } from "./TestNode.js"

class Fixture extends Context.Service<Fixture, TestNode>()("cluster/test/AdminService/Fixture") {}

const request = (nc: NatsConnection, subject: string, body?: string) =>
  Effect.promise(() => nc.request(subject, body, { timeout: 10_000 }))

const json = (data: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(data))

/** The reply must be an AdminError with this reason, carried in the micro-services error headers too. */
const expectAdminError = (msg: { data: Uint8Array; headers?: { get(key: string): string } | undefined }, reason: Admin.AdminErrorReason) => {
  const error = Schema.decodeUnknownSync(Admin.AdminError)(json(msg.data))
  assert.strictEqual(error.reason, reason, error.message)
  assert.strictEqual(msg.headers?.get("Nats-Service-Error-Code"), String(Admin.adminErrorCode(reason)))
  assert.isTrue((msg.headers?.get("Nats-Service-Error") ?? "").length > 0)
  return error
}

layer(Layer.effect(Fixture, startTestNode()), { excludeTestServices: true, timeout: "180 seconds" })("admin service", (it) => {
  it.effect("status - an empty request gets the node's status, Schema-typed, with versions, rates and lag", () =>
    Effect.gen(function*() {
      const { nc, node } = yield* Fixture
      const msg = yield* request(nc, "bramble.admin.n1.status")
      const status = Schema.decodeUnknownSync(Admin.NodeStatus)(json(msg.data))
      assert.strictEqual(status.node, "n1")
      assert.strictEqual(status.versions.natsServer, nc.info?.version)
      assert.match(status.versions.bramble, /^\d+\.\d+\.\d+/)
      assert.strictEqual(status.versions.node, process.version)
      assert.deepStrictEqual(status.partitions.map((p) => p.partition), [0, 1, 2, 3])
      assert.strictEqual(status.http, node.httpUrl)
      // Readings flow: eventually the rates and every partition's lag are reported.
      const busy = yield* eventually("readings flowing and lag reported", async () => {
        const s = await Effect.runPromise(callNode(nc, "n1", Admin.AdminCalls.status, {}))
        return s.rates.readingsIn > 0 && s.lag !== undefined && s.partitions.every((p) => p.lag !== undefined) ? s : undefined
      })
      assert.isAbove(busy.totals.received, 0)
      assert.isAtLeast(busy.sensors.length, DEVICES.length)
    }))

  it.effect("discovery - the node registers the `bramble` NATS micro-service with its endpoints", () =>
    Effect.gen(function*() {
      const { nc } = yield* Fixture
      const infos = yield* Effect.promise(async () => {
        const out: Array<{ name: string; metadata?: Record<string, string>; endpoints: Array<{ name: string; subject: string }> }> = []
        for await (const info of await new Svcm(nc as never).client().info(Admin.ADMIN_SERVICE)) out.push(info)
        return out
      })
      assert.strictEqual(infos.length, 1)
      const info = infos[0]!
      assert.strictEqual(info.metadata?.["node"], "n1")
      const subjects = info.endpoints.map((e) => e.subject)
      for (const call of Object.values(Admin.AdminCalls)) {
        assert.include(subjects, `bramble.admin.n1.${call.name}`)
        if (call.clusterWide) assert.include(subjects, `bramble.admin.${call.name}`)
      }
    }))

  it.effect("errors - bad requests get typed AdminError replies, never silence", () =>
    Effect.gen(function*() {
      const { nc } = yield* Fixture
      const notJson = expectAdminError(yield* request(nc, "bramble.admin.n1.device", "{oops"), "BadRequest")
      assert.include(notJson.message, "not JSON")
      const badId = expectAdminError(yield* request(nc, "bramble.admin.device", JSON.stringify({ device: "no such.device" })), "BadRequest")
      assert.include(badId.message, "device")
      expectAdminError(yield* request(nc, "bramble.admin.n1.device", JSON.stringify({})), "BadRequest")
      expectAdminError(yield* request(nc, "bramble.admin.device", JSON.stringify({ device: "never-seen" })), "NotFound")
      expectAdminError(yield* request(nc, "bramble.admin.n1.restart", JSON.stringify({ actor: "nobody" })), "NotFound")
      expectAdminError(yield* request(nc, "bramble.admin.n1.restart", JSON.stringify({ actor: "storage" })), "BadRequest")
      // The client side decodes the same replies into typed failures.
      const failed = yield* Effect.result(callCluster(nc, Admin.AdminCalls.device, { device: "never-seen" }))
      assert.isTrue(Result.isFailure(failed))
      if (Result.isFailure(failed)) {
        assert.strictEqual(failed.failure._tag, "AdminError")
        assert.strictEqual((failed.failure as Admin.AdminError).reason, "NotFound")
      }
      const nobody = yield* Effect.result(adminRequest(nc, "bramble.admin.nobody.status", Admin.AdminCalls.status, {}, 2_000))
      assert.isTrue(Result.isFailure(nobody) && nobody.failure._tag === "AdminRequestFailed" && nobody.failure.reason === "NoResponders")
    }))

  it.effect("device - answered on the cluster-wide subject and the owner's, with latest reading, open and closed windows", () =>
    Effect.gen(function*() {
      const { nc } = yield* Fixture
      const device = DEVICES[0]
      const state = yield* eventually("a closed window for the device", async () => {
        const s = await Effect.runPromise(callCluster(nc, Admin.AdminCalls.device, { device }))
        return s.recentWindows.length > 0 && s.openWindows.length > 0 && s.forecasts.length > 0 ? s : undefined
      }, { timeoutMs: 90_000 })
      assert.strictEqual(state.device, device)
      assert.strictEqual(state.owner, "n1")
      assert.isTrue(state.live)
      assert.deepStrictEqual(state.latest.map((r) => r.sensor), ["env"])
      assert.hasAllKeys(state.latest[0]!.values, ["temperature", "humidity"])
      assert.isTrue(state.recentWindows.every((w) => w.device === device && w.count > 0))
      assert.deepStrictEqual([...new Set(state.openWindows.map((w) => w.metric))].sort(), ["humidity", "temperature"])
      assert.deepStrictEqual(state.alarms, [])
      assert.isTrue(state.forecasts.every((f) => f.device === device && f.basedOn > 0 && f.start >= state.recentWindows[0]!.end))
      // greenhouse-2's rule is raised: the owner reports it with the event that raised it.
      const alarmed = yield* eventually("the too-warm alarm of greenhouse-2", async () => {
        const s = await Effect.runPromise(callCluster(nc, Admin.AdminCalls.device, { device: "greenhouse-2" }))
        return s.alarms.length > 0 ? s : undefined
      })
      assert.deepStrictEqual(alarmed.alarms.map((a) => [a.device, a.rule, a.state]), [["greenhouse-2", "too-warm", "raised"]])
      // The owner's own subject answers the same device.
      const direct = yield* callNode(nc, "n1", Admin.AdminCalls.device, { device })
      assert.strictEqual(direct.partition, state.partition)
    }))

  it.effect("devices, members, partitions - cluster-wide answers from the log and the membership view", () =>
    Effect.gen(function*() {
      const { nc } = yield* Fixture
      const devices = yield* eventually("every simulated device listed", async () => {
        const d = await Effect.runPromise(callCluster(nc, Admin.AdminCalls.devices, {}))
        return DEVICES.every((name) => d.devices.some((x) => x.device === name)) ? d : undefined
      })
      for (const d of devices.devices) {
        assert.strictEqual(d.owner, "n1")
        assert.isTrue("temperature" in d.values)
      }
      const members = yield* callCluster(nc, Admin.AdminCalls.members, {})
      assert.deepStrictEqual(members.members.map((m) => [m.node, m.state, m.partitions.length]), [["n1", "alive", 4]])
      const partitions = yield* callCluster(nc, Admin.AdminCalls.partitions, {})
      assert.strictEqual(partitions.partitions, 4)
      assert.deepStrictEqual(partitions.owners.map((o) => o.owner), ["n1", "n1", "n1", "n1"])
      // The one members/partitions call carries what `bramble members|partitions` show during a failover.
      const self = members.members[0]!
      assert.strictEqual(members.answeredBy, "n1")
      assert.isTrue(members.fresh)
      assert.isString(self.incarnation)
      assert.isAtLeast(self.heartbeatAgeMs ?? -1, 0)
      for (const o of partitions.owners) {
        assert.strictEqual(o.incarnation, self.incarnation, `partition ${o.partition} is held by this incarnation`)
        assert.strictEqual(o.target, "n1")
        assert.isAtLeast(o.leaseAgeMs ?? -1, 0)
        assert.isAtLeast(o.pending ?? -1, 0, `partition ${o.partition}'s lag`)
      }
      assert.include(renderPartitions(partitions).replace(/\x1b\[[0-9;]*m/g, ""), "every partition is where it should be")
      assert.match(renderMembers(members).replace(/\x1b\[[0-9;]*m/g, ""), /n1\s+alive\s+\S+\s+4\s+0-3\s/)
      const alarms = yield* eventually("the raised alarm listed cluster-wide", async () => {
        const a = await Effect.runPromise(callCluster(nc, Admin.AdminCalls.alarms, {}))
        return a.alarms.length > 0 ? a : undefined
      })
      assert.deepStrictEqual(alarms.alarms.map((a) => [a.device, a.rule, a.state]), [["greenhouse-2", "too-warm", "raised"]])
      assert.isAbove(alarms.alarms[0]!.value ?? 0, 12)
      const none = yield* callCluster(nc, Admin.AdminCalls.alarms, { device: "barn" })
      assert.deepStrictEqual(none.alarms, [])
    }))

  it.effect("actors and restart - partitions, sensors, storage and aggregators listed; a restart is counted", () =>
    Effect.gen(function*() {
      const { nc } = yield* Fixture
      const before = yield* eventually("aggregators running", async () => {
        const a = await Effect.runPromise(callNode(nc, "n1", Admin.AdminCalls.actors, {}))
        return a.actors.some((x) => x.kind === "aggregator") ? a : undefined
      })
      const names = before.actors.map((a) => a.name)
      for (const p of [0, 1, 2, 3]) assert.include(names, `partition-${p}`)
      assert.include(names, "storage")
      for (const d of DEVICES) assert.include(names, `sensor-${d}-env`)
      const storage = before.actors.find((a) => a.name === "storage")!
      assert.strictEqual(storage.kind, "storage")
      assert.isAbove(storage.mailboxCapacity, 0)
      const restarts = (list: Admin.ActorsReply, name: string) => list.actors.find((a) => a.name === name)?.restarts ?? -1
      const reply = yield* callNode(nc, "n1", Admin.AdminCalls.restart, { actor: "partition-1" })
      assert.strictEqual(reply.actor, "partition-1")
      yield* eventually("partition-1 restarted and running", async () => {
        const a = await Effect.runPromise(callNode(nc, "n1", Admin.AdminCalls.actors, {}))
        const p = a.actors.find((x) => x.name === "partition-1")
        return p !== undefined && p.state === "running" && restarts(a, "partition-1") === restarts(before, "partition-1") + 1 ? a : undefined
      })
      // A device aggregator is restarted through its partition.
      const aggregator = before.actors.find((a) => a.kind === "aggregator")!
      const viaPartition = yield* callNode(nc, "n1", Admin.AdminCalls.restart, { actor: aggregator.name })
      assert.include(viaPartition.message, "partition-")
    }))

  it.effect("device - asked on any node, answered by the owner: a non-owner forwards, and refuses when asked directly", () =>
    Effect.gen(function*() {
      const { nc, node } = yield* Fixture
      // A second admin actor, "n2", that owns nothing: the cluster-wide queue group now
      // delivers device queries to either node.
      const client = yield* NatsClient.make({ servers: node.natsUrl, name: "bramble-admin-test-n2" })
      const n2: ClusterView = {
        self: "n2",
        partitions: 4,
        members: Effect.succeed([]),
        owners: Effect.succeed([0, 1, 2, 3].map((partition) => ({ partition, owner: "n1" }))),
        ownerOf: () => Effect.succeed("n1"),
        owns: () => false
      }
      yield* serveAdmin({
        node: { ...node, name: "n2", httpUrl: undefined, partitions: [], sensors: [] },
        config: node.config,
        registry: makeActorRegistry(),
        view: n2
      }).pipe(Effect.provideService(NatsClient, client))
      const device = DEVICES[1]
      const direct = yield* Effect.result(callNode(nc, "n2", Admin.AdminCalls.device, { device }))
      assert.isTrue(Result.isFailure(direct) && direct.failure._tag === "AdminError" && direct.failure.reason === "NotOwner")
      if (Result.isFailure(direct)) assert.include(direct.failure.message, "ask n1")
      const answers = yield* Effect.forEach(
        Array.from({ length: 16 }, (_, i) => i),
        () => callCluster(nc, Admin.AdminCalls.device, { device }),
        { concurrency: 4 }
      )
      assert.isTrue(answers.every((a) => a.device === device && a.owner === "n1" && a.latest.length === 1))
      // Both nodes took part: n2 received some of the queue group's requests and forwarded them.
      const stats = yield* Effect.promise(async () => {
        const out: Array<{ metadata?: Record<string, string>; endpoints?: Array<{ subject: string; num_requests: number }> }> = []
        for await (const s of await new Svcm(nc as never).client().stats(Admin.ADMIN_SERVICE)) out.push(s)
        return out
      })
      const served = (who: string) =>
        stats.find((s) => s.metadata?.["node"] === who)?.endpoints?.find((e) => e.subject === "bramble.admin.device")?.num_requests ?? 0
      assert.isAtLeast(served("n1") + served("n2"), 16)
      assert.isAbove(served("n2"), 0, "the queue group never picked n2 in 16 requests")
    }))

  it.effect("config - show returns the running file; validate checks a file's text", () =>
    Effect.gen(function*() {
      const { nc, file } = yield* Fixture
      const shown = yield* callNode(nc, "n1", Admin.AdminCalls.configShow, {})
      assert.strictEqual((shown.config as { cluster: { name: string } }).cluster.name, "admintest")
      const good = yield* callNode(nc, "n1", Admin.AdminCalls.configValidate, { text: file })
      assert.isTrue(good.valid, good.message)
      const bad = yield* callNode(nc, "n1", Admin.AdminCalls.configValidate, { text: file.replace("partitions: 4", "partitions: four"), file: "x.yaml" })
      assert.isFalse(bad.valid)
      assert.include(bad.message, "cluster.partitions")
    }))
})

describe("admin protocol", () => {
  it("request decoding - an empty body is {}, a wrong type is a BadRequest", () => {
    const empty = decodeAdminRequest(Admin.AdminCalls.status, new Uint8Array())
    assert.isTrue(Result.isSuccess(empty))
    const device = decodeAdminRequest(Admin.AdminCalls.device, new TextEncoder().encode(`{"device":"barn"}`))
    assert.deepStrictEqual(Result.getOrThrow(device), { device: "barn" })
    const wrong = decodeAdminRequest(Admin.AdminCalls.device, new TextEncoder().encode(`{"device":42}`))
    assert.isTrue(Result.isFailure(wrong) && wrong.failure.reason === "BadRequest")
  })
})
