/**
 * A Pi installs a release, not a source build: `npm run release`'s tarball, unpacked into an
 * empty folder and installed by its own `install.sh` (`npm ci --omit=dev`), holds no
 * TypeScript, turbo or test tooling, and runs a node — `bramble node`, as systemd starts it,
 * against a real nats-server it starts itself and a real VictoriaMetrics — whose simulated
 * sensor's readings are stored. Needs the npm registry (as `npm ci` on a Pi does).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { freePorts, scopedTempDir, startVictoriaMetrics } from "@bramble/deploy"

const ROOT = resolve(import.meta.dirname, "../..")
const RELEASE = join(ROOT, "cluster/dist/bin/release.js")

const run = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  Effect.promise(() =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile(command, [...args], { cwd, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
        done({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr })
      })
    })
  )

/** Every .ts file that is not a declaration, outside node_modules. */
const typescriptSources = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : typescriptSources(path)
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : []
  })

const storedReadings = (dbUrl: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${dbUrl}/api/v1/query?query=${encodeURIComponent("sum(count_over_time(reading_temperature[1h]))")}`)
    const body = await response.json() as { data?: { result?: ReadonlyArray<{ value: [number, string] }> } }
    return Number(body.data?.result?.[0]?.value[1] ?? "0")
  })

// `it.live`: the node runs on the real clock (TestClock would never wake the polling below).
it.live("release - the tarball installs with dev dependencies omitted and runs a node that stores readings", () =>
  Effect.scoped(Effect.gen(function*() {
    assert.isTrue(existsSync(RELEASE), `${RELEASE} is missing: run \`npm run build\` first (\`npm test\` does)`)
    const dir = yield* scopedTempDir({ prefix: "bramble-release-" })

    const built = yield* run(process.execPath, [RELEASE, "--out", join(dir, "out")], ROOT)
    assert.strictEqual(built.code, 0, built.stderr)
    const tarball = readdirSync(join(dir, "out")).find((f) => /^bramble-\d+\.\d+\.\d+\.tar\.gz$/.test(f))
    assert.isDefined(tarball, readdirSync(join(dir, "out")).join(", "))

    // An empty folder, as on a Pi.
    const pi = join(dir, "pi")
    mkdirSync(pi)
    assert.strictEqual((yield* run("tar", ["-xzf", join(dir, "out", tarball!)], pi)).code, 0)
    const home = join(pi, tarball!.replace(/\.tar\.gz$/, ""))
    assert.deepStrictEqual(typescriptSources(home), [], "only compiled JavaScript is shipped")
    const installed = yield* run("bash", [join(home, "install.sh")], pi)
    assert.strictEqual(installed.code, 0, installed.stdout + installed.stderr)
    assert.match(installed.stdout, /installed: bramble v\d+\.\d+\.\d+/)
    for (const dev of ["typescript", "turbo", "vitest", "tsx", "esbuild", "playwright-core", "mqtt", "fast-check", "ajv"]) {
      assert.isFalse(existsSync(join(home, "node_modules", dev)), `${dev} is not installed by a release`)
    }
    assert.isTrue(existsSync(join(home, "node_modules/node-dht-sensor")), "the native addons are installed")

    // A one-node bramble from the installed release.
    const db = yield* startVictoriaMetrics({ dir: join(dir, "vm") })
    const ports = yield* freePorts(4)
    const clusterFile = join(dir, "cluster.yaml")
    writeFileSync(clusterFile, [
      `cluster: { name: released, partitions: 2, dataDir: ${JSON.stringify(join(dir, "data"))} }`,
      `nodes: [{ name: n1, httpPort: 0, nats: { port: ${ports[0]}, mqttPort: ${ports[1]}, httpPort: ${ports[2]}, clusterPort: ${ports[3]} } }]`,
      `sensors: [{ device: released-1, node: n1, kind: simulated-dht22, interval: 2s }]`,
      `windows: [{ name: 10s, size: 10s }]`,
      `sink: { kind: influx-v2, url: ${db.url} }`
    ].join("\n"))
    const node = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(join(home, "node_modules/.bin/bramble"), ["node", "--config", clusterFile, "--node", "n1"], {
          cwd: home,
          stdio: ["ignore", "ignore", "pipe"]
        })
      ),
      (child: ChildProcess) =>
        Effect.promise(() =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done()
            child.once("exit", () => done())
            child.kill("SIGTERM")
          })
        )
    )
    let stderr = ""
    node.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()))

    // Until a reading is stored, or the node has exited (then its stderr says why); a node
    // that neither stores nor exits fails the test's own timeout.
    let stored = 0
    while (stored === 0 && node.exitCode === null) {
      yield* Effect.sleep("1 second")
      yield* db.forceFlush
      stored = yield* storedReadings(db.url)
    }
    assert.isNull(node.exitCode, `the installed node exited: ${stderr}`)
    assert.isAbove(stored, 0)
  })), { timeout: 300_000 })
