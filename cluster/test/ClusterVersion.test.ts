/**
 * A node and the cluster's versions of the file (../src/config/ClusterVersion.ts), on an
 * in-memory store with the bucket's semantics (create-only versions): the first node
 * publishes its file as version 1; a node whose file differs runs the cluster's rules; a new
 * version is taken; one whose rules this node cannot compile is not, and the error is kept.
 */
import { assert, describe, it } from "@effect/vitest"
import { parseClusterConfig } from "@bramble/config"
import { type ConfigStore, type ConfigVersion, ConfigVersionTaken } from "@bramble/nats"
import { Effect, Result } from "effect"
import { startClusterVersion } from "../src/config/ClusterVersion.js"
import { eventually } from "../../test/support/Eventually.js"

const memoryStore = () => {
  const versions = new Map<number, ConfigVersion>()
  const latest = () => Math.max(0, ...versions.keys())
  const store: ConfigStore = {
    latestVersion: Effect.sync(latest),
    get: (v) => Effect.sync(() => versions.get(v)),
    current: Effect.sync(() => versions.get(latest())),
    versions: Effect.sync(() => [...versions.keys()].sort((a, b) => a - b)),
    publish: (next) =>
      Effect.suspend(() => {
        if (versions.has(next.version)) return Effect.fail(new ConfigVersionTaken({ version: next.version }))
        versions.set(next.version, next)
        return Effect.succeed(next)
      })
  }
  return { store, versions }
}

const text = (rules: string, windows = "windows: [{ name: 1m, size: 1m }]") => `
cluster: { name: home }
nodes: [{ name: pi1 }]
sink: { kind: influx-v2, url: "http://127.0.0.1:8086" }
${windows}
rules:
${rules}
`
const HOT = "  - { kind: threshold, name: hot, metric: temperature, above: 30 }"
const COLD = "  - { kind: threshold, name: cold, metric: temperature, below: 0 }"
const version = (n: number, t: string): ConfigVersion => ({ version: n, text: t, publishedAt: 0, by: "test", source: "test" })
const parse = (t: string) => Result.getOrThrow(parseClusterConfig(t))

describe("cluster version on a node", () => {
  it.live("first node - publishes its file as version 1 and runs it", () =>
    Effect.scoped(Effect.gen(function*() {
      const { store, versions } = memoryStore()
      const file = text(HOT)
      const cv = yield* startClusterVersion({ node: "pi1", store, config: parse(file), file: { path: "/etc/bramble/cluster.yaml", text: file } })
      assert.strictEqual(versions.get(1)?.text, file)
      assert.strictEqual(versions.get(1)?.by, "node pi1")
      assert.deepStrictEqual(cv.state(), { version: 1, latest: 1, error: undefined })
      assert.deepStrictEqual(cv.rules()?.rules.map((r) => r.name), ["hot"])
    })))

  it.live("a node with another file - runs the cluster's rules; follows a new version; keeps its rules when it cannot compile one", () =>
    Effect.scoped(Effect.gen(function*() {
      const { store, versions } = memoryStore()
      versions.set(1, version(1, text(`${HOT}\n${COLD}`)))
      // This node's file is older: only `hot`.
      const cv = yield* startClusterVersion({ node: "pi1", store, config: parse(text(HOT)), pollMs: 20 })
      assert.deepStrictEqual(cv.rules()?.rules.map((r) => r.name), ["hot", "cold"], "the cluster's version, not the node's file")
      assert.strictEqual(versions.size, 1, "nothing published by the node")

      versions.set(2, version(2, text(COLD)))
      yield* eventually("version 2 taken", async () => (cv.state().version === 2 ? true : undefined))
      assert.deepStrictEqual(cv.rules()?.rules.map((r) => r.name), ["cold"])

      // Version 3 was published with --restarted: a window this node did not start with, and
      // an expr rule over it. This node cannot compile it: it keeps version 2 and says why.
      versions.set(3, version(3, text(`  - { kind: expr, name: warm, when: "mean_5m(temperature) > 30", metrics: [temperature] }`, "windows: [{ name: 5m, size: 5m }]")))
      yield* eventually("version 3 refused", async () => (cv.state().latest === 3 ? true : undefined))
      assert.strictEqual(cv.state().version, 2)
      assert.include(cv.state().error ?? "", "version 3: rules:")
      assert.deepStrictEqual(cv.rules()?.version, 2)
      assert.deepStrictEqual(cv.rules()?.rules.map((r) => r.name), ["cold"])
    })))

  it.live("a part that follows the versions (forward) - applied at once and at every version; one it cannot run refuses the version whole", () =>
    Effect.scoped(Effect.gen(function*() {
      const { store, versions } = memoryStore()
      const hook = (url: string) => `forward: [{ kind: webhook, name: hook, url: "${url}" }]`
      versions.set(1, version(1, `${text(HOT)}${hook("http://127.0.0.1:1/v1")}`))
      // This node's file has no forward target: the cluster's version says what runs.
      const cv = yield* startClusterVersion({ node: "pi1", store, config: parse(text(HOT)), pollMs: 20 })
      const applied: Array<string> = []
      yield* cv.follow({
        section: "forward",
        prepare: (config) => {
          const url = config.forward?.[0]?.url ?? "none"
          return url.includes("refuse") ? Effect.fail({ message: `cannot read the secret of ${url}` }) : Effect.succeed(Effect.sync(() => void applied.push(url)))
        }
      })
      assert.deepStrictEqual(applied, ["http://127.0.0.1:1/v1"], "the cluster's targets, not the node's file's none")

      versions.set(2, version(2, `${text(COLD)}${hook("http://127.0.0.1:1/v2")}`))
      yield* eventually("version 2 taken", async () => (cv.state().version === 2 ? true : undefined))
      assert.deepStrictEqual(applied, ["http://127.0.0.1:1/v1", "http://127.0.0.1:1/v2"])
      assert.strictEqual(cv.config().forward?.[0]?.url, "http://127.0.0.1:1/v2")

      // Version 3 changes the rules and a target this node cannot run: neither switches.
      versions.set(3, version(3, `${text(HOT)}${hook("http://127.0.0.1:1/refuse")}`))
      yield* eventually("version 3 refused", async () => (cv.state().latest === 3 ? true : undefined))
      assert.deepStrictEqual(cv.state(), { version: 2, latest: 3, error: "version 3: forward: cannot read the secret of http://127.0.0.1:1/refuse" })
      assert.deepStrictEqual(cv.rules()?.rules.map((r) => r.name), ["cold"], "the rules of version 2 too")
      assert.deepStrictEqual(applied, ["http://127.0.0.1:1/v1", "http://127.0.0.1:1/v2"])
      assert.strictEqual(cv.config().forward?.[0]?.url, "http://127.0.0.1:1/v2")
    })))
})
