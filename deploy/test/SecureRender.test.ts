/**
 * Rendering a secured cluster file: golden files (users, permissions and TLS in every
 * nats-server.conf, the credentials each README tells its Pi to install), the rules of the
 * renderer (no open server, no empty allow list, no secret in the output), and nats-server
 * 2.9.10 accepting every rendered configuration with real generated certificates.
 */
import { execFile } from "node:child_process"
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { type ClusterConfig, parseClusterConfig } from "@bramble/config"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { afterAll } from "vitest"
import {
  generateCredentials,
  natsSpecForNode,
  parsePasswordHashes,
  readPasswordHashes,
  renderDeployment,
  renderNatsServerConf,
  type RenderedFile,
  renderedFileMode,
  writeRenderedFiles
} from "../src/index.js"
import { assertGolden } from "./support/Golden.js"

const run = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))
const scratch = mkdtempSync(join(tmpdir(), "bramble-secure-render-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const parse = (text: string): ClusterConfig => Result.getOrThrow(parseClusterConfig(text, "cluster.yaml"))
const secureFile = readFileSync(join(here, "golden/three-node-secure.cluster.yaml"), "utf8")
const secure = parse(secureFile)
const hashesFile = join(here, "golden/secure-credentials/nats-users.json")
const hashes = Effect.runSync(parsePasswordHashes(readFileSync(hashesFile, "utf8"), hashesFile))

const byPath = (files: ReadonlyArray<RenderedFile>) => new Map(files.map((f) => [f.path, f.content]))
const file = (files: ReadonlyArray<RenderedFile>, path: string): string => {
  const content = byPath(files).get(path)
  assert.isDefined(content, `${path} is rendered`)
  return content!
}

/** The block of one user in a rendered configuration. */
const userBlock = (conf: string, user: string): string => {
  const start = conf.indexOf(`      user: "${user}"`)
  assert.isAbove(start, -1, `user ${user} is rendered`)
  return conf.slice(start, conf.indexOf("\n    }\n", start))
}

describe("renderDeployment of a secured cluster file", () => {
  it("writeRenderedFiles - nats-server.conf and bramble.env 0600 in 0700 node directories, the rest 0644; rendering again tightens files left open", () => {
    const out = join(scratch, "written")
    const files = renderDeployment(secure, { passwordHashes: hashes })
    // A previous render (or a copy) left the node's files world-readable.
    mkdirSync(join(out, "pi-1"), { recursive: true, mode: 0o755 })
    writeFileSync(join(out, "pi-1", "nats-server.conf"), "old", { mode: 0o644 })
    writeFileSync(join(out, "pi-1", "bramble.env"), "old", { mode: 0o666 })
    chmodSync(join(out, "pi-1", "bramble.env"), 0o666)
    writeRenderedFiles(out, files)
    const mode = (path: string) => statSync(join(out, path)).mode & 0o777
    for (const f of files) {
      const private_ = f.path.endsWith("/nats-server.conf") || f.path.endsWith("/bramble.env")
      assert.strictEqual(mode(f.path), private_ ? 0o600 : 0o644, f.path)
      assert.strictEqual(renderedFileMode(f.path), private_ ? 0o600 : 0o644, f.path)
      assert.strictEqual(readFileSync(join(out, f.path), "utf8"), f.content, f.path)
    }
    for (const node of ["pi-1", "pi-2", "pi-3"]) assert.strictEqual(mode(node), 0o700, node)
    // Grafana's container must read its provisioning: not made private.
    assert.strictEqual(mode("grafana") & 0o005, 0o005)
    // Nothing left behind by the atomic writes.
    assert.deepStrictEqual(readdirSync(join(out, "pi-1")).sort(), ["README.md", "bramble-node.service", "bramble.env", "nats-server.conf"])
  })

  it("golden - three secured nodes render to the checked-in files", () => {
    assertGolden(join(here, "golden/three-node-secure"), renderDeployment(secure, { passwordHashes: hashes }))
  })

  it("is deterministic, and holds password hashes but no password, key or token", () => {
    const first = renderDeployment(secure, { passwordHashes: hashes })
    assert.deepStrictEqual(renderDeployment(parse(secureFile), { passwordHashes: new Map(hashes) }), first)
    const text = first.map((f) => f.content).join("\n")
    assert.notInclude(text, "not-a-secret")
    assert.notInclude(text, "PRIVATE KEY")
    for (const hash of hashes.values()) assert.include(text, hash)
  })

  it("refuses to render a secured cluster file without the hash of every user", () => {
    assert.throws(() => renderDeployment(secure), /security section/)
    const partial = new Map(hashes)
    partial.delete("device:irrigation")
    assert.throws(() => renderDeployment(secure, { passwordHashes: partial }), /"device:irrigation"/)
  })

  it("every server gets every user, TLS on client, MQTT and routes, and routes verify certificates", () => {
    const conf = file(renderDeployment(secure, { passwordHashes: hashes }), "pi-2/nats-server.conf")
    for (const user of hashes.keys()) assert.include(conf, `user: "${user}"`)
    assert.include(conf, "tls {\n  cert_file: \"/etc/bramble/credentials/tls/pi-2.crt\"\n  key_file: \"/etc/bramble/credentials/tls/pi-2.key\"\n  timeout: 5\n}")
    assert.include(conf, "mqtt {\n  host: \"10.0.0.12\"\n  port: 1883\n  stream_replicas: 3\n  consumer_replicas: 3\n  tls {\n")
    assert.include(
      conf,
      "  tls {\n    cert_file: \"/etc/bramble/credentials/tls/pi-2.crt\"\n    key_file: \"/etc/bramble/credentials/tls/pi-2.key\"\n    ca_file: \"/etc/bramble/credentials/tls/ca.crt\"\n    verify: true\n    timeout: 5\n  }\n}"
    )
    assert.include(conf, "authorization {\n  timeout: 5\n")
  })

  it("a device may publish only its own readings, in its own partition, and read only its own alarms and commands", () => {
    const conf = file(renderDeployment(secure, { passwordHashes: hashes }), "pi-1/nats-server.conf")
    const door = userBlock(conf, "device:greenhouse-door")
    assert.include(door, "allowed_connection_types: [\"MQTT\"]")
    assert.match(door, /publish \{\n {10}allow: \[\n {12}"ingest\.greenhouse-door\.\*"\n {12}"readings\.\d\.greenhouse-door\.\*"\n {10}\]/)
    assert.include(door, "\"$MQTT.sub.>\"")
    assert.notInclude(door, "$JS")
    assert.notInclude(door, "bramble.admin")
    const irrigation = userBlock(conf, "device:irrigation")
    assert.include(irrigation, "allowed_connection_types: [\"STANDARD\"]")
    assert.include(irrigation, "\"_INBOX.device.irrigation.>\"")
    assert.notInclude(irrigation, "$MQTT")
  })

  it("each node's README installs only that node's credentials, never the CA key or another node's key", () => {
    const files = renderDeployment(secure, { passwordHashes: hashes })
    const readme = file(files, "pi-2/README.md")
    assert.include(readme, "## Credentials")
    assert.include(readme, "sudo install -m 0600 -o bramble -g gpio credentials/nats-users.json /etc/bramble/credentials/nats-users.json")
    assert.include(readme, "credentials/nodes/pi-2.password /etc/bramble/credentials/nodes/pi-2.password")
    assert.include(readme, "credentials/tls/pi-2.key /etc/bramble/credentials/tls/pi-2.key")
    assert.include(readme, "credentials/tls/ca.crt /etc/bramble/credentials/tls/ca.crt")
    assert.notInclude(readme, "pi-1.key")
    assert.notInclude(readme, "pi-1.password")
    assert.notMatch(readme, /install[^\n]*ca\.key/)
    assert.include(readme, "mqtts://10.0.0.12:1883")
    // The unsecured README is unchanged (its golden covers that); it says nothing about credentials.
    const open = renderDeployment(parse(secureFile.replace(/\nsecurity:[\s\S]*$/, "\n")))
    assert.notInclude(file(open, "pi-2/README.md"), "Credentials")
  })

  it("the compose file's nats service mounts the credentials the configuration names", () => {
    const compose = file(renderDeployment(secure, { passwordHashes: hashes }), "docker-compose.yml")
    assert.include(compose, "- \"/etc/bramble/credentials:/etc/bramble/credentials:ro\"")
  })

  it("a node's spec cannot be made from a secured cluster file without its users (no open server)", () => {
    assert.throws(() => natsSpecForNode(secure, "pi-1"), /security/)
  })

  it.live("nats-server 2.9.10 accepts every secured nats-server.conf, with real generated certificates", () =>
    Effect.gen(function*() {
      const credentials = join(scratch, "credentials")
      const dataDir = join(scratch, "data")
      // The same cluster file with the credentials where this test generated them.
      const config = parse(secureFile.replace("credentials: /etc/bramble/credentials", `credentials: ${credentials}`))
      yield* generateCredentials({ config, out: credentials, cost: 4 })
      const files = renderDeployment(config, { dataDir, passwordHashes: yield* readPasswordHashes(credentials) })
      const confs = files.filter((f) => f.path.endsWith("/nats-server.conf"))
      assert.strictEqual(confs.length, 3)
      for (const conf of confs) {
        const path = join(scratch, "rendered", conf.path)
        mkdirSync(dirname(path), { recursive: true })
        writeFileSync(path, conf.content)
        const result = yield* Effect.promise(() =>
          run("/usr/sbin/nats-server", ["-t", "-c", path]).then(
            ({ stdout, stderr }) => ({ ok: true, output: stdout + stderr }),
            (error: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${error.stdout ?? ""}${error.stderr ?? ""}` })
          )
        )
        assert.isTrue(result.ok, `${conf.path}: ${result.output}`)
        assert.include(result.output, "is valid")
      }
    }))

  it("an unsecured spec renders exactly as before: no tls, no authorization block", () => {
    const open = parse(secureFile.replace(/\nsecurity:[\s\S]*$/, "\n"))
    const conf = renderNatsServerConf(natsSpecForNode(open, "pi-1")!)
    assert.notInclude(conf, "tls {")
    assert.notInclude(conf, "authorization")
  })
})
