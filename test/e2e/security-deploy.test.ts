/**
 * `bramble deploy creds` and `bramble deploy render`, run as the CLI runs them (the real
 * command tree, in-process, with Node's services): credentials come out 0600 in 0700
 * directories and are never printed; the rendered deployment of a secured cluster file is
 * accepted by nats-server 2.9.10 (`-t`); a secured file cannot be rendered without its
 * credentials, and a bad file fails with exit code 1 and its reasons.
 */
import { execFile } from "node:child_process"
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { NodeServices } from "@effect/platform-node"
import { scopedTempDir } from "@bramble/deploy"
import { Effect, Exit } from "effect"
import { Command } from "effect/cli"
import { vi } from "vitest"
import { deployCommand } from "../../cluster/src/cli/DeployCommand.js"

const run = promisify(execFile)

/** Runs `bramble deploy …args`; what it printed, and how it ended. */
const bramble = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const printed: Array<string> = []
    const spies = (["log", "error", "warn", "info"] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation((...parts: Array<unknown>) => {
        printed.push(parts.map(String).join(" "))
      })
    )
    const exit = yield* Command.runWith(deployCommand, { version: "test" })(args).pipe(Effect.provide(NodeServices.layer), Effect.exit)
    for (const spy of spies) spy.mockRestore()
    return { exit, output: printed.join("\n") }
  })

/** The exit code a failed command ends the process with (its CliFailure's code). */
const exitCode = (exit: Exit.Exit<void, unknown>): number | undefined => {
  if (Exit.isSuccess(exit)) return 0
  const failure = exit.cause.reasons.find((r) => r._tag === "Fail") as { error?: { _tag?: string; code?: number } } | undefined
  return failure?.error?._tag === "CliFailure" ? failure.error.code : undefined
}

const files = (dir: string): Array<string> =>
  readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => join(dir, f)).filter((p) => statSync(p).isFile())

describe("security - bramble deploy", () => {
  it.live("creds then render: secrets, server configurations and env files stay in 0600 files, are never printed, and every rendered server configuration is valid", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-deploy-cli-" })
      const credentials = join(dir, "credentials")
      const clusterFile = join(dir, "cluster.yaml")
      writeFileSync(clusterFile, [
        "cluster: { name: greenhouse, partitions: 4 }",
        "nodes:",
        "  - { name: pi-1, host: 10.0.0.11 }",
        "  - { name: pi-2, host: 10.0.0.12 }",
        "sink: { kind: influx-v2, url: \"http://10.0.0.11:8086\", tokenEnv: INFLUX_TOKEN }",
        "security:",
        `  credentials: ${credentials}`,
        "  devices: [{ id: door }, { id: meter, transport: nats }]",
        "  tls: { enabled: true }"
      ].join("\n"))

      const creds = yield* bramble(["creds", "--config", clusterFile, "--out", credentials, "--cost", "4"])
      assert.isTrue(Exit.isSuccess(creds.exit), creds.output)
      assert.include(creds.output, "created:")
      const secrets = files(credentials)
      assert.isAbove(secrets.length, 10)
      for (const file of secrets) {
        assert.strictEqual(statSync(file).mode & 0o777, 0o600, file)
        // Neither a password nor a key is printed.
        if (file.endsWith(".password") || file.endsWith(".key")) {
          const secret = readFileSync(file, "utf8").trim().split("\n").find((l) => !l.startsWith("-----"))!
          assert.notInclude(creds.output, secret, `${file} was printed`)
        }
      }

      const again = yield* bramble(["creds", "--config", clusterFile, "--out", credentials, "--cost", "4"])
      assert.isTrue(Exit.isSuccess(again.exit))
      assert.notInclude(again.output, "created:")

      const out = join(dir, "deploy-out")
      const render = yield* bramble(["render", clusterFile, "--out", out, "--credentials", credentials, "--data-dir", join(dir, "data")])
      assert.isTrue(Exit.isSuccess(render.exit), render.output)
      for (const node of ["pi-1", "pi-2"]) {
        const conf = join(out, node, "nats-server.conf")
        assert.strictEqual(statSync(conf).mode & 0o777, 0o600, "a configuration with password hashes is the owner's only")
        assert.strictEqual(statSync(join(out, node, "bramble.env")).mode & 0o777, 0o600, "the env file gets the database token")
        assert.strictEqual(statSync(join(out, node)).mode & 0o777, 0o700, node)
        assert.strictEqual(statSync(join(out, node, "README.md")).mode & 0o777, 0o644)
        assert.include(readFileSync(conf, "utf8"), "http: \"127.0.0.1:8222\"", "monitoring on loopback only")
        const text = readFileSync(conf, "utf8")
        assert.include(text, "authorization {")
        assert.include(text, "verify: true")
        for (const file of secrets.filter((f) => f.endsWith(".password"))) assert.notInclude(text, readFileSync(file, "utf8").trim())
        const checked = yield* Effect.promise(() => run("/usr/sbin/nats-server", ["-t", "-c", conf]).then((r) => r.stdout + r.stderr, (e: { stderr?: string }) => `FAILED ${e.stderr ?? ""}`))
        assert.include(checked, "is valid", checked)
      }
    })))

  it.live("a secured cluster file without its credentials, or an invalid one, fails with exit code 1 and says why", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-deploy-cli-" })
      const clusterFile = join(dir, "cluster.yaml")
      writeFileSync(clusterFile, [
        "cluster: { name: home }",
        "nodes: [{ name: pi-1 }]",
        "sink: { kind: influx-v2, url: \"http://x\" }",
        `security: { credentials: ${join(dir, "nowhere")} }`
      ].join("\n"))
      const missing = yield* bramble(["render", clusterFile, "--out", join(dir, "out")])
      assert.strictEqual(exitCode(missing.exit), 1)
      assert.include(missing.output, "bramble deploy creds")
      assert.include(missing.output, join(dir, "nowhere", "nats-users.json"))

      writeFileSync(clusterFile, "cluster: { name: home }\nnodes: [{ name: pi-1 }, { name: pi-2, host: 10.0.0.2 }]\nsink: { kind: influx-v2, url: \"http://x\" }\nsecurity: { credentials: relative/dir }\n")
      const invalid = yield* bramble(["creds", "--config", clusterFile, "--out", join(dir, "c")])
      assert.strictEqual(exitCode(invalid.exit), 1)
      assert.include(invalid.output, "security.credentials")
      assert.include(invalid.output, "absolute path")

      writeFileSync(clusterFile, "cluster: { name: home }\nnodes: [{ name: pi-1 }, { name: pi-2, host: 10.0.0.2 }]\nsink: { kind: influx-v2, url: \"http://x\" }\nsecurity: { credentials: /c }\n")
      const noTls = yield* bramble(["creds", "--config", clusterFile, "--out", join(dir, "c")])
      assert.strictEqual(exitCode(noTls.exit), 1)
      assert.include(noTls.output, "security.tls")
    })))
})
