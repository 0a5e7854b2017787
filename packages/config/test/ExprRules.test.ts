import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Result } from "effect"
import { compileExpression, compileRules, MAX_EXPRESSION_LENGTH, parseClusterConfig } from "@bramble/config"

const file = (rules: string) => `
cluster: { name: c }
nodes: [{ name: a }]
sensors: [{ device: d1, node: a, kind: dht22 }]
windows: [{ name: 1m, size: 1m }, { name: 10m, size: 10m }, { name: slow-one, size: 1h }]
sink: { kind: influx-v2, url: "http://db" }
rules:
${rules}
`

/** The problems `bramble config validate` reports for these rules, as `path: message`. */
const problems = (rules: string): Array<string> => {
  const result = parseClusterConfig(file(rules), "c.yaml")
  return Result.isSuccess(result) ? [] : result.failure.problems.map((p) => `${p.path}: ${p.message}`)
}

const rule = (when: string, extra = "") => `  - { kind: expr, name: r1, when: ${JSON.stringify(when)}${extra} }`

describe("expr rules - validation", () => {
  it("validate - the issue's dry-heat rule and a window statistic are accepted, compiled once", () => {
    const result = parseClusterConfig(file(`  - { kind: expr, name: dry-heat, when: "temperature > 30 && humidity < 40", for: 2m, clearWhen: "temperature < 28", severity: critical }
  - { kind: expr, name: hot-hour, when: "mean_10m(temperature) > 30" }`))
    assert.isTrue(Result.isSuccess(result))
    const [dry, hot] = compileRules(Result.getOrThrow(result))
    assert.strictEqual(dry!.kind, "expr")
    if (dry!.kind !== "expr" || hot!.kind !== "expr") return
    assert.strictEqual(dry.for, 120_000)
    assert.strictEqual(dry.severity, "critical")
    assert.deepStrictEqual([...dry.when.metrics].sort(), ["humidity", "temperature"])
    assert.isTrue(dry.when.evaluate({ temperature: 31, humidity: 35 }))
    assert.isFalse(dry.when.evaluate({ temperature: 31, humidity: 45 }))
    assert.isTrue(dry.clearWhen!.evaluate({ temperature: 27.5 }))
    assert.deepStrictEqual(hot.when.stats, [{ key: "mean_10m(temperature)", stat: "mean", window: "10m", metric: "temperature" }])
    assert.isTrue(hot.when.evaluate({ "mean_10m(temperature)": 30.5 }))
  })

  it("validate - an unknown metric is named, with did-you-mean, the rule and the column", () => {
    assert.deepStrictEqual(problems(rule("temperature > 30 && humidty < 40")), [
      `rules[0].when: rule "r1": when (column 21): unknown metric "humidty" (did you mean "humidity"?); metrics known from this file: humidity, temperature (name others in the rule's \`metrics\` list)`
    ])
  })

  it("validate - a metric listed in the rule's `metrics` or watched by another rule is known", () => {
    assert.deepStrictEqual(problems(rule("fuel < 500 && max_1m(pressure) > 2", ", metrics: [fuel]") + `
  - { kind: threshold, name: p, metric: pressure, above: 3 }`), [])
  })

  it("validate - type errors: a string compared with a metric, an expression that is not true or false", () => {
    assert.match(problems(rule(`temperature + "x" > 1`))[0]!, /rules\[0\]\.when: rule "r1": when \(column \d+\): only numbers and true\/false/)
    assert.match(problems(rule("temperature * 2.0"))[0]!, /must be true or false, but it is a double/)
    assert.match(problems(rule("temperature > 30", `, clearWhen: "humidity && true"`))[0]!, /rules\[0\]\.clearWhen: rule "r1": clearWhen \(column \d+\): type error: .*double/)
  })

  it("validate - hostile expressions are refused: calling anything, regular expressions, lists, huge, deeply nested", () => {
    const cases: Array<[string, RegExp]> = [
      [`process.exit(1) == 0`, /process\.exit|field access|cannot be used/],
      [`exit(1) > 0`, /exit\(\) is not a function an alarm rule can call/],
      [`"aaaaaaaaaaaaaaaaaaaaaaaa!".matches("(a+)+$")`, /\.matches\(\) cannot be used in an alarm rule/],
      [`[1, 2, 3].exists(x, x > temperature)`, /cannot be used in an alarm rule/],
      [`temperature in [1.0, 2.0]`, /cannot be used in an alarm rule/],
      [`{"a": 1}.size() > 0`, /cannot be used in an alarm rule/],
      [`mean_slow-one(temperature) > 1`, /not a function an alarm rule can call/],
      [`mean_10m(1.0) > 1`, /takes a metric name/],
      [`${"(".repeat(60)}temperature${")".repeat(60)} > 1`, /too complex: it is nested more than 24 deep/],
      [Array.from({ length: 150 }, () => "1").join("+") + " > temperature", /too complex: it has more than 200 parts/],
      [`temperature > ${"1".repeat(MAX_EXPRESSION_LENGTH)}`, /characters long, more than the 1000 allowed/],
      [`temperature > 30 &&`, /cannot be parsed/]
    ]
    for (const [when, expected] of cases) {
      const found = problems(rule(when))
      assert.strictEqual(found.length, 1, `${when}: ${found.join("; ")}`)
      assert.match(found[0]!, expected, when)
      assert.match(found[0]!, /^rules\[0\]\.when: rule "r1": when/)
    }
  })

  it("validate - a mistyped key or severity is an error, not a silently disabled rule", () => {
    assert.deepStrictEqual(problems(`  - { kind: expr, name: r1, when: "temperature > 1", clearwhen: "temperature < 0" }`), [
      `rules[0].clearwhen: unknown key "clearwhen"; did you mean "clearWhen"?`
    ])
    assert.match(problems(rule("temperature > 1", ", severity: critcal"))[0]!, /"critcal" is not allowed here; .*did you mean "critical"/)
  })
})

// A random predicate over three metrics, as CEL text and as a plain JavaScript evaluation.
type Num = { text: string; value: (v: Values) => number }
type Bool = { text: string; value: (v: Values) => boolean }
type Values = { a: number; b: number; c: number }

const num: fc.Memo<Num> = fc.memo((n) =>
  n <= 1
    ? fc.oneof(
      fc.constantFrom("a", "b", "c").map((m): Num => ({ text: m, value: (v) => v[m as keyof Values] })),
      fc.integer({ min: -50, max: 50 }).map((k): Num => ({ text: `${k}.5`, value: () => k + (k < 0 ? -0.5 : 0.5) }))
    )
    : fc.oneof(
      num(n - 1),
      fc.tuple(num(n - 1), fc.constantFrom("+", "-", "*"), num(n - 1)).map(([l, op, r]): Num => ({
        text: `(${l.text} ${op} ${r.text})`,
        value: (v) => op === "+" ? l.value(v) + r.value(v) : op === "-" ? l.value(v) - r.value(v) : l.value(v) * r.value(v)
      })),
      num(n - 1).map((x): Num => ({ text: `-(${x.text})`, value: (v) => -x.value(v) }))
    )
)

const CMP: Record<string, (l: number, r: number) => boolean> = {
  "<": (l, r) => l < r,
  "<=": (l, r) => l <= r,
  ">": (l, r) => l > r,
  ">=": (l, r) => l >= r,
  "==": (l, r) => l === r,
  "!=": (l, r) => l !== r
}

const bool: fc.Memo<Bool> = fc.memo((n) => {
  const comparison = fc.tuple(num(2), fc.constantFrom(...Object.keys(CMP)), num(2)).map(([l, op, r]): Bool => ({
    text: `${l.text} ${op} ${r.text}`,
    value: (v) => CMP[op]!(l.value(v), r.value(v))
  }))
  return n <= 1 ? comparison : fc.oneof(
    comparison,
    fc.tuple(bool(n - 1), fc.constantFrom("&&", "||"), bool(n - 1)).map(([l, op, r]): Bool => ({
      text: `(${l.text}) ${op} (${r.text})`,
      value: (v) => op === "&&" ? l.value(v) && r.value(v) : l.value(v) || r.value(v)
    })),
    bool(n - 1).map((x): Bool => ({ text: `!(${x.text})`, value: (v) => !x.value(v) })),
    fc.tuple(bool(n - 1), bool(n - 1), bool(n - 1)).map(([c, t, e]): Bool => ({
      text: `(${c.text}) ? (${t.text}) : (${e.text})`,
      value: (v) => c.value(v) ? t.value(v) : e.value(v)
    }))
  )
})

const values = fc.record({
  a: fc.integer({ min: -100, max: 100 }).map((x) => x / 4),
  b: fc.integer({ min: -100, max: 100 }).map((x) => x / 4),
  c: fc.integer({ min: -100, max: 100 }).map((x) => x / 4)
})

describe("expr rules - evaluation", () => {
  it("property - a compiled expression gives what a plain evaluation of the same predicate gives", () => {
    fc.assert(fc.property(bool(3), fc.array(values, { minLength: 1, maxLength: 5 }), (predicate, inputs) => {
      const compiled = compileExpression(predicate.text, { metrics: ["a", "b", "c"], windows: [] })
      assert.isTrue("ok" in compiled, `${predicate.text}: ${"problem" in compiled ? compiled.problem.message : ""}`)
      if (!("ok" in compiled)) return
      for (const v of inputs) assert.strictEqual(compiled.ok.evaluate(v), predicate.value(v), `${predicate.text} with ${JSON.stringify(v)}`)
    }), { numRuns: 300 })
  })
})
