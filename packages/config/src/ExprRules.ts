/**
 * `kind: expr` alarm rules in the cluster file: their Schema, the checks `bramble config
 * validate` runs on their expressions (RuleExpression.ts), and the compiled form a node hands
 * to its partitions. Kept apart from ClusterConfig.ts, which only lists the rule in its union.
 *
 * ```yaml
 * rules:
 *   - kind: expr
 *     name: dry-heat
 *     when: "temperature > 30 && humidity < 40"
 *     for: 2m
 *     clearWhen: "temperature < 28"
 * ```
 */
import { Schema } from "effect"
import type { ClusterConfig } from "./ClusterConfig.js"
import { i2cMetrics, isFieldInput, isI2cInput } from "./FieldInputs.js"
import { compileExpression, type CompiledExpression, type ExpressionScope } from "./RuleExpression.js"
import { Millis } from "./Units.js"

const NAME = /^[A-Za-z0-9_-]{1,64}$/
const Name = Schema.String.check(Schema.isPattern(NAME, { message: "Expected 1-64 characters from A-Z a-z 0-9 _ -" }))

/** How loud an alarm is; `warning` when a rule does not say. */
export const Severity = Schema.Literals(["info", "warning", "critical"])
export type Severity = typeof Severity.Type
export const DEFAULT_SEVERITY: Severity = "warning"

export const ExprRule = Schema.Struct({
  kind: Schema.Literal("expr"),
  name: Name,
  /** Raise when this CEL expression is true (continuously for `for`), e.g. `temperature > 30 && humidity < 40`. */
  when: Schema.String,
  /** Clear when this is true; by default, as soon as `when` is false. */
  clearWhen: Schema.optionalKey(Schema.String),
  /** The condition must hold this long (event time) before the alarm is raised. */
  for: Schema.optionalKey(Millis),
  /** Metrics the expressions may name besides those the file knows (sensor kinds, other rules). */
  metrics: Schema.optionalKey(Schema.Array(Name)),
  severity: Schema.optionalKey(Severity),
  /** Forward targets hear of this alarm at most once per this long (a flapping alarm); default: every change. */
  notifyEvery: Schema.optionalKey(Millis),
  devices: Schema.optionalKey(Schema.Array(Name))
})
export type ExprRule = typeof ExprRule.Type

/** Metrics each sensor kind publishes. */
const KIND_METRICS: Record<string, ReadonlyArray<string>> = {
  "dht11": ["temperature", "humidity"],
  "dht22": ["temperature", "humidity"],
  "simulated-dht11": ["temperature", "humidity"],
  "simulated-dht22": ["temperature", "humidity"],
  "gpio-input": ["state", "count"],
  "simulated-gpio-input": ["state", "count"],
  "synthetic": ["value"]
}

/**
 * The metrics the file knows of: those its sensors publish (by kind, calibrated names,
 * Modbus registers, named 1-wire probes), those other rules watch, and
 * those a rule lists in `metrics` (devices that publish over MQTT are not in the file).
 */
export const knownMetrics = (config: Pick<ClusterConfig, "sensors" | "rules">, extra: ReadonlyArray<string> = []): Array<string> => {
  const metrics = new Set<string>(extra)
  for (const sensor of config.sensors) {
    for (const m of KIND_METRICS[sensor.kind] ?? []) metrics.add(m)
    if ("calibration" in sensor) for (const m of Object.keys(sensor.calibration ?? {})) metrics.add(m)
    // Field inputs: a Modbus device's registers, a 1-wire bus's named probes.
    if ("registers" in sensor) for (const r of sensor.registers) metrics.add(r.metric)
    if ("probes" in sensor) for (const m of Object.keys(sensor.probes ?? {})) metrics.add(m)
    // I2C chips: their fixed metrics, an ADS1115's channels.
    if (isFieldInput(sensor) && isI2cInput(sensor)) for (const m of i2cMetrics(sensor)) metrics.add(m)
  }
  for (const rule of config.rules) {
    if (rule.kind === "threshold" || rule.kind === "rate") metrics.add(rule.metric)
  }
  return [...metrics]
}

const scopeOf = (config: Pick<ClusterConfig, "sensors" | "rules" | "windows">, rule: ExprRule): ExpressionScope => ({
  metrics: knownMetrics(config, rule.metrics ?? []),
  windows: config.windows.map((w) => w.name)
})

type Problem = { path: Array<PropertyKey>; message: string }

/** Every problem of every expression, each naming the rule, the field and the column. */
export const exprCrossCheck = (config: Pick<ClusterConfig, "sensors" | "rules" | "windows">): Array<Problem> => {
  const problems: Array<Problem> = []
  config.rules.forEach((rule, i) => {
    if (rule.kind !== "expr") return
    const scope = scopeOf(config, rule)
    for (const field of ["when", "clearWhen"] as const) {
      const text = rule[field]
      if (text === undefined) continue
      const compiled = compileExpression(text, scope)
      if ("problem" in compiled) {
        const where = compiled.problem.column === undefined ? "" : ` (column ${compiled.problem.column})`
        problems.push({ path: ["rules", i, field], message: `rule "${rule.name}": ${field}${where}: ${compiled.problem.message}` })
      }
    }
  })
  return problems
}

/** An expr rule ready to evaluate: its expressions compiled once. */
export interface CompiledExprRule {
  readonly kind: "expr"
  readonly name: string
  readonly when: CompiledExpression
  readonly clearWhen?: CompiledExpression | undefined
  readonly for?: number | undefined
  readonly severity?: Severity | undefined
  readonly notifyEvery?: number | undefined
  readonly devices?: ReadonlyArray<string> | undefined
}

export type CompiledRule = Exclude<ClusterConfig["rules"][number], ExprRule> | CompiledExprRule

/**
 * The rules of a (validated) file with their expressions compiled, for the partitions.
 * Throws on an expression that does not compile: validation refused such a file already.
 */
export const compileRules = (config: Pick<ClusterConfig, "sensors" | "rules" | "windows">): Array<CompiledRule> =>
  config.rules.map((rule): CompiledRule => {
    if (rule.kind !== "expr") return rule
    const scope = scopeOf(config, rule)
    const compile = (field: "when" | "clearWhen", text: string) => {
      const compiled = compileExpression(text, scope)
      if ("problem" in compiled) throw new Error(`rule "${rule.name}": ${field}: ${compiled.problem.message}`)
      return compiled.ok
    }
    return {
      kind: "expr",
      name: rule.name,
      when: compile("when", rule.when),
      clearWhen: rule.clearWhen === undefined ? undefined : compile("clearWhen", rule.clearWhen),
      for: rule.for,
      severity: rule.severity,
      notifyEvery: rule.notifyEvery,
      devices: rule.devices
    }
  })
