import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { type ClusterConfig, diffConfigs, notLiveChanges, parseClusterConfig, renderDiff, renderNotLive, withLiveSectionsOf } from "@bramble/config"

const file = (rest: string, cluster = "cluster: { name: home, partitions: 4 }") => `
${cluster}
nodes:
  - name: pi1
  - { name: pi2, host: 10.0.0.2 }
sink: { kind: influx-v2, url: "http://127.0.0.1:8086" }
${rest}
`

const parse = (text: string): ClusterConfig => Result.getOrThrow(parseClusterConfig(text))

const RULES = `rules:
  - { kind: threshold, name: overheat, metric: temperature, above: 35 }
`

describe("live config - diff and what may change live", () => {
  it("diff - the same file, reformatted or with defaults spelled out, is no change", () => {
    const a = parse(file(RULES))
    const b = parse(file(`rules: [{ kind: threshold, name: overheat, metric: temperature, above: 35 }]\nprocessing: { batchSize: 1000 }`))
    assert.deepStrictEqual(diffConfigs(a, b), [])
    assert.strictEqual(renderDiff([]), "No change.")
  })

  it("diff - a new rule: one section, live, its lines marked + and -", () => {
    const a = parse(file(RULES))
    const b = parse(file(`${RULES}  - { kind: threshold, name: freezing, metric: temperature, below: 2 }\n`))
    const changes = diffConfigs(a, b)
    assert.deepStrictEqual(changes.map((c) => [c.section, c.live]), [["rules", true]])
    const added = changes[0]!.lines.filter((l) => l.startsWith("+"))
    assert.isTrue(added.some((l) => l.includes("name: freezing")), added.join("\n"))
    assert.isFalse(changes[0]!.lines.some((l) => l.startsWith("-")))
    assert.deepStrictEqual(notLiveChanges(changes), [])
    assert.match(renderDiff(changes), /^rules:\n {2}[ +-]/)
  })

  it("diff - a changed threshold shows the old and the new value", () => {
    const a = parse(file(RULES))
    const b = parse(file(RULES.replace("above: 35", "above: 30")))
    const lines = diffConfigs(a, b)[0]!.lines
    assert.isTrue(lines.includes("-  above: 35"), lines.join("\n"))
    assert.isTrue(lines.includes("+  above: 30"), lines.join("\n"))
  })

  it("not live - partition count, cluster name, nodes, sink are refused with why and what to do instead", () => {
    const a = parse(file(RULES))
    const cases: Array<[string, string]> = [
      [file(RULES, "cluster: { name: home, partitions: 8 }"), "cluster"],
      [file(RULES, "cluster: { name: barn, partitions: 4 }"), "cluster"],
      [file(RULES).replace("host: 10.0.0.2", "host: 10.0.0.3"), "nodes"],
      [file(RULES).replace("{ name: pi2, host: 10.0.0.2 }", "{ name: pi2, host: 10.0.0.2, nats: { port: 4333 } }"), "nodes"],
      [file(RULES).replace("8086", "9086"), "sink"],
      [file(`${RULES}windows: [{ name: 5m, size: 5m }]`), "windows"]
    ]
    for (const [text, section] of cases) {
      const changes = diffConfigs(a, parse(text))
      const refused = notLiveChanges(changes)
      assert.deepStrictEqual(refused.map((r) => r.section), [section], text)
      const message = renderNotLive(refused)
      assert.include(message, `${section}: cannot change on a running cluster: `)
      assert.include(message, "Instead: ")
    }
  })

  it("not live - a rule change beside a not-live change refuses only the not-live section", () => {
    const a = parse(file(RULES))
    const b = parse(file(RULES.replace("above: 35", "above: 30"), "cluster: { name: home, partitions: 8 }"))
    const changes = diffConfigs(a, b)
    assert.deepStrictEqual(changes.map((c) => c.section), ["cluster", "rules"])
    assert.deepStrictEqual(notLiveChanges(changes).map((r) => r.section), ["cluster"])
  })

  it("live - forward targets added, changed and removed are not refused", () => {
    const hook = `forward: [{ kind: webhook, name: hook, url: "http://127.0.0.1:9999/in" }]`
    const a = parse(file(RULES))
    const b = parse(file(`${RULES}${hook}`))
    const c = parse(file(`${RULES}${hook.replace("9999", "9998")}`))
    for (const [from, to] of [[a, b], [b, c], [b, a]] as const) {
      const changes = diffConfigs(from, to)
      assert.deepStrictEqual(changes.map((ch) => [ch.section, ch.live]), [["forward", true]])
      assert.deepStrictEqual(notLiveChanges(changes), [])
    }
  })

  it("live - the sink's batchSize and gzip change live; its database does not, and the refusal says what can", () => {
    const a = parse(file(RULES))
    const batching = parse(file(RULES).replace(`url: "http://127.0.0.1:8086" }`, `url: "http://127.0.0.1:8086", batchSize: 1000, gzip: true }`))
    const changes = diffConfigs(a, batching)
    assert.deepStrictEqual(changes.map((c) => [c.section, c.live]), [["sink", true]])
    assert.deepStrictEqual(notLiveChanges(changes), [])
    assert.notInclude(renderDiff(changes), "not live-changeable")
    for (const other of [
      file(RULES).replace(`url: "http://127.0.0.1:8086" }`, `url: "http://127.0.0.1:9086", batchSize: 1000 }`),
      file(RULES).replace(`url: "http://127.0.0.1:8086" }`, `url: "http://127.0.0.1:8086", bucket: other }`),
      file(RULES).replace(`url: "http://127.0.0.1:8086" }`, `url: "http://127.0.0.1:8086", tokenEnv: OTHER_TOKEN }`)
    ]) {
      const refused = notLiveChanges(diffConfigs(a, parse(other)))
      assert.deepStrictEqual(refused.map((r) => r.section), ["sink"], other)
      assert.include(renderNotLive(refused), "sink.batchSize and sink.gzip do change live")
    }
    const merged = withLiveSectionsOf(parse(file(RULES).replace("8086", "9086")), batching)
    assert.deepStrictEqual(merged.sink, { ...parse(file(RULES).replace("8086", "9086")).sink, batchSize: 1000, gzip: true }, "its own database, the cluster's batching")
  })

  it("a node's view - the cluster's forward targets, also when the cluster's version has none", () => {
    const hook = `forward: [{ kind: webhook, name: hook, url: "http://127.0.0.1:9999/in" }]`
    const withHook = parse(file(`${RULES}${hook}`))
    const without = parse(file(RULES))
    assert.deepStrictEqual(withLiveSectionsOf(without, withHook).forward, withHook.forward)
    assert.isUndefined(withLiveSectionsOf(withHook, without).forward)
  })

  it("a node's view - the live sections of the cluster's version, everything else of its own file", () => {
    const own = parse(file(RULES))
    const cluster = parse(file(RULES.replace("above: 35", "above: 30")).replace("8086", "9086"))
    const merged = withLiveSectionsOf(own, cluster)
    assert.deepStrictEqual(merged.rules, cluster.rules)
    assert.deepStrictEqual(merged.sink, own.sink)
  })
})
