/**
 * TLS on a secured bramble, against nats-server 2.9.10:
 *
 * - TLS on: a node starts its own server from the cluster file (client and MQTT listeners
 *   with the node's certificate); clients that trust the cluster's CA log in and their
 *   readings reach the database; a client with another CA, or without TLS, is refused, over
 *   NATS and over MQTT.
 * - TLS off: the same secured cluster without TLS takes plain connections and refuses a
 *   client that insists on TLS.
 * - Routes: two servers form a cluster over mutually authenticated TLS; a server whose
 *   certificate another CA signed cannot join.
 */
import { assert, describe, it } from "@effect/vitest"
import { parseClusterConfig } from "@bramble/config"
import {
  createCertificateAuthority,
  createNodeCertificate,
  credentialPaths,
  generateCredentials,
  loadServerSecurity,
  natsSpecForNode,
  type Role,
  scopedTempDir,
  startNatsServer,
  freePorts
} from "@bramble/deploy"
import { jetstream } from "@nats-io/jetstream"
import { Effect, Result } from "effect"
import { readFileSync } from "node:fs"
import { createConnection } from "node:net"
import mqtt from "mqtt"
import { join } from "node:path"
import { readRawPoints, waitFor } from "../support/Db.js"
import { refused, settled, startSecureCluster } from "./security-harness.js"

const A: Role = { kind: "device", device: "dev-a", transport: "mqtt" }
const C: Role = { kind: "device", device: "dev-c", transport: "nats" }
const NODE: Role = { kind: "node", node: "n1" }
const devices = [{ id: "dev-a", transport: "mqtt" as const }, { id: "dev-c", transport: "nats" as const }]

/** A CA (and key) nobody in the cluster trusts. */
const otherCa = (dir: string) =>
  Effect.gen(function*() {
    const certFile = join(dir, "other-ca.crt")
    yield* createCertificateAuthority({ cluster: "impostor", certFile, keyFile: join(dir, "other-ca.key") })
    return { certFile, keyFile: join(dir, "other-ca.key") }
  })

/** Speaks plain NATS to `url`: reads INFO, sends CONNECT and PING, returns what came back until the server closed the connection. */
const plainNatsLogin = (url: string, user: string, pass: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url)
    const socket = createConnection({ host: hostname, port: Number(port) })
    let text = ""
    let sent = false
    socket.setTimeout(10_000, () => {
      socket.destroy()
      reject(new Error(`no answer from ${url}; got ${JSON.stringify(text)}`))
    })
    socket.on("data", (chunk) => {
      text += chunk.toString("utf8")
      if (!sent && text.includes("\r\n")) {
        sent = true
        socket.write(`CONNECT ${JSON.stringify({ user, pass, verbose: false, pedantic: false, tls_required: false })}\r\nPING\r\n`)
      }
    })
    socket.on("error", () => undefined)
    socket.on("close", () => resolve(text))
  })

/** Logs in over plain MQTT; how it ended: "connected", or the error or close that came first. */
const plainMqttLogin = (url: string, username: string, password: string): Promise<string> =>
  new Promise((resolve) => {
    const client = mqtt.connect(url, { username, password, reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 4 })
    const done = (outcome: string) => {
      client.end(true)
      resolve(outcome)
    }
    client.once("connect", () => done("connected"))
    client.once("error", (error) => done(`error: ${error.message}`))
    client.once("close", () => done("closed"))
  })

const routez = async (monitorUrl: string) =>
  (await (await fetch(`${monitorUrl}/routez`)).json()) as { num_routes: number; routes: Array<{ remote_id: string; remote_name?: string }> }

describe("security - TLS", () => {
  it.live("TLS on: clients trusting the cluster's CA get in, over NATS and MQTT; another CA or no TLS is refused", () =>
    Effect.scoped(Effect.gen(function*() {
      const c = yield* startSecureCluster({ devices, tls: true, nodeStartsServer: true })
      assert.match(c.node.mqttUrl ?? "", /^mqtts:/)
      const dir = yield* scopedTempDir({ prefix: "bramble-tls-other-" })
      const impostor = yield* otherCa(dir)
      yield* Effect.promise(async () => {
        // The right CA: both transports work end to end.
        const dev = await c.nats(C)
        assert.isTrue(dev.nc.info?.tls_required === true, "the server requires TLS")
        await jetstream(dev.nc).publish("ingest.dev-c.tls", JSON.stringify({ ts: Date.now() - 5_000, values: { t: 1 } }))
        const a = await c.mqtt(A)
        await a.publishAsync("ingest/dev-a/tls", JSON.stringify({ ts: Date.now() - 5_000, values: { t: 2 } }), { qos: 1 })
        await a.endAsync()
        await dev.close()
        const node = await c.nats(NODE)
        await waitFor(() => readRawPoints(c.db), {
          until: (points) => points.some((p) => p.device === "dev-c" && p.sensor === "tls") && points.some((p) => p.device === "dev-a" && p.sensor === "tls"),
          timeoutMs: 120_000,
          label: "both TLS readings in the database"
        })
        await settled(node, c.config.cluster.partitions)
        await node.close()

        // Another CA: the server's certificate does not verify, so the client gives up before logging in.
        assert.match(await refused("NATS with another CA", c.nats(C, { ca: impostor.certFile })), /certificate|self.signed|verify/i)
        assert.match(await refused("MQTT with another CA", c.mqtt(A, { ca: impostor.certFile })), /certificate|self.signed|verify/i)
        // Only the system's CAs, which never signed a bramble's certificate.
        assert.match(await refused("NATS trusting only the system's CAs", c.nats(C, { ca: null })), /verify|certificate/i)
        // No TLS at all: a client speaking plain NATS, even with the right password, is told TLS
        // is required and the connection is closed once it sends anything but a TLS handshake.
        const plain = await plainNatsLogin(c.natsUrl, "device:dev-c", c.password(C))
        assert.include(plain, "\"tls_required\":true")
        assert.notInclude(plain, "PONG")
        assert.notInclude(plain, "+OK")
        // Plain MQTT to the TLS listener: no CONNACK, ever.
        const outcome = await plainMqttLogin(c.mqttUrl.replace("mqtts:", "mqtt:"), "device:dev-a", c.password(A))
        assert.notStrictEqual(outcome, "connected")
      })
    })))

  it.live("TLS off: the secured cluster takes plain connections and refuses a client that requires TLS", () =>
    Effect.scoped(Effect.gen(function*() {
      const c = yield* startSecureCluster({ devices, tls: false })
      const caDir = yield* scopedTempDir({ prefix: "bramble-tls-off-" })
      const ca = yield* otherCa(caDir)
      yield* Effect.promise(async () => {
        const dev = await c.nats(C)
        assert.isFalse(dev.nc.info?.tls_required === true)
        await dev.close()
        await (await c.mqtt(A)).endAsync()
        assert.match(await refused("NATS requiring TLS", c.nats(C, { ca: ca.certFile })), /tls|secure/i)
      })
    })))

  it.live("routes: two servers route over mutual TLS; a server with a certificate from another CA cannot join", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-tls-routes-" })
      const ports = yield* freePorts(12)
      const node = (name: string, i: number) =>
        `  - { name: ${name}, host: 127.0.0.1, nats: { port: ${ports[i * 4]}, mqttPort: ${ports[i * 4 + 1]}, httpPort: ${ports[i * 4 + 2]}, clusterPort: ${ports[i * 4 + 3]} } }`
      const credentials = join(dir, "credentials")
      const file = [
        `cluster: { name: tlsroutes, partitions: 2, dataDir: ${JSON.stringify(join(dir, "data"))} }`,
        "nodes:",
        node("n1", 0),
        node("n2", 1),
        "sink: { kind: influx-v2, url: \"http://127.0.0.1:1\" }",
        `security: { credentials: ${JSON.stringify(credentials)}, tls: { enabled: true } }`
      ].join("\n")
      const config = Result.getOrThrow(parseClusterConfig(file))
      yield* generateCredentials({ config, out: credentials, cost: 4 })
      const start = (name: string) =>
        Effect.gen(function*() {
          const security = yield* loadServerSecurity(config, name)
          return yield* startNatsServer({ dir: join(dir, name), spec: natsSpecForNode(config, name, { security: security! })! })
        })
      const n1 = yield* start("n1")
      const n2 = yield* start("n2")
      yield* Effect.promise(() =>
        waitFor(() => Promise.all([routez(n1.monitorUrl), routez(n2.monitorUrl)]), {
          until: ([a, b]) => a.num_routes === 1 && b.num_routes === 1,
          timeoutMs: 60_000,
          label: "n1 and n2 routed to each other"
        })
      )
      const conf = readFileSync(n1.confPath, "utf8")
      assert.include(conf, "verify: true")

      // An impostor: same configuration as a third node, but its certificate comes from another CA.
      const impostor = yield* otherCa(dir)
      const certFile = join(dir, "rogue.crt")
      const keyFile = join(dir, "rogue.key")
      yield* createNodeCertificate({ node: "rogue", host: "127.0.0.1", caCertFile: impostor.certFile, caKeyFile: impostor.keyFile, certFile, keyFile })
      const legit = natsSpecForNode(config, "n1", { security: (yield* loadServerSecurity(config, "n1"))! })!
      const rogue = yield* startNatsServer({
        dir: join(dir, "rogue"),
        spec: {
          ...legit,
          serverName: "rogue",
          port: ports[8]!,
          mqttPort: ports[9]!,
          httpPort: ports[10]!,
          jetstream: { storeDir: join(dir, "rogue", "jetstream") },
          tls: { certFile, keyFile, timeoutSeconds: 5 },
          mqttTls: { certFile, keyFile, timeoutSeconds: 5 },
          // It trusts the cluster's CA, so it is only its own certificate that gives it away.
          cluster: { ...legit.cluster!, port: ports[11]!, routes: [`nats-route://127.0.0.1:${config.nodes[0]!.nats.clusterPort}`], tls: { certFile, keyFile, caFile: credentialPaths(credentials).caCert, verify: true, timeoutSeconds: 5 } }
        }
      })
      // The failed handshakes show up in the logs of the server it tried; then nothing changed.
      yield* Effect.promise(() =>
        waitFor(() => readFileSync(join(dir, "n1", "nats-server.log"), "utf8"), {
          until: (log) => /TLS route handshake error.*certificate/i.test(log) || /certificate signed by unknown authority/i.test(log),
          timeoutMs: 60_000,
          label: "n1 refusing the impostor's certificate"
        })
      )
      const [a, b, r] = yield* Effect.promise(() => Promise.all([routez(n1.monitorUrl), routez(n2.monitorUrl), routez(rogue.monitorUrl)]))
      assert.strictEqual(a.num_routes, 1)
      assert.strictEqual(b.num_routes, 1)
      assert.strictEqual(r.num_routes, 0)
    })))
})
