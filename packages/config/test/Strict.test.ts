import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as fc from "fast-check"
import { parseDocument, isMap, isSeq, type Node as YamlNode } from "yaml"
import { formatMillis, parseClusterConfig, parseMillis, type ConfigError, type ConfigProblem } from "@bramble/config"
import { EVERYTHING, TYPO_FILE } from "./fixtures.js"

const problemsOf = (text: string): ReadonlyArray<ConfigProblem> => {
  const result = parseClusterConfig(text, "bramble.yaml")
  assert.isTrue(Result.isFailure(result), "expected the file to be refused")
  return (result as Result.Failure<never, ConfigError>).failure.problems
}

/** Maps whose keys are the user's own names (metrics, header names), not the schema's. */
const FREE_KEYS = (path: ReadonlyArray<string | number>) =>
  path.includes("calibration") && path[path.length - 1] === "calibration" ||
  ["headers", "headersEnv", "probes"].includes(String(path[path.length - 1]))

/** Every mapping in a YAML document, with its path. */
const mappings = (node: YamlNode | null, path: Array<string | number> = []): Array<Array<string | number>> => {
  if (isMap(node)) {
    return [
      ...(FREE_KEYS(path) ? [] : [path]),
      ...node.items.flatMap((pair) => mappings(pair.value as YamlNode, [...path, String((pair.key as { value: unknown }).value)]))
    ]
  }
  if (isSeq(node)) return node.items.flatMap((item, i) => mappings(item as YamlNode, [...path, i]))
  return []
}

const pathText = (path: ReadonlyArray<string | number>) =>
  path.reduce<string>((text, key) => typeof key === "number" ? `${text}[${key}]` : text === "" ? key : `${text}.${key}`, "")

describe("cluster file - unknown keys and kinds", () => {
  it("decode - the file with every section and kind is valid, and durations take compounds (1d12h)", () => {
    const config = Result.getOrThrow(parseClusterConfig(EVERYTHING))
    assert.strictEqual(config.sensors[0]!.interval, 36 * 3_600_000)
    assert.strictEqual(config.forward?.length, 2)
  })

  it("validate - the typo file fails with three problems: path, line and did-you-mean", () => {
    const problems = problemsOf(TYPO_FILE)
    assert.deepStrictEqual(problems.map((p) => [p.path, p.line]), [["sensors[0].intervall", 9], ["rule", 10], ["sink.tokn", 15]])
    assert.match(problems[0]!.message, /unknown key "intervall"; did you mean "interval"\?/)
    assert.match(problems[1]!.message, /unknown key "rule"; did you mean "rules"\?/)
    assert.match(problems[2]!.message, /unknown key "tokn"; did you mean "tokenEnv" or "tokenFile"\?/)
    assert.match(problems[2]!.message, /never goes in the cluster file/)
  })

  it("validate - an unknown key is refused in every mapping of the file, at its own path and line", () => {
    const doc = parseDocument(EVERYTHING)
    const all = mappings(doc.contents)
    assert.isAbove(all.length, 30, "the walk found the file's mappings")
    for (const path of all) {
      const copy = parseDocument(EVERYTHING)
      const target = path.length === 0 ? copy.contents : copy.getIn(path, true)
      assert.isTrue(isMap(target), pathText(path))
      // Inserted as a block key line at the end of the file's text would be ambiguous for
      // flow maps; set it in the document and print it again, then find its line.
      ;(target as { set: (k: string, v: unknown) => void }).set("surplus", 1)
      const text = copy.toString()
      const problems = problemsOf(text)
      const where = pathText([...path, "surplus"])
      assert.deepStrictEqual(problems.map((p) => p.path), [where], `${where}: ${JSON.stringify(problems)}`)
      assert.match(problems[0]!.message, /^unknown key "surplus"; the keys here are /)
      const line = text.split("\n").findIndex((l) => /\bsurplus: 1\b/.test(l)) + 1
      assert.strictEqual(problems[0]!.line, line, where)
    }
  })

  it("validate - a near-miss key gets a did-you-mean at every level", () => {
    const cases: ReadonlyArray<[string, string, string]> = [
      ["cluster: { name: home, partitons: 4 }", "cluster.partitons", "partitions"],
      ["processing: { watermarkdelay: 2s }", "processing.watermarkdelay", "watermarkDelay"],
      ["streams: { readings: { maxage: 1d } }", "streams.readings.maxage", "maxAge"],
      ["windows: [{ name: 1m, size: 1m, hopp: 30s }]", "windows[0].hopp", "hop"],
      ["rules: [{ kind: threshold, name: hot, metric: temperature, abov: 35 }]", "rules[0].abov", "above"],
      ["forward: [{ kind: webhook, name: w, url: \"http://h\", secretenv: S }]", "forward[0].secretenv", "secretEnv"]
    ]
    const base = "nodes: [{ name: pi1 }]\nsink: { kind: influx-v1, url: \"http://127.0.0.1:8086\" }\n"
    for (const [line, path, meant] of cases) {
      const text = line.startsWith("cluster:") ? `${line}\n${base}` : `cluster: { name: home }\n${base}${line}\n`
      const problem = problemsOf(text).find((p) => p.path === path)
      assert.isDefined(problem, `${path} in ${JSON.stringify(problemsOf(text))}`)
      assert.include(problem!.message, `did you mean "${meant}"?`)
    }
  })

  it("validate - a wrong kind names the allowed kinds in words, for sensors, actuators, rules, sinks and forward targets", () => {
    const text = EVERYTHING
      .replace("kind: dht22", "kind: dht23")
      .replace("kind: simulated-gpio-output", "kind: relay")
      .replace("kind: rate", "kind: rat")
      .replace("kind: influx-v2", "kind: influx")
      .replace("kind: webhook", "kind: web-hook")
    const problems = problemsOf(text)
    const message = (path: string) => problems.find((p) => p.path === path)?.message
    assert.strictEqual(message("sensors[0].kind"), `"dht23" is not a sensor kind; the kinds are dht11, dht22, simulated-dht11, simulated-dht22, gpio-input, simulated-gpio-input, synthetic, modbus-tcp, simulated-modbus-tcp, modbus-rtu, simulated-modbus-rtu, ds18b20, simulated-ds18b20, bme280, simulated-bme280, bmp280, simulated-bmp280, sht31, simulated-sht31, ads1115 and simulated-ads1115; did you mean "dht22"?`)
    assert.strictEqual(message("actuators[1].kind"), `"relay" is not an actuator kind; the kinds are gpio-output and simulated-gpio-output`)
    assert.strictEqual(message("rules[1].kind"), `"rat" is not a rule kind; the kinds are threshold, rate, stale and expr; did you mean "rate"?`)
    assert.strictEqual(message("sink.kind"), `"influx" is not a sink kind; the kinds are influx-v2 and influx-v1; did you mean "influx-v2" or "influx-v1"?`)
    assert.strictEqual(message("forward[1].kind"), `"web-hook" is not a forward target kind; the kinds are thingsboard and webhook; did you mean "webhook"?`)
    assert.isTrue(problems.every((p) => !p.message.includes("readonly") && p.line !== undefined), JSON.stringify(problems))
  })

  it("validate - a rule without a kind is told which kinds there are", () => {
    const problems = problemsOf(EVERYTHING.replace("{ kind: stale, name: silent", "{ name: silent"))
    assert.deepStrictEqual(problems.map((p) => [p.path, p.message]), [["rules[2]", "a rule needs a kind: threshold, rate, stale or expr"]])
  })
})

describe("durations - one grammar for the file and the command line", () => {
  it("parse - compounds, single units and Effect's long form", () => {
    assert.strictEqual(parseMillis("1d12h"), 129_600_000)
    assert.strictEqual(parseMillis("1h30m"), 5_400_000)
    assert.strictEqual(parseMillis("90s"), 90_000)
    assert.strictEqual(parseMillis("30 minutes"), 1_800_000)
    assert.strictEqual(parseMillis("0"), 0)
    assert.isUndefined(parseMillis("soon"))
    assert.isUndefined(parseMillis("1d12"))
    assert.isUndefined(parseMillis(""))
  })

  it("format - what Bramble prints reads back to the same duration", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 400 * 86_400_000 }), (ms) => {
      assert.strictEqual(parseMillis(formatMillis(ms)), ms)
    }))
    assert.strictEqual(formatMillis(129_600_000), "1d12h")
  })
})
