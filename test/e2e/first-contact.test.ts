/**
 * What a newcomer types first, run as they run it: `npx bramble …` (the bin npm linked at
 * install time, never a registry fetch: `npx --no`), from the clone's root and from a
 * subfolder, the demo unattended (`--for`), and the cluster-file commands. The bin is
 * checked at its root cause too: npm links a bin from the lock's record when it installs,
 * before the build, so the bin must be a file in git, and the lock must name it.
 * (.ci/run also runs README command 1 itself, on its clean clone.)
 */
import { execFile } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"

const ROOT = resolve(import.meta.dirname, "../..")

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string, timeoutMs = 180_000): Promise<Run> =>
  new Promise((done) => {
    execFile(command, [...args], { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
      done({ code, stdout, stderr })
    })
  })

/** `npx bramble …` as the README writes it, but never fetching a package named bramble. */
const npxBramble = (args: ReadonlyArray<string>, cwd = ROOT, timeoutMs?: number) => run("npx", ["--no", "bramble", ...args], cwd, timeoutMs)

const scratches: Array<string> = []
const scratch = () => {
  const dir = mkdtempSync(join(tmpdir(), "bramble-first-contact-"))
  scratches.push(dir)
  return dir
}
afterAll(() => scratches.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

describe("first contact - the bramble command", () => {
  it("bin - the bin npm links is a committed file, the lock names it, and node_modules/.bin/bramble is it", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "cluster/package.json"), "utf8")) as { bin: Record<string, string> }
    const target = pkg.bin["bramble"]!
    assert.notMatch(target, /dist\//, "a build output does not exist when npm links bins")
    const tracked = await run("git", ["ls-files", "--error-unmatch", join("cluster", target)], ROOT)
    assert.strictEqual(tracked.code, 0, `cluster/${target} is in git`)
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { bin?: Record<string, string> }> }
    assert.strictEqual(lock.packages["cluster"]?.bin?.["bramble"], target.replace(/^\.\//, ""), "npm links the bin the lock records")
    assert.strictEqual(realpathSync(join(ROOT, "node_modules/.bin/bramble")), join(ROOT, "cluster", target))
  })

  it("bin - npx bramble runs from the root and from a subfolder of the clone", async () => {
    // (`npx bramble --version` would print npm's version: npm takes --version for itself.)
    const golden = join(ROOT, "deploy/test/golden/three-node.cluster.yaml")
    for (const cwd of [ROOT, join(ROOT, "docs"), join(ROOT, "cluster/src")]) {
      const result = await npxBramble(["config", "validate", golden], cwd)
      assert.strictEqual(result.code, 0, `${cwd}: ${result.stderr}`)
      assert.include(result.stdout, `${golden} is valid`, cwd)
    }
  })

  it("bin - before the build, bramble says how to build instead of failing", async () => {
    const clone = scratch()
    mkdirSync(join(clone, "cluster/bin"), { recursive: true })
    copyFileSync(join(ROOT, "cluster/bin/bramble.js"), join(clone, "cluster/bin/bramble.js"))
    const result = await run(process.execPath, [join(clone, "cluster/bin/bramble.js"), "demo"], clone)
    assert.strictEqual(result.code, 1)
    assert.include(result.stderr, "bramble is not built yet")
    assert.include(result.stderr, "bash deploy/setup.sh")
  })
})

describe("first contact - usage errors", () => {
  it("usage - a mistyped flag prints the error and a one-line hint, not the whole help, and exits 2", async () => {
    const result = await npxBramble(["demo", "--fr", "30s"])
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, "Unrecognized flag: --fr")
    assert.include(result.stderr, "--for")
    assert.include(result.stderr, `Run "bramble demo --help" for usage.`)
    assert.notInclude(result.stdout + result.stderr, "DESCRIPTION")
  })

  it("usage - an unknown subcommand is an error with a did-you-mean, with --help too", async () => {
    for (const args of [["confg", "validate", "--help"], ["confg", "validate", "x.yaml"]]) {
      const result = await npxBramble(args)
      assert.strictEqual(result.code, 2, args.join(" "))
      assert.match(result.stderr, /Unknown subcommand "confg" for "bramble"/, args.join(" "))
      assert.include(result.stderr, "config", args.join(" "))
    }
    const nested = await npxBramble(["config", "aply", "--help"])
    assert.strictEqual(nested.code, 2)
    assert.include(nested.stderr, `Unknown subcommand "aply" for "bramble config"`)
  })
})

describe("first contact - bramble demo --for", () => {
  it("demo - runs unattended and exits 0 with the readings and window results this run stored", async () => {
    const dir = scratch()
    const result = await npxBramble(["demo", "--for", "25s", "--dir", dir])
    assert.strictEqual(result.code, 0, result.stderr + result.stdout.slice(-2000))
    const summary = /the sensors published (\d+) readings; the database holds (\d+) raw readings and (\d+) window results/.exec(result.stdout)
    assert.isNotNull(summary, result.stdout.slice(-2000))
    const [published, readings, windows] = [Number(summary![1]), Number(summary![2]), Number(summary![3])]
    // (Stored may exceed acknowledged by a reading whose ack was lost as the node stopped.)
    assert.isAbove(published, 0)
    assert.isAbove(readings, 0)
    assert.isAbove(windows, 0)
    assert.include(result.stdout, "OK: readings and window results reached the database.")
  })

  it("demo - a run too short for a window to close exits 1 and says what did not arrive", async () => {
    const dir = scratch()
    const result = await npxBramble(["demo", "--for", "2s", "--dir", dir])
    assert.strictEqual(result.code, 1, result.stdout.slice(-2000))
    assert.include(result.stderr, "FAILED: no window result reached the database")
  })

  it("demo - --for refuses what is not a duration as a usage error", async () => {
    const result = await npxBramble(["demo", "--for", "soon"])
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr + result.stdout, `--for takes a duration such as 30s`)
  })
})

describe("first contact - bramble config", () => {
  const TYPO = `cluster:
  name: home
nodes:
  - name: pi1
sensors:
  - { device: greenhouse-1, node: pi1, kind: dht22, intervall: 10s }
rule:
  - { kind: threshold, name: overheat, metric: temperature, above: 35 }
sink:
  kind: influx-v2
  url: http://127.0.0.1:8086
  tokn: abc
`

  it("config - validate refuses the typo file with three problems and exit 1; --json says the same for scripts", async () => {
    const dir = scratch()
    const file = join(dir, "cluster.yaml")
    writeFileSync(file, TYPO)
    const text = await npxBramble(["config", "validate", file])
    assert.strictEqual(text.code, 1)
    const lines = text.stderr.split("\n").filter((l) => l.startsWith("  - "))
    assert.deepStrictEqual(lines, [
      `  - sensors[0].intervall (line 6): unknown key "intervall"; did you mean "interval"?`,
      `  - rule (line 7): unknown key "rule"; did you mean "rules"?`,
      `  - sink.tokn (line 12): unknown key "tokn"; did you mean "tokenEnv" or "tokenFile"? (a token never goes in the cluster file: name the environment variable or the file that holds it)`
    ])
    const json = await npxBramble(["config", "validate", "--json", file])
    assert.strictEqual(json.code, 1)
    const answer = JSON.parse(json.stdout) as { valid: boolean; problems: ReadonlyArray<{ path: string; line: number }> }
    assert.isFalse(answer.valid)
    assert.deepStrictEqual(answer.problems.map((p) => [p.path, p.line]), [["sensors[0].intervall", 6], ["rule", 7], ["sink.tokn", 12]])
  })

  it("config - init writes a file that validates, never over an existing one; schema prints JSON Schema", async () => {
    const file = join(scratch(), "bramble.yaml")
    const init = await npxBramble(["config", "init", file, "--nodes", "3", "--sink", "influx-v1"])
    assert.strictEqual(init.code, 0, init.stderr)
    const valid = await npxBramble(["config", "validate", "--json", file])
    assert.strictEqual(valid.code, 0, valid.stdout + valid.stderr)
    const summary = JSON.parse(valid.stdout) as { valid: boolean; summary: { nodes: ReadonlyArray<string>; sink: { kind: string } } }
    assert.deepStrictEqual([summary.valid, summary.summary.nodes, summary.summary.sink.kind], [true, ["pi1", "pi2", "pi3"], "influx-v1"])
    const again = await npxBramble(["config", "init", file])
    assert.strictEqual(again.code, 1)
    assert.include(again.stderr, "already exists")
    const schema = await npxBramble(["config", "schema"])
    assert.strictEqual(schema.code, 0)
    const document = JSON.parse(schema.stdout) as { $schema: string; additionalProperties: boolean; required: ReadonlyArray<string> }
    assert.strictEqual(document.$schema, "https://json-schema.org/draft/2020-12/schema")
    assert.isFalse(document.additionalProperties)
    assert.includeMembers([...document.required], ["cluster", "nodes", "sink"])
  })
})
