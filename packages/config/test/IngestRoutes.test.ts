import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { compilePattern, type ConfigError, ingestStreamSubjects, parseClusterConfig, patternProblems } from "@bramble/config"

const base = `
cluster: { name: home }
nodes:
  - name: pi1
sink: { kind: influx-v2, url: "http://127.0.0.1:8086" }
`

const withRoutes = (routes: string) => `${base}ingest:\n  routes:\n${routes}`

const problemsOf = (text: string) => {
  const result = parseClusterConfig(text, "bramble.yaml")
  assert.isTrue(Result.isFailure(result), "expected the file to be refused")
  return (result as Result.Failure<never, ConfigError>).failure.problems
}

describe("cluster file - ingest routes", () => {
  it("decode - routes of every dialect, with their defaults", () => {
    const config = Result.getOrThrow(parseClusterConfig(withRoutes(`
    - { name: collector, topic: sensors/+room, dialect: json, deviceField: sensor_id, timeField: timestamp }
    - { name: dht, topic: dht/+device, dialect: json, timeField: time, timeUnit: s }
    - { name: home, topic: home/+room/+metric, dialect: value, device: "{room}" }
    - { name: telegraf, topic: "telegraf/#", dialect: line-protocol, deviceTag: host }
    - { name: factory, topic: "factory/+line/+device/#rest", dialect: bramble, device: "{line}-{device}" }
`)))
    const routes = config.ingest!.routes
    assert.deepStrictEqual(routes.map((r) => r.dialect), ["json", "json", "value", "line-protocol", "bramble"])
    assert.deepStrictEqual(routes[0]!.ignore, [])
  })

  it("decode - without an ingest section there are no routes", () => {
    assert.isUndefined(Result.getOrThrow(parseClusterConfig(base)).ingest)
  })

  it("a mistyped dialect gets a did-you-mean naming the choices", () => {
    const problems = problemsOf(withRoutes(`    - { name: a, topic: a/+device, dialect: jsn }\n`))
    assert.strictEqual(problems.length, 1)
    assert.include(problems[0]!.path, "ingest.routes[0].dialect")
    assert.include(problems[0]!.message, `did you mean "json"`)
  })

  it("a mistyped key gets a did-you-mean", () => {
    const problems = problemsOf(withRoutes(`    - { name: a, topic: a/+device, dialect: json, timefield: t }\n`))
    assert.include(problems.map((p) => p.message).join("\n"), `"timeField"`)
  })

  it("each problem names its route", () => {
    const problems = problemsOf(withRoutes(`
    - { name: home, topic: home/+room/+metric, dialect: value, device: "{rom}" }
    - { name: nodevice, topic: temp/+x, dialect: value }
    - { name: lp, topic: lp/+device, dialect: line-protocol, deviceField: id }
    - { name: home, topic: "readings/+device", dialect: json }
`))
    const text = problems.map((p) => `${p.path}: ${p.message}`).join("\n")
    assert.include(text, `ingest.routes[0].device: route home: {rom} is not a wildcard of home/+room/+metric; its wildcards are room, metric; did you mean "room"?`)
    assert.include(text, "route nodevice: where is the device id? Name a +device wildcard in the topic, or set device")
    assert.include(text, "route lp: deviceField does not apply to dialect line-protocol (only json)")
    assert.include(text, "ingest.routes[3].name: route home: the name is already used at index 0")
    assert.include(text, "route home: readings/… holds Bramble's own messages")
  })

  it("bad topic patterns are refused with the reason", () => {
    assert.include(patternProblems("a/#/b").join(), "must be the last level")
    assert.include(patternProblems("a//b").join(), "empty")
    assert.include(patternProblems("a.b/+device").join(), "may not hold")
    assert.include(patternProblems("+x/y").join(), "first level must be a word")
    assert.include(patternProblems("ingest/+device/+sensor").join(), "Bramble's own dialect")
    assert.include(patternProblems("a/+x/+x").join(), "used twice")
    assert.deepStrictEqual(patternProblems("factory/+line/+device/#rest"), [])
  })

  it("patterns match as MQTT does, with named wildcards", () => {
    const p = compilePattern("factory/+line/+device/#rest")
    assert.deepStrictEqual(p.exec("factory/l1/d2/a/b"), { line: "l1", device: "d2", rest: "a/b" })
    assert.deepStrictEqual(p.exec("factory/l1/d2"), { line: "l1", device: "d2" })
    assert.isUndefined(p.exec("factory/l1"))
    assert.isUndefined(compilePattern("home/+room/+metric").exec("home/kitchen/temp/x"))
  })

  it("the INGEST stream captures every routed first level, whole", () => {
    assert.deepStrictEqual(ingestStreamSubjects(["sensors/+device", "sensors/#", "home/+room/+metric"]), ["sensors", "sensors.>", "home", "home.>"])
  })
})
