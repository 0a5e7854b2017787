/**
 * The operator commands as scripts and people use them: the built `bramble` CLI run as a
 * child process against a running node (real nats-server, VictoriaMetrics, simulated
 * sensors). Checks the readable output, `--json`, and the exit codes (0 ok, 1 request failed
 * or unreachable with a message saying what to do, 2 usage).
 */
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Result, Schema } from "effect"
import { type RunningNode, startNode } from "@bramble/cluster"
import { parseClusterConfig } from "@bramble/config"
import { freePort, freePorts, scopedTempDir, startVictoriaMetrics } from "@bramble/deploy"
import { Admin } from "@bramble/protocol"
import { eventually } from "../support/Eventually.js"

const CLI = resolve(import.meta.dirname, "../../cluster/dist/bin/bramble.js")
const DEVICES = ["greenhouse-1", "barn"] as const

/** Waits until the node holds every partition's lease (it claims them right after starting). */
const ownsEverything = (node: RunningNode, partitions: number) =>
  Effect.promise(async () => {
    const deadline = Date.now() + 60_000
    while (!Array.from({ length: partitions }, (_, p) => p).every((p) => node.clusterView.owns(p))) {
      if (Date.now() > deadline) throw new Error(`node ${node.name} did not claim all ${partitions} partitions`)
      await new Promise((r) => setTimeout(r, 100))
    }
  })

class Fixture extends Context.Service<Fixture, RunningNode>()("test/e2e/admin.cli/Fixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    if (!existsSync(CLI)) return yield* Effect.die(new Error(`${CLI} is missing: run \`npm run build\` first (\`npm test\` does)`))
    const dir = yield* scopedTempDir({ prefix: "bramble-cli-" })
    const db = yield* startVictoriaMetrics({ dir: join(dir, "vm") })
    const ports = yield* freePorts(5)
    const text = [
      `cluster: { name: clitest, partitions: 4, dataDir: ${JSON.stringify(join(dir, "nodes"))} }`,
      `nodes: [{ name: n1, httpPort: ${ports[4]}, nats: { port: ${ports[0]}, mqttPort: ${ports[1]}, httpPort: ${ports[2]}, clusterPort: ${ports[3]} } }]`,
      `sensors:`,
      ...DEVICES.map((device, i) => `  - { device: ${device}, node: n1, kind: simulated-dht11, pin: ${4 + i}, interval: 1s }`),
      `windows: [{ name: 2s, size: 2s }]`,
      // Always raised for barn (simulated temperatures stay within 15-27 °C).
      `rules: [{ kind: threshold, name: too-warm, metric: temperature, above: 12, devices: [barn] }]`,
      `processing: { allowedLateness: 1s, idleAdvance: 1s, checkpointInterval: 500ms }`,
      `sink: { kind: influx-v2, url: ${db.url} }`
    ].join("\n")
    const config = parseClusterConfig(text, join(dir, "cluster.yaml"))
    if (Result.isFailure(config)) return yield* Effect.die(config.failure)
    const node = yield* startNode({ config: config.success, node: "n1", simulate: true })
    yield* ownsEverything(node, 4)
    return node
  })
)

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Run `bramble ...args` with BRAMBLE_NATS pointing at the node (unless `env` overrides). */
const bramble = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.flatMap(Fixture, (node) =>
    Effect.promise(() =>
      new Promise<Run>((resolveRun) => {
        execFile(
          process.execPath,
          [CLI, ...args],
          { env: { ...process.env, BRAMBLE_NATS: node.natsUrl, NO_COLOR: "1", ...env }, timeout: 60_000 },
          (error, stdout, stderr) => {
            const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
            resolveRun({ code, stdout, stderr })
          }
        )
      })
    ))

const ok = (run: Run, what: string) => assert.strictEqual(run.code, 0, `${what} exited ${run.code}: ${run.stderr}`)

/** Retry a command until `until` holds (data takes a few seconds to flow). */
const retried = (args: ReadonlyArray<string>, until: (run: Run) => boolean) =>
  eventually(`bramble ${args.join(" ")} to satisfy the check`, bramble(args), until, { timeoutMs: 90_000, intervalMs: 500 })

layer(fixture, { excludeTestServices: true, timeout: "180 seconds" })("bramble CLI", (it) => {
  it.effect("status - a table of nodes by default, the status Schema with --json", () =>
    Effect.gen(function*() {
      const table = yield* bramble(["status"])
      ok(table, "status")
      assert.match(table.stdout, /^NODE\s+HEALTH\s+UPTIME/m)
      assert.match(table.stdout, /^n1\s+ok\s+/m)
      const json = yield* bramble(["status", "--json"])
      ok(json, "status --json")
      const nodes = (JSON.parse(json.stdout) as { nodes: Array<{ node: string; health: string; status: unknown }> }).nodes
      assert.deepStrictEqual(nodes.map((n) => [n.node, n.health]), [["n1", "ok"]])
      const status = Schema.decodeUnknownSync(Admin.NodeStatus)(nodes[0]!.status)
      assert.strictEqual(status.versions.natsServer, "2.9.10")
    }))

  it.effect("devices and device - tables and JSON for every device", () =>
    Effect.gen(function*() {
      const devices = yield* retried(["devices", "--json"], (r) => r.code === 0 && DEVICES.every((d) => r.stdout.includes(`"${d}"`)))
      const parsed = Schema.decodeUnknownSync(Admin.DevicesReply)(JSON.parse(devices.stdout))
      assert.deepStrictEqual([...new Set(parsed.devices.map((d) => d.device))].sort(), [...DEVICES].sort())
      const table = yield* bramble(["devices"])
      ok(table, "devices")
      assert.match(table.stdout, /^DEVICE\s+SENSOR\s+PARTITION\s+OWNER/m)
      assert.match(table.stdout, /^barn\s+env\s+\d\s+n1\s+/m)
      const report = yield* retried(["device", "greenhouse-1"], (r) => r.code === 0 && /Last closed windows\n\s+SENSOR/.test(r.stdout))
      assert.include(report.stdout, "Open windows")
      assert.include(report.stdout, "temperature=")
      const json = yield* bramble(["device", "greenhouse-1", "--json"])
      ok(json, "device --json")
      const state = Schema.decodeUnknownSync(Admin.DeviceState)(JSON.parse(json.stdout))
      assert.strictEqual(state.owner, "n1")
    }))

  it.effect("exit codes - 1 with advice when the request fails or nothing answers, 2 on usage errors", () =>
    Effect.gen(function*() {
      const missing = yield* bramble(["device", "no-such-device"])
      assert.strictEqual(missing.code, 1)
      assert.include(missing.stderr, "no readings of device")
      assert.include(missing.stderr, "bramble devices")
      const badId = yield* bramble(["device", "bad id"])
      assert.strictEqual(badId.code, 2)
      assert.include(badId.stderr, "is not a device id")
      const closed = yield* freePort
      const unreachable = yield* bramble(["status"], { BRAMBLE_NATS: `nats://127.0.0.1:${closed}` })
      assert.strictEqual(unreachable.code, 1)
      assert.include(unreachable.stderr, `cannot reach NATS at nats://127.0.0.1:${closed}`)
      assert.include(unreachable.stderr, "--server")
      assert.notInclude(unreachable.stderr, "CliFailure", "the message is not followed by a stack trace")
      const unknownActor = yield* bramble(["restart", "nobody"])
      assert.strictEqual(unknownActor.code, 1)
      assert.include(unknownActor.stderr, "no actor named")
      const negative = yield* bramble(["tail", "--count", "0"])
      assert.strictEqual(negative.code, 2)
      // Unknown flags are refused by the parser, with help, and a non-zero exit.
      const flag = yield* bramble(["devices", "--bogus"])
      assert.notStrictEqual(flag.code, 0)
      assert.include(flag.stderr + flag.stdout, "--bogus")
    }))

  it.effect("alarms, actors, restart - readable output and JSON", () =>
    Effect.gen(function*() {
      const alarms = yield* retried(["alarms"], (r) => r.code === 0 && r.stdout.includes("too-warm"))
      assert.match(alarms.stdout, /^DEVICE\s+RULE\s+STATE/m)
      assert.match(alarms.stdout, /^barn\s+too-warm\s+raised\s+/m)
      const json = Schema.decodeUnknownSync(Admin.AlarmsReply)(JSON.parse((yield* bramble(["alarms", "--json"])).stdout))
      assert.deepStrictEqual(json.alarms.map((a) => [a.device, a.rule, a.state]), [["barn", "too-warm", "raised"]])
      const other = yield* bramble(["alarms", "--device", "greenhouse-1"])
      ok(other, "alarms --device")
      assert.include(other.stdout, "No alarms raised.")
      const actors = yield* bramble(["actors"])
      ok(actors, "actors")
      assert.match(actors.stdout, /^partition-0\s+partition\s+running/m)
      assert.match(actors.stdout, /^storage\s+storage\s+running/m)
      const restart = yield* bramble(["restart", "partition-0"])
      ok(restart, "restart")
      assert.include(restart.stdout, "n1: partition-0 restarted")
    }))

  it.effect("tail - follows readings and window results live, as lines or JSON", () =>
    Effect.gen(function*() {
      const lines = yield* bramble(["tail", "readings", "-n", "3"])
      ok(lines, "tail")
      const readings = lines.stdout.trim().split("\n")
      assert.strictEqual(readings.length, 3)
      for (const line of readings) assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} reading (greenhouse-1|barn)\/env p\d temperature=/)
      const json = yield* bramble(["tail", "aggregates", "--device", "barn", "--json", "-n", "2"])
      ok(json, "tail --json")
      const events = json.stdout.trim().split("\n").map((l) => JSON.parse(l) as { kind: string; device: string })
      assert.deepStrictEqual(events.map((e) => [e.kind, e.device]), [["window", "barn"], ["window", "barn"]])
    }))
})
