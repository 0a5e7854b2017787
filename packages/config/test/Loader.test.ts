import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { parseClusterConfig, type ConfigError } from "@bramble/config"

const good = `
cluster:
  name: home
  partitions: 4
nodes:
  - name: pi1
  - name: pi2
    host: 10.0.0.2
sensors:
  - device: greenhouse-1
    node: pi1
    kind: simulated-dht22
windows:
  - name: 1m
    size: 1m
  - name: 30m
    size: 30 minutes
sink:
  kind: influx-v2
  url: http://127.0.0.1:8086
`

const problemsOf = (text: string) => {
  const result = parseClusterConfig(text, "bramble.yaml")
  assert.isTrue(Result.isFailure(result), "expected the file to be refused")
  return (result as Result.Failure<never, ConfigError>).failure
}

describe("cluster file", () => {
  it("decode - a minimal file gets its defaults", () => {
    const config = Result.getOrThrow(parseClusterConfig(good))
    assert.strictEqual(config.cluster.partitions, 4)
    assert.strictEqual(config.nodes[0]!.host, "127.0.0.1")
    assert.strictEqual(config.nodes[0]!.nats.mqttPort, 1883)
    assert.deepStrictEqual(config.windows.map((w) => w.size), [60_000, 1_800_000])
    assert.strictEqual(config.sensors[0]!.interval, 2000)
    assert.strictEqual(config.streams.readings.maxBytes, 1024 ** 3)
    assert.strictEqual(config.processing.allowedLateness, 5000)
  })

  it("validate - a wrong type names the path, the line and the reason", () => {
    const error = problemsOf(good.replace("partitions: 4", "partitions: four"))
    assert.strictEqual(error.reason, "Invalid")
    const problem = error.problems.find((p) => p.path === "cluster.partitions")
    assert.isDefined(problem)
    assert.strictEqual(problem!.line, 4)
    assert.include(error.message, "cluster.partitions (line 4)")
  })

  it("validate - every problem is reported at once", () => {
    const error = problemsOf(good.replace("size: 1m", "size: soon").replace("kind: simulated-dht22", "kind: dht99"))
    const paths = error.problems.map((p) => p.path)
    assert.include(paths, "windows[0].size")
    assert.include(paths, "sensors[0].kind")
    assert.include(error.problems.find((p) => p.path === "windows[0].size")!.message, `"soon"`)
  })

  it("validate - missing required keys and a bad sink kind", () => {
    const error = problemsOf("cluster:\n  name: x\nnodes: []\nsink:\n  kind: influx-v9\n  url: http://x\n")
    const paths = error.problems.map((p) => p.path)
    assert.include(paths, "nodes")
    assert.isTrue(paths.some((p) => p.startsWith("sink")))
  })

  it("validate - device ids that are not subject-safe are refused", () => {
    const error = problemsOf(good.replace("device: greenhouse-1", "device: green house.1"))
    assert.include(error.problems.map((p) => p.path), "sensors[0].device")
  })

  it("validate - cross-field checks: unknown node, duplicate names, sensor too fast, port clash", () => {
    const error = problemsOf(
      good
        .replace("    node: pi1", "    node: pi9\n    interval: 500ms")
        .replace("  - name: 30m", "  - name: 1m")
        .replace("  - name: pi2\n    host: 10.0.0.2", "  - name: pi2")
    )
    const byPath = new Map(error.problems.map((p) => [p.path, p.message]))
    assert.include(byPath.get("sensors[0].node"), `"pi9"`)
    assert.include(byPath.get("sensors[0].interval"), "2000 ms")
    assert.include(byPath.get("windows[1].name"), "already used")
    assert.include(byPath.get("nodes[1].nats.port"), "already used")
  })

  it("windows - hopping windows decode, and a hop that does not divide the size is refused", () => {
    const config = Result.getOrThrow(parseClusterConfig(good.replace("    size: 30 minutes", "    size: 30 minutes\n    hop: 5m")))
    assert.strictEqual(config.windows[1]!.hop, 300_000)
    const error = problemsOf(good.replace("    size: 30 minutes", "    size: 30 minutes\n    hop: 7m"))
    assert.include(error.problems.find((p) => p.path === "windows[1].hop")!.message, "whole multiple")
  })

  it("rules - a valid refuel rule decodes with its duration in ms", () => {
    const config = Result.getOrThrow(parseClusterConfig(good + "rules:\n  - { kind: threshold, name: refuel, metric: fuel, below: 500, clearAbove: 550, for: 1m }\n"))
    assert.deepStrictEqual(config.rules[0], { kind: "threshold", name: "refuel", metric: "fuel", below: 500, clearAbove: 550, for: 60_000 })
  })

  it("rules - malformed rules are refused with the path and the reason", () => {
    for (const [rule, path] of [
      ["{ kind: rate, name: fast, metric: t, maxPerMinute: -1 }", "rules[0].maxPerMinute"],
      ["{ kind: stale, name: quiet, after: soon }", "rules[0].after"],
      ["{ kind: sometimes, name: x }", "rules[0]"]
    ] as const) {
      const error = problemsOf(`${good}rules:\n  - ${rule}\n`)
      assert.isTrue(error.problems.some((p) => p.path.startsWith(path)), `${path} in ${error.message}`)
    }
  })

  it("rules - contradictory thresholds are refused: no hysteresis inversion, one limit", () => {
    const error = problemsOf(good + [
      "rules:",
      "  - { kind: threshold, name: refuel, metric: fuel, below: 500, clearAbove: 450 }",
      "  - { kind: threshold, name: both, metric: t, below: 1, above: 2 }",
      "  - { kind: stale, name: refuel, after: 5m }"
    ].join("\n") + "\n")
    const byPath = new Map(error.problems.map((p) => [p.path, p.message]))
    assert.include(byPath.get("rules[0].clearAbove"), "flap")
    assert.include(byPath.get("rules[1]"), "exactly one of")
    assert.include(byPath.get("rules[2].name"), "already used")
  })

  it("parse - YAML syntax errors carry a line", () => {
    const error = problemsOf("cluster:\n  name: [unclosed\nnodes: x\n")
    assert.strictEqual(error.reason, "Syntax")
    assert.isNumber(error.problems[0]!.line)
  })
})
