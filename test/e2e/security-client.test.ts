/**
 * Clients with credentials, against nats-server 2.9.10:
 * - `NatsClient`: a `Redacted` password, an NKEY seed file, TLS with the cluster's CA, and a
 *   refused login that fails with a `NatsError` which does not carry the password;
 * - the operator CLI (the built `bramble`, as a child process) on a secured node with TLS:
 *   `--config` logs in as the admin over TLS; no credentials, a device's or the read-only
 *   dashboard's are refused with exit 1 and a message saying what to do.
 */
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { createUser } from "@nats-io/nkeys"
import { NatsClient } from "@bramble/nats"
import { createCertificateAuthority, createNodeCertificate, freePorts, makeManagedProcess, quoteNatsString, scopedTempDir } from "@bramble/deploy"
import { Effect, Redacted } from "effect"
import { connect as tcp } from "node:net"
import { startSecureCluster } from "./security-harness.js"

const CLI = resolve(import.meta.dirname, "../../cluster/dist/bin/bramble.js")

/** A nats-server on `conf`, stopped with the scope. */
const server = (dir: string, conf: string, port: number) =>
  Effect.gen(function*() {
    const path = join(dir, "nats-server.conf")
    writeFileSync(path, conf)
    yield* makeManagedProcess({
      name: "nats-server",
      command: "nats-server",
      args: ["-c", path],
      readiness: {
        probe: Effect.callback<void, Error>((resume) => {
          const socket = tcp({ host: "127.0.0.1", port })
          socket.once("connect", () => {
            socket.destroy()
            resume(Effect.void)
          })
          socket.once("error", (error) => resume(Effect.fail(error)))
        }),
        timeout: "30 seconds"
      }
    })
  })

describe("security - NatsClient credentials", () => {
  it.live("a Redacted password over TLS, and an NKEY seed file, log in; a wrong password fails without showing it", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-client-creds-" })
      const [port] = yield* freePorts(1)
      const ca = { certFile: join(dir, "ca.crt"), keyFile: join(dir, "ca.key") }
      yield* createCertificateAuthority({ cluster: "client", ...ca })
      yield* createNodeCertificate({ node: "n1", host: "127.0.0.1", caCertFile: ca.certFile, caKeyFile: ca.keyFile, certFile: join(dir, "n1.crt"), keyFile: join(dir, "n1.key") })
      const user = createUser()
      const seedFile = join(dir, "user.nk")
      writeFileSync(seedFile, new TextDecoder().decode(user.getSeed()), { mode: 0o600 })
      const password = "p-" + Math.random().toString(36).slice(2)
      yield* server(dir, [
        `port: ${port}`,
        "host: \"127.0.0.1\"",
        `jetstream { store_dir: ${quoteNatsString(join(dir, "js"))} }`,
        `tls { cert_file: ${quoteNatsString(join(dir, "n1.crt"))}, key_file: ${quoteNatsString(join(dir, "n1.key"))} }`,
        "authorization {",
        "  users: [",
        `    { user: "alice", password: ${quoteNatsString(password)} }`,
        `    { nkey: ${quoteNatsString(user.getPublicKey())} }`,
        "  ]",
        "}"
      ].join("\n"), port!)
      const url = `nats://127.0.0.1:${port}`

      const alice = yield* NatsClient.make({ servers: url, name: "alice", user: "alice", pass: Redacted.make(password), tls: { caFile: ca.certFile } })
      yield* Effect.promise(() => alice.nc.flush())
      assert.strictEqual(alice.nc.info?.tls_required, true)

      const byKey = yield* NatsClient.make({ servers: url, name: "nkey", nkeySeedFile: seedFile, tls: { caFile: ca.certFile } })
      yield* Effect.promise(() => byKey.nc.flush())

      // A wrong password: a NatsError (Connect), whose message and cause never show the password.
      const wrong = "wrong-" + password
      const error = yield* Effect.flip(Effect.scoped(NatsClient.make({ servers: url, name: "mallory", user: "alice", pass: Redacted.make(wrong), tls: { caFile: ca.certFile } }).pipe(
        Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.die(new Error("a refused login kept retrying")) })
      )))
      assert.strictEqual(error._tag, "NatsError")
      assert.strictEqual(error.reason, "Connect")
      assert.match(error.message, /Authorization Violation/i)
      assert.notInclude(error.message, wrong)
      assert.notInclude(String(error.cause), wrong)
    })))
})

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the built `bramble ...args` with no NATS or cluster-file settings from the environment. */
const bramble = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.promise(() =>
    new Promise<Run>((resolveRun) => {
      const { BRAMBLE_NATS: _n, BRAMBLE_CONFIG: _c, BRAMBLE_CREDENTIALS: _d, ...rest } = process.env
      execFile(process.execPath, [CLI, ...args], { env: { ...rest, NO_COLOR: "1", ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
        resolveRun({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr })
      })
    })
  )

describe("security - the operator CLI on a secured cluster", () => {
  it.live("--config logs in as the admin over TLS; without credentials, as a device or as the dashboard the request is refused with exit 1 and what to do", () =>
    Effect.scoped(Effect.gen(function*() {
      if (!existsSync(CLI)) return yield* Effect.die(new Error(`${CLI} is missing: run \`npm run build\` first (\`npm test\` does)`))
      const cluster = yield* startSecureCluster({ devices: [{ id: "dev-n", transport: "nats" }, { id: "dev-m", transport: "mqtt" }], tls: true, partitions: 2 })
      const file = cluster.configFile
      const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => bramble(args, env)
      const ok = (r: Run, what: string) => assert.strictEqual(r.code, 0, `${what} exited ${r.code}: ${r.stderr}`)
      const refused = (r: Run, what: string, pattern: RegExp) => {
        assert.strictEqual(r.code, 1, `${what} exited ${r.code}: ${r.stdout} ${r.stderr}`)
        assert.match(r.stderr, pattern, what)
      }

      // The admin, from the cluster file: its first node's server, TLS with the cluster's CA.
      const status = yield* run(["status", "--config", file, "--json"])
      ok(status, "status --config")
      assert.deepStrictEqual((JSON.parse(status.stdout) as { nodes: Array<{ node: string }> }).nodes.map((n) => n.node), ["n1"])
      ok(yield* run(["devices", "--json"], { BRAMBLE_CONFIG: file }), "devices with BRAMBLE_CONFIG")
      const partitions = yield* run(["partitions", "--config", file, "--json", "--server", cluster.natsUrl])
      ok(partitions, "partitions --config --server")
      ok(yield* run(["actors", "--config", file, "--json"]), "actors --config")
      // The credentials somewhere else than the file says: --credentials.
      const moved = join(cluster.credentials, "..", "elsewhere")
      mkdirSync(join(moved, "tls"), { recursive: true })
      writeFileSync(join(moved, "admin.password"), readFileSync(join(cluster.credentials, "admin.password")))
      writeFileSync(join(moved, "tls", "ca.crt"), readFileSync(join(cluster.credentials, "tls", "ca.crt")))
      ok(yield* run(["devices", "--config", file, "--credentials", moved, "--json"]), "devices --credentials")
      // A read-only dashboard login may read, not restart.
      ok(yield* run(["devices", "--config", file, "--user", "dashboard", "--json"]), "devices as the dashboard")

      // No credentials (and the CA, so the TLS handshake is not what fails).
      refused(yield* run(["devices", "--server", cluster.natsUrl], { NODE_EXTRA_CA_CERTS: join(cluster.credentials, "tls", "ca.crt") }), "devices without a login", /refused the login[\s\S]*--config FILE/)
      // A device: an MQTT-only device cannot log in over NATS; a NATS device may not ask.
      refused(yield* run(["devices", "--config", file, "--user", "device:dev-m"]), "devices as an MQTT device", /refused the login of device:dev-m/)
      refused(yield* run(["devices", "--config", file, "--user", "device:dev-n"]), "devices as a NATS device", /Permissions Violation[\s\S]*log in as the admin/i)
      refused(yield* run(["restart", "partition-0", "--config", file, "--user", "dashboard"]), "restart as the dashboard", /Permissions Violation[\s\S]*log in as the admin/i)
      // A wrong credentials directory says which file is missing.
      refused(yield* run(["status", "--config", file, "--credentials", join(moved, "nope")]), "status with a wrong --credentials", /admin\.password does not exist/)
      // Nothing was restarted.
      const actors = yield* run(["actors", "--config", file, "--json"])
      ok(actors, "actors")
      assert.match(actors.stdout, /"restarts":\s*0/)
      assert.notMatch(actors.stdout, /"restarts":\s*[1-9]/, "the dashboard's refused restart restarted something")
    })))
})
