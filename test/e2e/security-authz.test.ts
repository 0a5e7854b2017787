/**
 * The authorization matrix against a real nats-server 2.9.10 on a configuration rendered from
 * a secured cluster file, a Bramble node logged in as its node user, and VictoriaMetrics:
 * every credential type tries every forbidden action, over MQTT and over NATS, and every
 * allowed action is shown to work.
 *
 * A refusal is never taken on the server's word. nats-server 2.9 PUBACKs a forbidden MQTT
 * publish and drops it, so each attempt carries a marker (its own sensor name or subject),
 * an allowed "sentinel" publish follows it on the same connection, and once the sentinel is
 * stored and the node has acknowledged everything, the streams (READINGS, AGGREGATES,
 * ALARMS, DEADLETTER) and the database are read back: no marker may be anywhere, and no
 * subscriber may have received anything it was not allowed to see.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Admin, Subjects } from "@bramble/protocol"
import { devicePartition, type Role } from "@bramble/deploy"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { Context, Effect, Layer } from "effect"
import type { MqttClient } from "mqtt"
import { readRawPoints, waitFor } from "../support/Db.js"
import { refused, type SecureCluster, type Session, settled, startSecureCluster, streamMessages } from "./security-harness.js"

const PARTITIONS = 4
const A: Role = { kind: "device", device: "dev-a", transport: "mqtt" }
const B: Role = { kind: "device", device: "dev-b", transport: "mqtt" }
const C: Role = { kind: "device", device: "dev-c", transport: "nats" }
const D: Role = { kind: "device", device: "dev-d", transport: "nats" }
const NODE: Role = { kind: "node", node: "n1" }
const ADMIN: Role = { kind: "admin" }
const DASHBOARD: Role = { kind: "dashboard" }
/** What the forbidden restarts aim at. */
const RESTARTABLE = "partition-0"
const RESTART = JSON.stringify({ actor: RESTARTABLE })
const id = (role: Role) => (role.kind === "device" ? role.device : role.kind)
const p = (role: Role) => devicePartition(id(role), PARTITIONS)
/** A partition that is not `role`'s. */
const otherP = (role: Role) => (p(role) + 1) % PARTITIONS

class Cluster extends Context.Service<Cluster, SecureCluster>()("test/security/Cluster") {}

const cluster = Layer.effect(Cluster, startSecureCluster({ devices: [A, B, C, D].map((r) => ({ id: id(r), transport: (r as { transport: "mqtt" | "nats" }).transport })), partitions: PARTITIONS }))

let clock = Date.now() - 60_000
/** A reading payload with a unique event time. */
const reading = (marker: number) => JSON.stringify({ ts: ++clock, values: { marker } })

/** Everything the test can see at the end: the streams, the database, what subscribers got. */
const everything = async (cluster: SecureCluster, node: Session) => ({
  readings: await streamMessages(node, Subjects.Streams.readings),
  aggregates: await streamMessages(node, Subjects.Streams.aggregates),
  alarms: await streamMessages(node, Subjects.Streams.alarms),
  deadLetters: await streamMessages(node, Subjects.Streams.deadLetter),
  points: await readRawPoints(cluster.db)
})

/** Waits until a reading of `device`/`sensor` is in READINGS and the database, and the node has acknowledged everything. */
const sentinelStored = async (cluster: SecureCluster, node: Session, device: string, sensor: string) => {
  await waitFor(() => readRawPoints(cluster.db), {
    until: (points) => points.some((pt) => pt.device === device && pt.sensor === sensor),
    timeoutMs: 120_000,
    intervalMs: 300,
    label: `sentinel ${device}/${sensor} in the database`
  })
  await settled(node, PARTITIONS)
}

/** Asserts that nothing anywhere carries one of `sensors` (as a readings subject's sensor or a DB point's sensor) or one of `subjects`. */
const assertNowhere = async (cluster: SecureCluster, node: Session, forbidden: { readonly sensors: ReadonlyArray<string>; readonly subjects?: ReadonlyArray<string>; readonly texts?: ReadonlyArray<string> }) => {
  const seen = await everything(cluster, node)
  const all = [...seen.readings, ...seen.aggregates, ...seen.alarms, ...seen.deadLetters]
  for (const sensor of forbidden.sensors) {
    assert.isFalse(all.some((m) => m.subject.split(".").includes(sensor)), `a stream holds ${sensor}: ${all.filter((m) => m.subject.includes(sensor)).map((m) => m.subject)}`)
    assert.isFalse(seen.points.some((pt) => pt.sensor === sensor), `the database holds a point of sensor ${sensor}`)
  }
  for (const subject of forbidden.subjects ?? []) assert.isFalse(all.some((m) => m.subject === subject), `a stream holds ${subject}`)
  for (const text of forbidden.texts ?? []) assert.isFalse(all.some((m) => m.text.includes(text)), `a stream holds a message containing ${text}`)
  return seen
}

/** Subscribes over MQTT; the QoS the server granted (128 = refused). */
const mqttSubscribe = async (client: MqttClient, topic: string): Promise<number> => {
  try {
    const granted = await client.subscribeAsync(topic, { qos: 1 })
    return granted[0]!.qos
  } catch (error) {
    const packet = (error as { packet?: { granted?: Array<number> } }).packet
    if (packet?.granted?.[0] !== undefined) return packet.granted[0]
    throw error
  }
}

/** Messages an MQTT client receives, by topic. */
const received = (client: MqttClient) => {
  const got: Array<{ topic: string; text: string }> = []
  client.on("message", (topic, payload) => got.push({ topic, text: payload.toString() }))
  return got
}

/** Messages a NATS subscription receives. */
const collect = (session: Session, subject: string) => {
  const got: Array<string> = []
  session.nc.subscribe(subject, {
    callback: (error, msg) => {
      if (error === null) got.push(msg.subject)
    }
  })
  return got
}

/** The restart counter of partition 0's worker, as the admin actor reports it. */
const restarts = async (admin: Session): Promise<number> => {
  const reply = await admin.nc.request(Admin.adminNodeSubject("n1", Admin.AdminCalls.actors.name), "{}", { timeout: 10_000 })
  const actors = (reply.json() as { actors: Array<{ name: string; restarts: number }> }).actors
  const worker = actors.find((a) => a.name === RESTARTABLE)
  assert.isDefined(worker, `${RESTARTABLE} among ${actors.map((a) => a.name)}`)
  return worker!.restarts
}

describe("security - authorization matrix (nats-server 2.9.10, MQTT and NATS)", () => {
  layer(cluster, { excludeTestServices: true, timeout: "180 seconds" })((it) => {
    it.effect("logins - every credential works on its own transport only; wrong, missing and cross-transport logins are refused", () =>
      Effect.gen(function*() {
        const c = yield* Cluster
        yield* Effect.promise(async () => {
          for (const role of [NODE, ADMIN, DASHBOARD, C, D]) await (await c.nats(role)).close()
          for (const role of [A, B]) await (await c.mqtt(role)).endAsync()
          // An MQTT device's credential does not open a NATS connection, and the other way round.
          for (const role of [A, B]) assert.match(await refused(`${id(role)} over NATS`, c.nats(role)), /Authorization Violation/i)
          for (const role of [C, D, NODE, ADMIN, DASHBOARD]) assert.match(await refused(`${id(role)} over MQTT`, c.mqtt(role)), /Not authorized/i)
          // Wrong password, another user's password, no credentials at all.
          assert.match(await refused("wrong NATS password", c.nats({ user: "device:dev-c", pass: "guess" })), /Authorization Violation/i)
          assert.match(await refused("D's password for C", c.nats({ user: "device:dev-c", pass: c.password(D) })), /Authorization Violation/i)
          assert.match(await refused("anonymous NATS", c.nats({})), /Authorization Violation/i)
          assert.match(await refused("wrong MQTT password", c.mqtt({ user: "device:dev-a", pass: c.password(B) })), /Not authorized/i)
          assert.match(await refused("anonymous MQTT", c.mqtt({})), /Not authorized/i)
          // A device id is not a user name: the role prefix is part of it.
          assert.match(await refused("bare device id", c.mqtt({ user: "dev-a", pass: c.password(A) })), /Not authorized/i)
        })
      }))

    it.effect("device over MQTT - publishes only its own readings and reads only its own alarms and commands; everything else is dropped", () =>
      Effect.gen(function*() {
        const c = yield* Cluster
        yield* Effect.promise(async () => {
          const node = await c.nats(NODE)
          const admin = await c.nats(ADMIN)
          const a = await c.mqtt(A)
          const b = await c.mqtt(B)
          const gotA = received(a)
          const gotB = received(b)
          const restartsBefore = await restarts(admin)
          const readingsBefore = (await streamMessages(node, Subjects.Streams.readings)).length

          // Subscriptions: its own alarms and commands are granted QoS 1, everything else is refused (0x80).
          assert.strictEqual(await mqttSubscribe(a, "alarms/dev-a/#"), 1)
          assert.strictEqual(await mqttSubscribe(a, "commands/dev-a/#"), 1)
          assert.strictEqual(await mqttSubscribe(b, "alarms/dev-b/#"), 1)
          assert.strictEqual(await mqttSubscribe(b, "commands/dev-b/#"), 1)
          for (const topic of ["readings/#", "readings/+/dev-b/#", "alarms/dev-b/#", "alarms/#", "aggregates/#", "commands/dev-b/#", "deadletter/#", "ingest/#", "$MQTT/sub/#", "#", "bramble/admin/#", "_INBOX/#"]) {
            assert.strictEqual(await mqttSubscribe(a, topic), 128, `subscribing to ${topic}`)
          }

          // Forbidden publishes: each PUBACKed by 2.9 (QoS 1) and then dropped.
          const forbidden: Array<[topic: string, payload: string]> = [
            ["ingest/dev-b/fa1", reading(1)], // as another MQTT device
            ["ingest/dev-d/fa2", reading(2)], // as a NATS device
            [`readings/${p(B)}/dev-b/fa3`, reading(3)], // straight into another device's readings
            [`readings/${otherP(A)}/dev-a/fa4`, reading(4)], // its own readings, in a partition that is not its own
            ["ingest/dev-a/fa5/extra", reading(5)], // a subject the mapping does not take
            ["alarms/dev-a/fa6", JSON.stringify({ device: "dev-a", rule: "fa6", state: "raised", message: "forged", at: clock })],
            ["aggregates/dev-a/env/fa7/1s", "{}"],
            ["deadletter/fa8", "forged-dead-letter-fa8"],
            ["commands/dev-b/fa9", "open-the-door-fa9"],
            [`$JS/API/STREAM/PURGE/${Subjects.Streams.readings}`, "{}"],
            [`$JS/API/STREAM/DELETE/${Subjects.Streams.alarms}`, ""],
            [`$JS/API/CONSUMER/DELETE/${Subjects.Streams.readings}/bramble-p0`, ""],
            [`bramble/admin/n1/${Admin.AdminCalls.restart.name}`, RESTART],
            [`bramble/admin/${Admin.AdminCalls.devices.name}`, "{}"],
            ["$SRV/PING", ""]
          ]
          for (const [topic, payload] of forbidden) await a.publishAsync(topic, payload, { qos: 1 })
          // Allowed, after all of them on the same connection: once this is stored, they would be too.
          await a.publishAsync("ingest/dev-a/sentinel-a", reading(100), { qos: 1 })

          // A node tells each device something; each may hear only its own.
          const js = jetstream(node.nc)
          await js.publish(Subjects.alarmsSubject("dev-a", "for-a"), "alarm-for-a")
          await js.publish(Subjects.alarmsSubject("dev-b", "for-b"), "alarm-for-b")
          node.nc.publish("commands.dev-a.open", "command-for-a")
          node.nc.publish("commands.dev-b.open", "command-for-b")
          await node.nc.flush()

          await sentinelStored(c, node, "dev-a", "sentinel-a")
          await waitFor(() => gotB.length, { until: (n) => n >= 2, timeoutMs: 30_000, label: "dev-b's alarm and command" })
          await waitFor(() => gotA.length, { until: (n) => n >= 2, timeoutMs: 30_000, label: "dev-a's alarm and command" })

          const seen = await assertNowhere(c, node, {
            sensors: ["fa1", "fa2", "fa3", "fa4", "fa5", "fa6", "fa7"],
            subjects: ["alarms.dev-a.fa6", "deadletter.fa8"],
            texts: ["forged-dead-letter-fa8", "forged"]
          })
          // Allowed: its own reading went through, in its own partition, into the database.
          assert.isTrue(seen.readings.some((m) => m.subject === `readings.${p(A)}.dev-a.sentinel-a`))
          assert.isTrue(seen.points.some((pt) => pt.device === "dev-a" && pt.sensor === "sentinel-a" && pt.values["marker"] === 100))
          // The streams and the consumers are intact; nothing was restarted.
          assert.isAtLeast(seen.readings.length, readingsBefore + 1)
          const jsm = await jetstreamManager(node.nc)
          assert.strictEqual((await jsm.streams.info(Subjects.Streams.alarms)).config.name, Subjects.Streams.alarms)
          assert.strictEqual((await jsm.consumers.info(Subjects.Streams.readings, "bramble-p0")).name, "bramble-p0")
          assert.strictEqual(await restarts(admin), restartsBefore)
          // Each device heard exactly its own alarm and command, never the other's or the forged command.
          assert.deepStrictEqual(gotA.map((m) => m.text).sort(), ["alarm-for-a", "command-for-a"])
          assert.deepStrictEqual(gotB.map((m) => m.text).sort(), ["alarm-for-b", "command-for-b"])

          await a.endAsync()
          await b.endAsync()
          await admin.close()
          await node.close()
        })
      }))

    it.effect("device over NATS - publishes only its own readings and reads only its own alarms and commands; every other action is refused", () =>
      Effect.gen(function*() {
        const c = yield* Cluster
        yield* Effect.promise(async () => {
          const node = await c.nats(NODE)
          const admin = await c.nats(ADMIN)
          const dev = await c.nats(C)
          const victim = await c.nats(D)
          const restartsBefore = await restarts(admin)

          // Allowed subscriptions, and forbidden ones (each answered with a permission violation).
          const own = collect(dev, "alarms.dev-c.>")
          const ownCommands = collect(dev, "commands.dev-c.>")
          const victimOwn = collect(victim, "alarms.dev-d.>")
          const sneaky = ["readings.>", "alarms.dev-d.>", "alarms.>", "aggregates.>", "commands.dev-d.>", "deadletter.>", "_INBOX.>", "$MQTT.sub.>", ">", "$JS.API.>"]
            .map((subject) => ({ subject, got: collect(dev, subject) }))
          await dev.nc.flush()

          // Forbidden publishes.
          const forbidden: Array<[subject: string, payload: string]> = [
            ["ingest.dev-d.fc1", reading(11)],
            ["ingest.dev-a.fc2", reading(12)],
            [`readings.${p(D)}.dev-d.fc3`, reading(13)],
            [`readings.${otherP(C)}.dev-c.fc4`, reading(14)],
            ["ingest.dev-c.fc5.extra", reading(15)],
            ["alarms.dev-c.fc6", "forged-alarm-fc6"],
            ["aggregates.dev-c.env.fc7.1s", "{}"],
            ["deadletter.fc8", "forged-dead-letter-fc8"],
            ["commands.dev-d.fc9", "command-fc9"]
          ]
          for (const [subject, payload] of forbidden) dev.nc.publish(subject, payload)
          // JetStream publishes to forbidden subjects get no acknowledgement.
          const js = jetstream(dev.nc)
          await refused("JetStream publish as dev-d", js.publish("ingest.dev-d.fc10", reading(16), { timeout: 2_000 }))
          // The JetStream API and the admin service answer nothing to a device.
          for (const subject of [
            "$JS.API.INFO",
            `$JS.API.STREAM.INFO.${Subjects.Streams.readings}`,
            `$JS.API.STREAM.PURGE.${Subjects.Streams.readings}`,
            `$JS.API.STREAM.DELETE.${Subjects.Streams.alarms}`,
            `$JS.API.STREAM.MSG.GET.${Subjects.Streams.readings}`,
            `$JS.API.CONSUMER.CREATE.${Subjects.Streams.readings}`,
            Admin.adminNodeSubject("n1", Admin.AdminCalls.restart.name),
            Admin.adminNodeSubject("n1", Admin.AdminCalls.status.name),
            Admin.adminClusterSubject(Admin.AdminCalls.devices.name),
            "$SRV.PING"
          ]) {
            const why = await refused(`request ${subject}`, dev.nc.request(subject, subject.includes("restart") ? RESTART : "{}", { timeout: 2_000 }))
            assert.match(why, /Permissions Violation|timeout|no responders/i, subject)
          }
          // Allowed: its own reading, through JetStream with an acknowledgement and de-duplication id.
          const ack = await js.publish("ingest.dev-c.sentinel-c", reading(200), { msgID: "dev-c.sentinel-c.1" })
          assert.strictEqual(ack.stream, Subjects.Streams.readings)
          await dev.nc.flush()

          const nodeJs = jetstream(node.nc)
          await nodeJs.publish(Subjects.alarmsSubject("dev-c", "for-c"), "alarm-for-c")
          await nodeJs.publish(Subjects.alarmsSubject("dev-d", "for-d"), "alarm-for-d")
          node.nc.publish("commands.dev-c.open", "command-for-c")
          node.nc.publish("commands.dev-d.open", "command-for-d")
          await node.nc.flush()

          await sentinelStored(c, node, "dev-c", "sentinel-c")
          await waitFor(() => own.length + ownCommands.length + victimOwn.length, { until: (n) => n >= 3, timeoutMs: 30_000, label: "the devices' own alarms and commands" })

          const seen = await assertNowhere(c, node, {
            sensors: ["fc1", "fc2", "fc3", "fc4", "fc5", "fc6", "fc7", "fc10"],
            subjects: ["alarms.dev-c.fc6", "deadletter.fc8"],
            texts: ["forged-alarm-fc6", "forged-dead-letter-fc8"]
          })
          assert.isTrue(seen.readings.some((m) => m.subject === `readings.${p(C)}.dev-c.sentinel-c`))
          assert.isTrue(seen.points.some((pt) => pt.device === "dev-c" && pt.sensor === "sentinel-c"))
          assert.deepStrictEqual(own, ["alarms.dev-c.for-c"])
          assert.deepStrictEqual(ownCommands, ["commands.dev-c.open"])
          assert.deepStrictEqual(victimOwn, ["alarms.dev-d.for-d"])
          for (const s of sneaky) assert.deepStrictEqual(s.got, [], `dev-c's subscription to ${s.subject} received something`)
          // The server said why, every time.
          const errors = dev.errors.join("\n")
          for (const subject of [`readings.${p(D)}.dev-d.fc1`, `readings.${otherP(C)}.dev-c.fc4`, "alarms.dev-c.fc6", "$JS.API.INFO"]) {
            assert.include(errors, `Publish to "${subject}"`)
          }
          for (const s of sneaky) assert.include(errors, `Subscription to "${s.subject}"`)
          assert.strictEqual(await restarts(admin), restartsBefore)
          assert.strictEqual((await (await jetstreamManager(node.nc)).streams.info(Subjects.Streams.alarms)).config.name, Subjects.Streams.alarms)

          for (const s of [dev, victim, admin, node]) await s.close()
        })
      }))

    it.effect("dashboard - reads readings, aggregates, alarms and node status; may not publish, restart, configure or touch JetStream", () =>
      Effect.gen(function*() {
        const c = yield* Cluster
        yield* Effect.promise(async () => {
          const node = await c.nats(NODE)
          const admin = await c.nats(ADMIN)
          const dash = await c.nats(DASHBOARD)
          const a = await c.mqtt(A)
          const restartsBefore = await restarts(admin)

          // Allowed.
          const live = collect(dash, "readings.>")
          const aggregates = collect(dash, "aggregates.>")
          const alarms = collect(dash, "alarms.>")
          await dash.nc.flush()
          const status = (await dash.nc.request(Admin.adminNodeSubject("n1", Admin.AdminCalls.status.name), "{}", { timeout: 10_000 })).json() as { node: string }
          assert.strictEqual(status.node, "n1")
          const devices = (await dash.nc.request(Admin.adminClusterSubject(Admin.AdminCalls.devices.name), "{}", { timeout: 10_000 })).json() as { devices: Array<unknown> }
          assert.isArray(devices.devices)

          // Forbidden.
          const sneaky = ["_INBOX.>", "deadletter.>", "commands.>", "$MQTT.sub.>", "bramble.admin.>", ">"].map((subject) => ({ subject, got: collect(dash, subject) }))
          dash.nc.publish("ingest.dev-a.fd1", reading(21))
          dash.nc.publish(`readings.${p(A)}.dev-a.fd2`, reading(22))
          dash.nc.publish("alarms.dev-a.fd3", "forged-alarm-fd3")
          dash.nc.publish("commands.dev-a.fd4", "command-fd4")
          for (const subject of [
            Admin.adminNodeSubject("n1", Admin.AdminCalls.restart.name),
            Admin.adminNodeSubject("n1", Admin.AdminCalls.configShow.name),
            Admin.adminNodeSubject("n1", Admin.AdminCalls.configValidate.name),
            "$JS.API.INFO",
            `$JS.API.STREAM.PURGE.${Subjects.Streams.readings}`,
            `$JS.API.CONSUMER.CREATE.${Subjects.Streams.readings}`
          ]) {
            await refused(`dashboard request ${subject}`, dash.nc.request(subject, subject.includes("restart") ? RESTART : "{}", { timeout: 2_000 }))
          }
          await dash.nc.flush()
          // Something for it to see: a reading, its window, an alarm.
          await a.publishAsync("ingest/dev-a/sentinel-d", reading(300), { qos: 1 })
          await jetstream(node.nc).publish(Subjects.alarmsSubject("dev-a", "for-dashboard"), "alarm-for-dashboard")

          await sentinelStored(c, node, "dev-a", "sentinel-d")
          await waitFor(() => live.length && alarms.length && aggregates.length, { timeoutMs: 60_000, label: "the dashboard seeing a reading, a window and an alarm" })
          await assertNowhere(c, node, { sensors: ["fd1", "fd2", "fd3"], subjects: ["alarms.dev-a.fd3"], texts: ["forged-alarm-fd3"] })
          assert.include(live, `readings.${p(A)}.dev-a.sentinel-d`)
          for (const s of sneaky) assert.deepStrictEqual(s.got, [], `the dashboard's subscription to ${s.subject} received something`)
          const errors = dash.errors.join("\n")
          assert.include(errors, `Publish to "readings.${p(A)}.dev-a.fd1"`)
          assert.include(errors, `Publish to "${Admin.adminNodeSubject("n1", Admin.AdminCalls.restart.name)}"`)
          assert.include(errors, "Publish to \"$JS.API.INFO\"")
          assert.strictEqual(await restarts(admin), restartsBefore)
          for (const s of [dash, admin, node]) await s.close()
          await a.endAsync()
        })
      }))

    it.effect("admin - asks and restarts through the admin service and reads streams; may not publish data or change JetStream", () =>
      Effect.gen(function*() {
        const c = yield* Cluster
        yield* Effect.promise(async () => {
          const node = await c.nats(NODE)
          const admin = await c.nats(ADMIN)
          const a = await c.mqtt(A)
          const jsm = await jetstreamManager(admin.nc)

          // Allowed: status, the stream's info and messages, live readings, dead letters, a restart.
          const live = collect(admin, "readings.>")
          collect(admin, "deadletter.>")
          await admin.nc.flush()
          const info = await jsm.streams.info(Subjects.Streams.readings)
          assert.isAbove(info.state.messages, 0)
          const first = await jsm.streams.getMessage(Subjects.Streams.readings, { seq: info.state.first_seq })
          assert.match(first!.subject, /^readings\./)
          const consumer = await jetstream(admin.nc).consumers.get(Subjects.Streams.readings)
          const next = await consumer.next({ expires: 5_000 })
          assert.isNotNull(next, "an ordered consumer reads READINGS")
          const before = await restarts(admin)
          await admin.nc.request(Admin.adminNodeSubject("n1", Admin.AdminCalls.restart.name), RESTART, { timeout: 10_000 })
          await waitFor(() => restarts(admin), { until: (n) => n === before + 1, timeoutMs: 30_000, label: `${RESTARTABLE} restarted by the admin` })

          // Forbidden: data subjects, and every JetStream call that changes something.
          admin.nc.publish("ingest.dev-a.fe1", reading(31))
          admin.nc.publish(`readings.${p(A)}.dev-a.fe2`, reading(32))
          admin.nc.publish("alarms.dev-a.fe3", "forged-alarm-fe3")
          for (const subject of [
            `$JS.API.STREAM.PURGE.${Subjects.Streams.readings}`,
            `$JS.API.STREAM.DELETE.${Subjects.Streams.alarms}`,
            `$JS.API.STREAM.UPDATE.${Subjects.Streams.readings}`,
            "$JS.API.STREAM.CREATE.SNOOP",
            `$JS.API.STREAM.MSG.DELETE.${Subjects.Streams.readings}`,
            `$JS.API.CONSUMER.DELETE.${Subjects.Streams.readings}.bramble-p0`,
            `$JS.API.CONSUMER.DURABLE.CREATE.${Subjects.Streams.readings}.snoop`
          ]) {
            const why = await refused(`admin request ${subject}`, admin.nc.request(subject, "{}", { timeout: 2_000 }))
            assert.match(why, /Permissions Violation|timeout/i, subject)
          }
          await admin.nc.flush()
          await a.publishAsync("ingest/dev-a/sentinel-e", reading(400), { qos: 1 })
          await sentinelStored(c, node, "dev-a", "sentinel-e")

          await assertNowhere(c, node, { sensors: ["fe1", "fe2", "fe3"], texts: ["forged-alarm-fe3"] })
          assert.include(live, `readings.${p(A)}.dev-a.sentinel-e`)
          const jsmNode = await jetstreamManager(node.nc)
          const after = await jsmNode.streams.info(Subjects.Streams.readings)
          assert.isAtLeast(after.state.messages, info.state.messages + 1, "READINGS was not purged")
          assert.strictEqual((await jsmNode.consumers.info(Subjects.Streams.readings, "bramble-p0")).name, "bramble-p0")
          assert.deepStrictEqual((await jsmNode.streams.names().next()).filter((n) => n === "SNOOP"), [])
          const errors = admin.errors.join("\n")
          assert.include(errors, `Publish to "readings.${p(A)}.dev-a.fe1"`)
          assert.include(errors, `Publish to "$JS.API.STREAM.PURGE.${Subjects.Streams.readings}"`)
          // The admin cannot log in over MQTT.
          assert.match(await refused("admin over MQTT", c.mqtt(ADMIN)), /Not authorized/i)
          for (const s of [admin, node]) await s.close()
          await a.endAsync()
        })
      }))
  })
})
