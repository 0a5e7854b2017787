import { execFile } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { afterAll } from "vitest"
import {
  ingestPartitionMapping,
  natsByteSize,
  type NatsServerConfSpec,
  quoteNatsString,
  renderNatsServerConf
} from "../src/index.js"

const run = promisify(execFile)
const dir = mkdtempSync(join(tmpdir(), "bramble-conf-test-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** `nats-server -t` parses and validates a config file, then exits (0 = valid). */
const natsServerAccepts = async (text: string, name: string): Promise<{ ok: boolean; output: string }> => {
  const path = join(dir, name)
  writeFileSync(path, text)
  try {
    const { stdout, stderr } = await run("nats-server", ["-t", "-c", path])
    return { ok: true, output: stdout + stderr }
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string }
    return { ok: false, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` }
  }
}

const fullSpec: NatsServerConfSpec = {
  serverName: "pi-1",
  host: "127.0.0.1",
  port: 4222,
  httpPort: 8222,
  mqttPort: 1883,
  jetstream: { storeDir: join(dir, "js"), maxMemoryStore: "64MB", maxFileStore: "1GB" },
  cluster: {
    name: "bramble",
    port: 6222,
    routes: ["nats-route://127.0.0.1:6224", "nats-route://127.0.0.1:6223"]
  },
  mappings: ingestPartitionMapping(8),
  maxPayload: 65536,
  writeDeadline: "10s",
  logFile: join(dir, "nats.log"),
  pidFile: join(dir, "nats.pid")
}

describe("renderNatsServerConf", () => {
  it("renders every setting in a fixed order, with the ingest mapping in double quotes", () => {
    const text = renderNatsServerConf(fullSpec)
    assert.isTrue(text.startsWith("# nats-server configuration rendered by Bramble"))
    assert.include(text, "server_name: \"pi-1\"\nhost: \"127.0.0.1\"\nport: 4222\nhttp_port: 8222\n")
    assert.include(text, "mqtt {\n  host: \"127.0.0.1\"\n  port: 1883\n}")
    assert.include(
      text,
      "mappings {\n  \"ingest.*.*\": \"readings.{{partition(8,1)}}.{{wildcard(1)}}.{{wildcard(2)}}\"\n}"
    )
    // Routes are sorted, so the order the cluster file lists them in does not matter.
    assert.include(
      text,
      "  routes: [\n    \"nats-route://127.0.0.1:6223\"\n    \"nats-route://127.0.0.1:6224\"\n  ]"
    )
    const order = ["server_name", "http_port", "max_payload", "jetstream {", "mqtt {", "cluster {", "mappings {"]
    const positions = order.map((key) => text.indexOf(key))
    assert.deepStrictEqual(positions, [...positions].sort((a, b) => a - b))
    assert.isFalse(positions.includes(-1))
  })

  it("is deterministic: the same spec, in any key or route order, gives the same text", () => {
    const shuffled: NatsServerConfSpec = {
      pidFile: fullSpec.pidFile!,
      logFile: fullSpec.logFile!,
      writeDeadline: "10s",
      maxPayload: 65536,
      mappings: { ...ingestPartitionMapping(8) },
      cluster: { ...fullSpec.cluster!, routes: [...fullSpec.cluster!.routes].reverse() },
      jetstream: fullSpec.jetstream,
      mqttPort: 1883,
      httpPort: 8222,
      port: 4222,
      host: "127.0.0.1",
      serverName: "pi-1"
    }
    assert.strictEqual(renderNatsServerConf(shuffled), renderNatsServerConf(fullSpec))
    assert.notStrictEqual(renderNatsServerConf({ ...fullSpec, port: 4223 }), renderNatsServerConf(fullSpec))
  })

  it("monitoring on its own address: `http: host:port` (IPv6 in brackets), and nats-server 2.9.10 accepts it", async () => {
    assert.include(renderNatsServerConf({ ...fullSpec, host: "0.0.0.0", httpHost: "127.0.0.1" }), "host: \"0.0.0.0\"\nport: 4222\nhttp: \"127.0.0.1:8222\"\n")
    assert.include(renderNatsServerConf({ ...fullSpec, httpHost: "::1" }), "http: \"[::1]:8222\"\n")
    assert.notInclude(renderNatsServerConf({ ...fullSpec, httpHost: "127.0.0.1" }), "http_port")
    const checked = await natsServerAccepts(renderNatsServerConf({ ...fullSpec, httpHost: "127.0.0.1" }), "http-host.conf")
    assert.isTrue(checked.ok, checked.output)
  })

  it("leaves out the optional blocks that are not asked for", () => {
    const text = renderNatsServerConf({
      serverName: "n",
      host: "127.0.0.1",
      port: 4222,
      jetstream: { storeDir: "/var/lib/bramble/js" }
    })
    for (const absent of ["mqtt {", "cluster {", "mappings {", "http_port", "max_payload", "log_file"]) {
      assert.notInclude(text, absent)
    }
  })

  it("escapes quotes, backslashes and control characters", () => {
    assert.strictEqual(quoteNatsString("a\"b\\c"), "\"a\\\"b\\\\c\"")
    assert.strictEqual(quoteNatsString("x\ty\nz\u0001"), "\"x\\ty\\nz\\x01\"")
    assert.strictEqual(quoteNatsString("$HOME {{wildcard(1)}}"), "\"$HOME {{wildcard(1)}}\"")
  })

  it("renders store limits as byte counts, with nats-server's binary units", () => {
    assert.include(renderNatsServerConf(fullSpec), "  max_memory_store: 67108864\n  max_file_store: 1073741824\n")
    assert.strictEqual(natsByteSize("1G"), 2 ** 30)
    assert.strictEqual(natsByteSize("512KiB"), 512 * 1024)
    assert.strictEqual(natsByteSize("2 mb"), 2 * 2 ** 20)
    assert.strictEqual(natsByteSize("100B"), 100)
    assert.strictEqual(natsByteSize(4096), 4096)
    assert.throws(() => natsByteSize("lots"))
    assert.throws(() => natsByteSize("1.5GB"))
    assert.throws(() => natsByteSize(-1))
  })

  it("rejects a partition count that is not a positive integer", () => {
    assert.throws(() => ingestPartitionMapping(0))
    assert.throws(() => ingestPartitionMapping(2.5))
  })

  it("nats-server accepts the rendered config (nats-server -t)", async () => {
    const full = await natsServerAccepts(renderNatsServerConf(fullSpec), "full.conf")
    assert.isTrue(full.ok, full.output)
    assert.include(full.output, "is valid")
    const tricky = await natsServerAccepts(
      renderNatsServerConf({
        ...fullSpec,
        serverName: "odd \"name\" with \\ and $VAR",
        cluster: { name: "c", port: 6222, routes: [] }
      }),
      "tricky.conf"
    )
    assert.isTrue(tricky.ok, tricky.output)
  })

  it("the -t check can fail: nats-server rejects an unknown key", async () => {
    const broken = await natsServerAccepts(`${renderNatsServerConf(fullSpec)}no_such_key: 1\n`, "broken.conf")
    assert.isFalse(broken.ok)
    assert.include(broken.output, "no_such_key")
  })
})
