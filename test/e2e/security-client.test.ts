/**
 * `NatsClient` with credentials, against nats-server 2.9.10: a `Redacted` password, an NKEY
 * seed file, TLS with the cluster's CA, and a refused login that fails with a `NatsError`
 * which does not carry the password.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { createUser } from "@nats-io/nkeys"
import { NatsClient } from "@bramble/nats"
import { createCertificateAuthority, createNodeCertificate, freePorts, makeManagedProcess, quoteNatsString, scopedTempDir } from "@bramble/deploy"
import { Effect, Redacted } from "effect"
import { connect as tcp } from "node:net"

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
