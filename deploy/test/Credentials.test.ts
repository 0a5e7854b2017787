/**
 * `generateCredentials` and reading credentials back: what is made, with which permissions,
 * that running it again keeps what exists and adds what the cluster file now needs, that
 * the certificates chain to the CA and name the node's address, and that nothing secret
 * leaves the files. The hashes are checked by nats-server itself in
 * test/e2e/security-authz.test.ts; here against crypt(3).
 */
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { type ClusterConfig, parseClusterConfig } from "@bramble/config"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Redacted, Result } from "effect"
import { afterAll } from "vitest"
import {
  bcryptHash,
  bcryptMatches,
  credentialPaths,
  generateCredentials,
  generatePassword,
  isBcryptHash,
  loadClientCredentials,
  loadNodeCredentials,
  loadServerSecurity,
  nodeAltNames,
  readPasswordHashes,
  type SecurityError
} from "../src/index.js"

const run = promisify(execFile)
const scratch = mkdtempSync(join(tmpdir(), "bramble-creds-test-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))
let dirs = 0
const freshDir = () => join(scratch, `c${++dirs}`)

const configFor = (credentials: string, extra: { readonly devices?: string; readonly pi1Host?: string } = {}): ClusterConfig =>
  Result.getOrThrow(parseClusterConfig([
    "cluster: { name: home, partitions: 4 }",
    "nodes:",
    `  - { name: pi-1, host: ${extra.pi1Host ?? "10.0.0.11"} }`,
    "  - { name: pi-2, host: pi-2.local }",
    "  - { name: ext, nats: { url: \"nats://10.0.0.99:4222\" } }",
    "sink: { kind: influx-v2, url: \"http://10.0.0.11:8086\" }",
    "security:",
    `  credentials: ${credentials}`,
    `  devices: ${extra.devices ?? "[{ id: door }, { id: meter, transport: nats }]"}`,
    "  tls: { enabled: true }"
  ].join("\n")))

const mode = (path: string) => statSync(path).mode & 0o777

const failure = <A>(exit: Exit.Exit<A, SecurityError>): SecurityError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = (exit as Exit.Failure<A, SecurityError>).cause.reasons.find((r) => r._tag === "Fail")
  assert.isDefined(error, "a typed failure")
  return (error as unknown as { error: SecurityError }).error
}

describe("bcrypt through crypt(3)", () => {
  it.live("a generated password hashes to a bcrypt hash it matches, and another password does not", () =>
    Effect.gen(function*() {
      const password = generatePassword()
      assert.match(Redacted.value(password), /^[A-Za-z0-9_-]{32}$/)
      const hash = yield* bcryptHash(password, 4)
      assert.isTrue(isBcryptHash(hash))
      assert.isTrue(hash.startsWith("$2b$04$"))
      assert.isTrue(yield* bcryptMatches(password, hash))
      assert.isFalse(yield* bcryptMatches(generatePassword(), hash))
      // A random salt every time.
      assert.notStrictEqual(yield* bcryptHash(password, 4), hash)
      // The secret never shows up when the value is printed.
      assert.notInclude(String(password), Redacted.value(password))
      assert.notInclude(JSON.stringify({ password }), Redacted.value(password))
    }))

  it.live("costs outside 4-31 and passwords crypt(3) cannot take exactly are refused", () =>
    Effect.gen(function*() {
      assert.strictEqual(failure(yield* Effect.exit(bcryptHash(generatePassword(), 3))).reason, "Malformed")
      assert.strictEqual(failure(yield* Effect.exit(bcryptHash(Redacted.make("a\0b"), 4))).reason, "Malformed")
      assert.strictEqual(failure(yield* Effect.exit(bcryptHash(Redacted.make("x".repeat(73)), 4))).reason, "Malformed")
    }))
})

describe("generateCredentials", () => {
  it.live("makes a password per node, device, admin and dashboard, their hashes, a CA and node certificates; 0600 files in 0700 directories", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      const config = configFor(dir)
      const report = yield* generateCredentials({ config, out: dir, cost: 4 })
      const paths = credentialPaths(dir)
      assert.deepStrictEqual([...report.created].sort(), [
        "admin.password",
        "dashboard.password",
        "devices/door.password",
        "devices/meter.password",
        "nodes/ext.password",
        "nodes/pi-1.password",
        "nodes/pi-2.password",
        "tls/ca.crt",
        "tls/ca.key",
        "tls/pi-1.crt",
        "tls/pi-1.key",
        "tls/pi-2.crt",
        "tls/pi-2.key"
      ])
      // A node using an existing server connects as a client only: no certificate.
      assert.isFalse(existsSync(paths.nodeCert("ext")))
      for (const file of [...report.created.map((f) => join(dir, f)), paths.users]) assert.strictEqual(mode(file), 0o600, file)
      for (const d of [dir, join(dir, "nodes"), join(dir, "devices"), paths.tlsDir]) assert.strictEqual(mode(d), 0o700, d)

      const hashes = yield* readPasswordHashes(dir)
      assert.deepStrictEqual([...hashes.keys()].sort(), ["admin", "dashboard", "device:door", "device:meter", "node:ext", "node:pi-1", "node:pi-2"])
      const door = readFileSync(paths.devicePassword("door"), "utf8").trim()
      assert.isTrue(yield* bcryptMatches(Redacted.make(door), hashes.get("device:door")!))
      // The report names files, never their contents.
      for (const file of report.created.filter((f) => f.endsWith(".password"))) {
        assert.notInclude(JSON.stringify(report), readFileSync(join(dir, file), "utf8").trim())
      }
    }))

  it.live("node certificates chain to the CA, name the node's address, and serve both ends of a route", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      yield* generateCredentials({ config: configFor(dir), out: dir, cost: 4 })
      const paths = credentialPaths(dir)
      for (const node of ["pi-1", "pi-2"]) {
        const verified = yield* Effect.promise(() => run("openssl", ["verify", "-CAfile", paths.caCert, paths.nodeCert(node)]))
        assert.include(verified.stdout, ": OK")
        const text = (yield* Effect.promise(() => run("openssl", ["x509", "-in", paths.nodeCert(node), "-noout", "-text"]))).stdout
        assert.include(text, "TLS Web Server Authentication, TLS Web Client Authentication")
        assert.include(text, "CA:FALSE")
        assert.include(text, "IP Address:127.0.0.1")
      }
      const first = (yield* Effect.promise(() => run("openssl", ["x509", "-in", paths.nodeCert("pi-1"), "-noout", "-ext", "subjectAltName"]))).stdout
      assert.include(first, "IP Address:10.0.0.11")
      const second = (yield* Effect.promise(() => run("openssl", ["x509", "-in", paths.nodeCert("pi-2"), "-noout", "-ext", "subjectAltName"]))).stdout
      assert.include(second, "DNS:pi-2.local")
      const ca = (yield* Effect.promise(() => run("openssl", ["x509", "-in", paths.caCert, "-noout", "-text"]))).stdout
      assert.include(ca, "CA:TRUE")
      assert.include(ca, "Bramble CA home")
      assert.deepStrictEqual(nodeAltNames("pi-9", "0.0.0.0"), ["DNS:pi-9", "DNS:localhost", "IP:127.0.0.1", "IP:::1"])
      assert.throws(() => nodeAltNames("pi-9", "bad host,DNS:evil"), /neither an IP address nor a host name/)
    }))

  it.live("running again keeps everything; a new device is added; an edited password is hashed again; rotate replaces all", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      const config = configFor(dir)
      const paths = credentialPaths(dir)
      yield* generateCredentials({ config, out: dir, cost: 4 })
      const users = readFileSync(paths.users, "utf8")
      const doorPassword = readFileSync(paths.devicePassword("door"), "utf8")
      const cert = readFileSync(paths.nodeCert("pi-1"), "utf8")

      const again = yield* generateCredentials({ config, out: dir, cost: 4 })
      assert.deepStrictEqual(again.created, [])
      assert.strictEqual(readFileSync(paths.users, "utf8"), users, "the same hashes, byte for byte")
      assert.strictEqual(readFileSync(paths.nodeCert("pi-1"), "utf8"), cert)

      const more = yield* generateCredentials({ config: configFor(dir, { devices: "[{ id: door }, { id: meter, transport: nats }, { id: gate }]" }), out: dir, cost: 4 })
      assert.deepStrictEqual(more.created, ["devices/gate.password"])
      assert.strictEqual(readFileSync(paths.devicePassword("door"), "utf8"), doorPassword)

      // A password handed out and deleted here: its hash stays, so the device keeps working.
      rmSync(paths.devicePassword("gate"))
      const handedOut = yield* generateCredentials({ config: configFor(dir, { devices: "[{ id: door }, { id: meter, transport: nats }, { id: gate }]" }), out: dir, cost: 4 })
      assert.deepStrictEqual(handedOut.hashOnly, ["device:gate"])
      assert.isTrue((yield* readPasswordHashes(dir)).has("device:gate"))

      // A device removed from the file is dropped from the hashes.
      const fewer = yield* generateCredentials({ config, out: dir, cost: 4 })
      assert.deepStrictEqual(fewer.dropped, ["device:gate"])

      writeFileSync(paths.devicePassword("door"), "a-password-someone-chose\n")
      yield* generateCredentials({ config, out: dir, cost: 4 })
      assert.isTrue(yield* bcryptMatches(Redacted.make("a-password-someone-chose"), (yield* readPasswordHashes(dir)).get("device:door")!))

      const rotated = yield* generateCredentials({ config, out: dir, cost: 4, rotate: true })
      assert.include(rotated.created, "tls/ca.crt")
      assert.notStrictEqual(readFileSync(paths.devicePassword("door"), "utf8"), "a-password-someone-chose\n")
      assert.notStrictEqual(readFileSync(paths.nodeCert("pi-1"), "utf8"), cert)
    }))

  it.live("a node whose address changed gets a new certificate; without TLS no certificates are made", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      const paths = credentialPaths(dir)
      yield* generateCredentials({ config: configFor(dir), out: dir, cost: 4 })
      const before = readFileSync(paths.nodeCert("pi-2"), "utf8")
      const moved = yield* generateCredentials({ config: configFor(dir, { pi1Host: "10.0.0.21" }), out: dir, cost: 4 })
      assert.deepStrictEqual(moved.created, ["tls/pi-1.crt", "tls/pi-1.key"])
      const san = (yield* Effect.promise(() => run("openssl", ["x509", "-in", paths.nodeCert("pi-1"), "-noout", "-ext", "subjectAltName"]))).stdout
      assert.include(san, "IP Address:10.0.0.21")
      assert.strictEqual(readFileSync(paths.nodeCert("pi-2"), "utf8"), before)

      const plain = freshDir()
      // One server needs no routes, so it may go without TLS.
      const single = Result.getOrThrow(parseClusterConfig(
        `cluster: { name: home }\nnodes: [{ name: pi-1 }]\nsink: { kind: influx-v2, url: "http://x" }\nsecurity: { credentials: ${plain} }\n`
      ))
      const report = yield* generateCredentials({ config: single, out: plain, cost: 4 })
      assert.isFalse(report.created.some((f) => f.startsWith("tls/")))
      assert.isFalse(existsSync(credentialPaths(plain).tlsDir))
    }))
})

describe("loading credentials", () => {
  it.live("a node gets its users, TLS files and client credentials; the admin and a NATS device get their inbox prefixes", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      const config = configFor(dir)
      yield* generateCredentials({ config, out: dir, cost: 4 })
      const server = yield* loadServerSecurity(config, "pi-1")
      assert.strictEqual(server!.users.length, 7)
      assert.deepStrictEqual(server!.tls, { caFile: join(dir, "tls/ca.crt"), certFile: join(dir, "tls/pi-1.crt"), keyFile: join(dir, "tls/pi-1.key") })
      const node = yield* loadNodeCredentials(config, "pi-1")
      assert.strictEqual(node!.user, "node:pi-1")
      assert.strictEqual(Redacted.value(node!.pass), readFileSync(join(dir, "nodes/pi-1.password"), "utf8").trim())
      assert.deepStrictEqual(node!.tls, { caFile: join(dir, "tls/ca.crt") })
      assert.isUndefined(node!.inboxPrefix)
      const meter = yield* loadClientCredentials(config, { kind: "device", device: "meter", transport: "nats" })
      assert.strictEqual(meter!.inboxPrefix, "_INBOX.device.meter")
      const dashboard = yield* loadClientCredentials(config, { kind: "dashboard" })
      assert.strictEqual(dashboard!.inboxPrefix, "_INBOX.dashboard")
    }))

  it.live("without a security section there is nothing to load", () =>
    Effect.gen(function*() {
      const open = Result.getOrThrow(parseClusterConfig("cluster: { name: x }\nnodes: [{ name: n1 }]\nsink: { kind: influx-v2, url: \"http://x\" }\n"))
      assert.isUndefined(yield* loadServerSecurity(open, "n1"))
      assert.isUndefined(yield* loadNodeCredentials(open, "n1"))
    }))

  it.live("missing, empty and malformed credential files are refused with the file and a remedy, never a secret", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      const config = configFor(dir)
      const missing = failure(yield* Effect.exit(loadServerSecurity(config, "pi-1")))
      assert.strictEqual(missing.reason, "Missing")
      assert.include(missing.message, join(dir, "nats-users.json"))
      assert.include(missing.message, "bramble deploy creds")

      yield* generateCredentials({ config, out: dir, cost: 4 })
      const paths = credentialPaths(dir)
      rmSync(paths.nodeKey("pi-1"))
      const noKey = failure(yield* Effect.exit(loadServerSecurity(config, "pi-1")))
      assert.strictEqual(noKey.reason, "Missing")
      assert.include(noKey.message, "pi-1.key")

      writeFileSync(paths.nodePassword("pi-2"), "\n")
      assert.strictEqual(failure(yield* Effect.exit(loadNodeCredentials(config, "pi-2"))).reason, "Malformed")

      const secret = readFileSync(paths.adminPassword, "utf8").trim()
      writeFileSync(paths.users, JSON.stringify({ version: 1, users: { admin: secret } }))
      const malformed = failure(yield* Effect.exit(loadServerSecurity(config, "pi-2")))
      assert.strictEqual(malformed.reason, "Malformed")
      assert.notInclude(malformed.message, secret)

      writeFileSync(paths.users, "{ not json")
      assert.strictEqual(failure(yield* Effect.exit(loadServerSecurity(config, "pi-2"))).reason, "Malformed")
    }))
})
