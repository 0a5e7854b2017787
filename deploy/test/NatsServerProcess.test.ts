import { execFile } from "node:child_process"
import { createServer } from "node:net"
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { parseClusterConfig } from "@bramble/config"
import { promisify } from "node:util"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Result, Stream } from "effect"
import { freePorts, isProcessAlive, natsSpecForNode, scopedTempDir, startNatsServer } from "../src/index.js"

const run = promisify(execFile)

const natsConnection = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(() => connect({ servers: url })),
    (nc: NatsConnection) => Effect.promise(() => nc.close())
  )

/** Collects the first `count` messages on `subject` (subscribed before this returns). */
const collect = (nc: NatsConnection, subject: string, count: number) =>
  Effect.gen(function*() {
    const sub = nc.subscribe(subject, { max: count })
    yield* Effect.promise(() => nc.flush())
    return yield* Effect.promise(async () => {
      const out: Array<{ subject: string; data: string }> = []
      for await (const msg of sub) out.push({ subject: msg.subject, data: msg.string() })
      return out
    }).pipe(Effect.timeout("20 seconds"), Effect.forkChild)
  })

const fetchText = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, body: await response.text() }
  })

describe("startNatsServer", () => {
  it.live("partition mapping - an MQTT and a NATS publish for one device arrive on the same readings.<p>", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const server = yield* startNatsServer({ dir, partitions: 4 })
      const nc = yield* natsConnection(server.url)
      const received = yield* collect(nc, "readings.>", 2)

      const mqttPort = new URL(server.mqttUrl).port
      yield* Effect.promise(() =>
        run("mosquitto_pub", ["-h", "127.0.0.1", "-p", mqttPort, "-t", "ingest/dev1/env", "-q", "1", "-m", "via-mqtt"])
      )
      nc.publish("ingest.dev1.env", "via-nats")

      const messages = [...(yield* Fiber.join(received))].sort((a, b) => a.data.localeCompare(b.data))
      assert.deepStrictEqual(messages.map((m) => m.data), ["via-mqtt", "via-nats"])
      const [mqtt, nats] = messages
      const match = /^readings\.(\d+)\.dev1\.env$/.exec(mqtt!.subject)
      assert.isNotNull(match, mqtt!.subject)
      const partition = Number(match![1])
      assert.isTrue(partition >= 0 && partition < 4)
      assert.strictEqual(nats!.subject, mqtt!.subject)
    }))

  it.live("partition mapping - devices spread over the partitions, each always on the same one", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const server = yield* startNatsServer({ dir, partitions: 4 })
      const nc = yield* natsConnection(server.url)
      const devices = Array.from({ length: 32 }, (_, i) => `dev${i}`)
      const received = yield* collect(nc, "readings.>", devices.length * 2)
      for (const device of [...devices, ...devices]) nc.publish(`ingest.${device}.env`, device)
      const partitionsOf = new Map<string, Set<string>>()
      for (const { subject, data } of yield* Fiber.join(received)) {
        const partition = subject.split(".")[1]!
        partitionsOf.set(data, (partitionsOf.get(data) ?? new Set()).add(partition))
      }
      assert.strictEqual(partitionsOf.size, devices.length)
      for (const [device, partitions] of partitionsOf) assert.strictEqual(partitions.size, 1, device)
      const used = new Set([...partitionsOf.values()].flatMap((p) => [...p]))
      assert.isAbove(used.size, 1)
      for (const p of used) assert.include(["0", "1", "2", "3"], p)
    }))

  it.live("health - ready means /healthz is ok, JetStream is on, and it is our server", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const server = yield* startNatsServer({ dir })
      const health = yield* fetchText(`${server.monitorUrl}/healthz?js-enabled-only=true`)
      assert.strictEqual(health.status, 200)
      const varz = JSON.parse((yield* fetchText(`${server.monitorUrl}/varz`)).body) as {
        server_name: string
        jetstream?: { config?: { store_dir?: string } }
        mqtt?: { port?: number }
      }
      assert.strictEqual(varz.server_name, server.spec.serverName)
      assert.strictEqual(varz.mqtt?.port, server.spec.mqttPort)
      assert.include(varz.jetstream?.config?.store_dir ?? "", dir)
      assert.include(readFileSync(server.confPath, "utf8"), "{{partition(8,1)}}")
    }))

  it.live("a node's server: monitoring on loopback only while clients and MQTT listen on every address; config 0600 in a 0700 directory", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const ports = yield* freePorts(4)
      const config = Result.getOrThrow(parseClusterConfig([
        `cluster: { name: mon, partitions: 2, dataDir: ${JSON.stringify(join(dir, "data"))} }`,
        `nodes: [{ name: n1, host: 127.0.0.1, nats: { port: ${ports[0]}, mqttPort: ${ports[1]}, httpPort: ${ports[2]}, clusterPort: ${ports[3]} } }]`,
        "sink: { kind: influx-v2, url: \"http://127.0.0.1:1\" }"
      ].join("\n")))
      const spec = natsSpecForNode(config, "n1", { listenHost: "0.0.0.0" })!
      // An existing directory with loose modes is tightened.
      const home = join(dir, "nats")
      mkdirSync(home, { mode: 0o755 })
      const server = yield* startNatsServer({ dir: home, spec })
      assert.strictEqual(server.monitorUrl, `http://127.0.0.1:${ports[2]}`)
      const varz = JSON.parse((yield* fetchText(`${server.monitorUrl}/varz`)).body) as { host: string; http_host: string; http_port: number }
      assert.deepStrictEqual([varz.host, varz.http_host, varz.http_port], ["0.0.0.0", "127.0.0.1", ports[2]])
      assert.strictEqual(statSync(server.confPath).mode & 0o777, 0o600)
      assert.strictEqual(statSync(home).mode & 0o777, 0o700)
    }))

  it.live("scope - closing it stops the server and keeps its directory", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const { pid, confPath } = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* startNatsServer({ dir })
        return { pid: (yield* server.process.pid)!, confPath: server.confPath }
      }))
      assert.isFalse(isProcessAlive(pid))
      assert.isTrue(existsSync(confPath))
    }))

  it.live("restartOnExit - a SIGKILLed server comes back on the same ports with its JetStream data", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const server = yield* startNatsServer({ dir, restartOnExit: { initialDelay: "50 millis" } })
      yield* Effect.scoped(Effect.gen(function*() {
        const nc = yield* natsConnection(server.url)
        const jsm = yield* Effect.promise(() => jetstreamManager(nc))
        yield* Effect.promise(() => jsm.streams.add({ name: "KEEP", subjects: ["keep.>"] }))
        yield* Effect.promise(() => jetstream(nc).publish("keep.one", "kept"))
      }))
      const first = (yield* server.process.pid)!
      yield* server.process.signal("SIGKILL")
      const running = yield* server.process.statusChanges.pipe(
        Stream.filter((s) => s._tag === "Running" && s.pid !== first),
        Stream.runHead,
        Effect.timeout("30 seconds"),
        Effect.map(Option.getOrThrow)
      )
      assert.strictEqual(running._tag, "Running")
      const health = yield* fetchText(`${server.monitorUrl}/healthz?js-enabled-only=true`)
      assert.strictEqual(health.status, 200)
      const nc = yield* natsConnection(server.url)
      const jsm = yield* Effect.promise(() => jetstreamManager(nc))
      const info = yield* Effect.promise(() => jsm.streams.info("KEEP"))
      assert.strictEqual(info.state.messages, 1)
      const received = yield* collect(nc, "readings.>", 1)
      nc.publish("ingest.dev9.env", "after-restart")
      assert.strictEqual((yield* Fiber.join(received))[0]?.data, "after-restart")
    }))

  it.live("errors - a port that is taken gives ExitedEarly with the server's explanation", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const blocker = createServer()
      const port = yield* Effect.callback<number>((resume) => {
        blocker.listen({ host: "127.0.0.1", port: 0 }, () => {
          const address = blocker.address()
          resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
        })
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => blocker.close()))
      const error = yield* Effect.flip(startNatsServer({ dir, spec: { port } }))
      assert.strictEqual(error.reason, "ExitedEarly")
      assert.include(error.message, "address already in use")
      assert.include(error.message, "nats-server.log")
    }))
})
