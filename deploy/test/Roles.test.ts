/**
 * The roles' permissions as data, how the renderer writes them (including the 2.9 trap of an
 * empty allow list), and the partition function device permissions rely on, checked against
 * nats-server's own `{{partition(n,1)}}` mapping.
 */
import { parseClusterConfig } from "@bramble/config"
import { assert, describe, it } from "@effect/vitest"
import { connect } from "@nats-io/transport-node"
import fc from "fast-check"
import { Effect, Result } from "effect"
import {
  clusterRoles,
  devicePartition,
  inboxPrefixFor,
  natsUsersFor,
  permissionsOf,
  renderNatsServerConf,
  scopedTempDir,
  startNatsServer,
  userNameOf
} from "../src/index.js"

const config = Result.getOrThrow(parseClusterConfig([
  "cluster: { name: home, partitions: 8 }",
  "nodes: [{ name: pi-1 }]",
  "sink: { kind: influx-v2, url: \"http://x\" }",
  "security:",
  "  credentials: /c",
  "  devices: [{ id: door }, { id: meter, transport: nats }]"
].join("\n")))

describe("roles", () => {
  it("every user the cluster file implies, with prefixed names no device id can take", () => {
    assert.deepStrictEqual(clusterRoles(config).map(userNameOf), ["node:pi-1", "admin", "dashboard", "device:door", "device:meter"])
  })

  it("a device may publish its own ingest and readings subjects (its partition only) and read its own alarms and commands", () => {
    const door = permissionsOf({ kind: "device", device: "door", transport: "mqtt" }, 8)
    const p = devicePartition("door", 8)
    assert.deepStrictEqual(door.publish.allow, ["ingest.door.*", `readings.${p}.door.*`])
    assert.deepStrictEqual(door.subscribe.allow, ["alarms.door", "alarms.door.>", "commands.door", "commands.door.>", "$MQTT.sub.>"])
    assert.deepStrictEqual(door.allowedConnectionTypes, ["MQTT"])
    const meter = permissionsOf({ kind: "device", device: "meter", transport: "nats" }, 8)
    assert.deepStrictEqual(meter.subscribe.allow, ["alarms.meter", "alarms.meter.>", "commands.meter", "commands.meter.>", "_INBOX.device.meter.>"])
    assert.deepStrictEqual(meter.allowedConnectionTypes, ["STANDARD"])
    assert.strictEqual(inboxPrefixFor({ kind: "device", device: "meter", transport: "nats" }), "_INBOX.device.meter")
  })

  it("routed topics: a device publishes those whose device wildcard is its own id, and every topic of a route that lists it; a payload's device is the nodes' alone", () => {
    const routed = Result.getOrThrow(parseClusterConfig([
      "cluster: { name: home, partitions: 8 }",
      "nodes: [{ name: pi-1 }]",
      "sink: { kind: influx-v2, url: \"http://x\" }",
      "ingest:",
      "  routes:",
      "    - { name: dht, topic: dht/+device, dialect: json }",
      "    - { name: home, topic: home/+room/+metric, dialect: value, device: \"{room}\" }",
      "    - { name: collector, topic: sensors/#, dialect: json, deviceField: sensor_id }",
      "    - { name: gw, topic: \"gw/+line/#rest\", dialect: line-protocol, deviceTag: host, publishers: [door] }",
      "security:",
      "  credentials: /c",
      "  devices: [{ id: door }, { id: meter, transport: nats }]"
    ].join("\n")))
    const allowed = (device: string) => natsUsersFor(routed, new Map(clusterRoles(routed).map((r) => [userNameOf(r), "$2b$04$x"]))).find((u) => u.user === `device:${device}`)!.publish!.allow!.slice(2)
    assert.deepStrictEqual(allowed("door"), ["dht.door", "home.door.*", "gw.*.>", "gw.*"])
    assert.deepStrictEqual(allowed("meter"), ["dht.meter", "home.meter.*"])
    assert.isTrue(Result.isFailure(parseClusterConfig([
      "cluster: { name: home, partitions: 8 }",
      "nodes: [{ name: pi-1 }]",
      "sink: { kind: influx-v2, url: \"http://x\" }",
      "ingest: { routes: [{ name: gw, topic: gw/#, dialect: line-protocol, deviceTag: host, publishers: [nobody] }] }",
      "security: { credentials: /c, devices: [{ id: door }] }"
    ].join("\n"))))
  })

  it("no role but the node may touch the JetStream write API, and only the node and admin use the admin service", () => {
    for (const role of clusterRoles(config).filter((r) => r.kind !== "node")) {
      const allowed = [...(permissionsOf(role, 8).publish.allow ?? [])]
      for (const subject of allowed) {
        assert.notMatch(subject, /^\$JS\.API\.(STREAM\.(CREATE|UPDATE|DELETE|PURGE|MSG\.DELETE)|CONSUMER\.(DURABLE|DELETE))/, `${userNameOf(role)} may ${subject}`)
        assert.notStrictEqual(subject, ">")
      }
      if (role.kind === "device") assert.isFalse(allowed.some((s) => s.startsWith("$") || s.startsWith("bramble.")), `device ${role.device}: ${allowed}`)
    }
    const dashboard = permissionsOf({ kind: "dashboard" }, 8).publish.allow ?? []
    assert.include(dashboard, "bramble.admin.*.status")
    assert.notInclude(dashboard, "bramble.admin.*.restart")
    assert.isFalse(dashboard.some((s) => s.includes("restart") || s.includes("config") || s.endsWith(">")))
    // The admin publishes new versions of the cluster file (`bramble config apply`); only it and the nodes.
    assert.include(permissionsOf({ kind: "admin" }, 8).publish.allow ?? [], "$KV.bramble_config.>")
  })

  it("users need a hash each; the rendered permissions never contain an empty allow list", () => {
    assert.throws(() => natsUsersFor(config, new Map([["node:pi-1", "$2b$04$x"]])), /"admin", "dashboard", "device:door", "device:meter"/)
    const conf = renderNatsServerConf({
      serverName: "s",
      host: "127.0.0.1",
      port: 4222,
      jetstream: { storeDir: "/tmp/js" },
      authorization: { users: [{ user: "nobody", password: "x", publish: { allow: [] } }] }
    })
    // nats-server 2.9 reads `allow: []` as "everything": nothing allowed is written as deny-all.
    assert.include(conf, "publish {\n          deny: [\">\"]\n        }\n        subscribe {\n          deny: [\">\"]\n        }")
    assert.notInclude(conf, "allow: []")
    assert.throws(
      () =>
        renderNatsServerConf({
          serverName: "s",
          host: "h",
          port: 1,
          jetstream: { storeDir: "/x" },
          authorization: { users: [{ user: "a", password: "x" }, { user: "a", password: "y" }] }
        }),
      /listed twice/
    )
  })

  it.live("devicePartition is nats-server's own partition(n,1) (2.9.10)", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-partition-" })
      const partitions = 7
      const server = yield* startNatsServer({ dir, partitions })
      const devices = fc.sample(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), { numRuns: 300, seed: 7 })
      const seen = yield* Effect.promise(async () => {
        const nc = await connect({ servers: server.url })
        try {
          const stored = new Map<string, number>()
          const sub = nc.subscribe("readings.>", {
            callback: (_error, msg) => {
              const [, p, device] = msg.subject.split(".")
              stored.set(device!, Number(p))
            }
          })
          for (const device of devices) nc.publish(`ingest.${device}.env`, "x")
          await nc.flush()
          const deadline = Date.now() + 30_000
          while (stored.size < new Set(devices).size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
          sub.unsubscribe()
          return stored
        } finally {
          await nc.close()
        }
      })
      assert.strictEqual(seen.size, new Set(devices).size)
      for (const [device, partition] of seen) assert.strictEqual(devicePartition(device, partitions), partition, device)
    })))
})
