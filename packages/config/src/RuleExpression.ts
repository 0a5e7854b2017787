/**
 * The expression language of `kind: expr` alarm rules: CEL (Common Expression Language,
 * through `@marcbachmann/cel-js`), over a device's latest value of each metric and the
 * statistics of its open windows (`mean_10m(temperature)`). An expression is parsed,
 * restricted and type-checked once, when the cluster file is loaded (so `bramble config
 * validate` finds every mistake); what a partition evaluates per reading is the compiled form.
 *
 * Why CEL and this library, not filtrex: CEL has a static type checker (a comparison of a
 * metric with a string, an unknown metric or function is an error before anything runs),
 * parse-time limits on size and nesting, and no loops or side effects by design; the library
 * is maintained and has no dependencies. Its cost: an expr rule adds ~0.4-1 µs of CPU per
 * reading it is evaluated on, window statistics included (test/bench/rules.ts, figures in
 * docs/alarm-rules.md). filtrex compiles to JavaScript source and type-checks nothing.
 *
 * On top of CEL's own safety, an expression may use only: metric names, number and bool
 * literals, arithmetic, comparisons, `&&`, `||`, `!`, `? :`, and the window functions.
 * Everything else CEL offers (string functions such as `matches` — a regular expression is a
 * way to spend unbounded time —, lists, maps, macros that iterate, field access) is refused,
 * so the cost of one evaluation is bounded by the expression's size, itself bounded.
 */
import { Environment, type ASTNode } from "@marcbachmann/cel-js"
import { didYouMean } from "./internal/problems.js"

/** The window statistics an expression can name, as `<stat>_<window>(<metric>)`. */
export const WINDOW_STATS = ["mean", "min", "max", "count", "first", "last", "stddev"] as const
export type WindowStat = (typeof WINDOW_STATS)[number]

/** Longest expression text accepted (characters). */
export const MAX_EXPRESSION_LENGTH = 1_000
/** Most syntax-tree nodes and deepest nesting accepted (CEL's parse-time limits). */
export const MAX_EXPRESSION_NODES = 200
export const MAX_EXPRESSION_DEPTH = 24

/** A window statistic an expression uses; `key` is how it is passed in the evaluation inputs. */
export interface StatRef {
  readonly key: string
  readonly stat: WindowStat
  readonly window: string
  readonly metric: string
}

/**
 * What a partition evaluates: `evaluate(inputs)` with every metric in `metrics` and every
 * `stats[i].key` set in `inputs` (numbers); true or false. It throws only on an arithmetic
 * error CEL reports at run time (an integer division by zero written into the expression).
 */
export interface CompiledExpression {
  readonly text: string
  readonly metrics: ReadonlyArray<string>
  readonly stats: ReadonlyArray<StatRef>
  readonly evaluate: (inputs: Readonly<Record<string, number>>) => boolean
}

/** Why an expression is refused: the message, and the 1-based column it points at, when known. */
export interface ExpressionProblem {
  readonly message: string
  readonly column?: number
}

/** What an expression may name. */
export interface ExpressionScope {
  /** Metric names (each a `double` variable). */
  readonly metrics: ReadonlyArray<string>
  /** Window names (each gives `<stat>_<name>(metric)` functions, when the name has no `-`). */
  readonly windows: ReadonlyArray<string>
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
// A window name that makes `<stat>_<name>` an identifier (`10m`, `hour`; not `my-window`).
const WINDOW_SUFFIX = /^[A-Za-z0-9_]+$/
// Words CEL reserves: a metric of that name cannot be a variable.
const RESERVED = new Set(["true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"])

const statKey = (stat: string, window: string, metric: string) => `${stat}_${window}(${metric})`

/** Metric names an expression can use as they are (CEL identifiers). */
export const usableMetric = (metric: string): boolean => IDENTIFIER.test(metric) && !RESERVED.has(metric)

interface Scoped {
  readonly env: Environment
  readonly metrics: ReadonlyArray<string>
  readonly functions: ReadonlyArray<string>
}

// One environment per scope: building one registers CEL's standard library (~1 ms).
const environments = new Map<string, Scoped>()

const environmentFor = (scope: ExpressionScope): Scoped => {
  const metrics = [...new Set(scope.metrics.filter(usableMetric))].sort()
  const windows = [...new Set(scope.windows.filter((w) => WINDOW_SUFFIX.test(w)))].sort()
  const cacheKey = `${metrics.join(",")}|${windows.join(",")}`
  const cached = environments.get(cacheKey)
  if (cached !== undefined) return cached
  const env = new Environment({
    limits: { maxAstNodes: MAX_EXPRESSION_NODES, maxDepth: MAX_EXPRESSION_DEPTH, maxListElements: 8, maxMapEntries: 8, maxCallArguments: 8 }
  })
  for (const metric of metrics) env.registerVariable(metric, "double")
  const functions: Array<string> = []
  for (const window of windows) {
    for (const stat of WINDOW_STATS) {
      const name = `${stat}_${window}`
      functions.push(name)
      // A macro, not a plain function: its argument is a metric's name, not its value. The
      // value comes from the inputs under the statistic's key (see `StatRef`).
      env.registerFunction(`${name}(ast): double`, ({ args }: { args: ReadonlyArray<ASTNode> }) => {
        const arg = args[0]!
        if (arg.op !== "id") throw new Error(`${name}() takes a metric name, e.g. ${name}(temperature)`)
        const key = statKey(stat, window, arg.args)
        return {
          typeCheck: (checker: { check: (node: ASTNode, ctx: unknown) => unknown; getType: (t: string) => unknown }, _macro: unknown, ctx: unknown) => {
            checker.check(arg, ctx) // an unknown metric is an error here too
            return checker.getType("double")
          },
          evaluate: (_evaluator: unknown, _macro: unknown, ctx: { getValue: (key: string) => unknown }) => ctx.getValue(key)
        }
      })
    }
  }
  const scoped = { env, metrics, functions }
  environments.set(cacheKey, scoped)
  return scoped
}

const columnOf = (error: unknown): number | undefined => {
  const range = (error as { range?: { start: number } }).range
  return range === undefined ? undefined : range.start + 1
}

const summaryOf = (error: unknown): string => {
  const e = error as { summary?: string; message?: string }
  return (e.summary ?? e.message ?? String(error)).split("\n")[0]!
}

/** What is allowed, node by node; collects the metrics and statistics used. */
const ALLOWED_BINARY = new Set(["==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "&&", "||"])

const walk = (
  node: ASTNode,
  functions: ReadonlySet<string>,
  metrics: Set<string>,
  stats: Map<string, StatRef>
): ExpressionProblem | undefined => {
  const at = { column: node.range.start + 1 }
  switch (node.op) {
    case "value": {
      const v = node.args
      if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return undefined
      return { message: "only numbers and true/false can be written as values here", ...at }
    }
    case "id":
      metrics.add(node.args)
      return undefined
    case "call": {
      const [name, args] = node.args
      if (!functions.has(name)) {
        return { message: `${name}() is not a function an alarm rule can call; the window functions are <stat>_<window>(metric), stat one of ${WINDOW_STATS.join(", ")}`, ...at }
      }
      const arg = args[0]
      if (args.length !== 1 || arg === undefined || arg.op !== "id") return { message: `${name}() takes one metric name, e.g. ${name}(temperature)`, ...at }
      const cut = name.indexOf("_")
      const stat = name.slice(0, cut) as WindowStat
      const window = name.slice(cut + 1)
      const key = statKey(stat, window, arg.args)
      stats.set(key, { key, stat, window, metric: arg.args })
      return undefined
    }
    case "!_":
    case "-_":
      return walk(node.args, functions, metrics, stats)
    case "?:":
      for (const child of node.args) {
        const problem = walk(child, functions, metrics, stats)
        if (problem) return problem
      }
      return undefined
    default: {
      if (ALLOWED_BINARY.has(node.op)) {
        for (const child of node.args as [ASTNode, ASTNode]) {
          const problem = walk(child, functions, metrics, stats)
          if (problem) return problem
        }
        return undefined
      }
      const what = node.op === "rcall" ? `.${(node.args as unknown as [string])[0]}()` : node.op === "list" ? "a list" : node.op === "map" ? "a map" : node.op === "in" ? "`in`" : "field access"
      return { message: `${what} cannot be used in an alarm rule: only metrics, numbers, arithmetic, comparisons, &&, ||, !, ?: and the window functions`, ...at }
    }
  }
}

/**
 * Parse, restrict and type-check one expression (it must be true or false). Compile once,
 * when the configuration is loaded; evaluate the result per reading.
 */
export const compileExpression = (text: string, scope: ExpressionScope): { readonly ok: CompiledExpression } | { readonly problem: ExpressionProblem } => {
  if (text.length > MAX_EXPRESSION_LENGTH) return { problem: { message: `the expression is ${text.length} characters long, more than the ${MAX_EXPRESSION_LENGTH} allowed` } }
  if (text.trim() === "") return { problem: { message: "the expression is empty" } }
  const { env, metrics: known, functions } = environmentFor(scope)
  let parsed: ReturnType<Environment["parse"]>
  try {
    parsed = env.parse(text)
  } catch (error) {
    const summary = summaryOf(error)
    const limit = /maxDepth/.test(summary)
      ? `it is nested more than ${MAX_EXPRESSION_DEPTH} deep`
      : /maxAstNodes/.test(summary)
      ? `it has more than ${MAX_EXPRESSION_NODES} parts`
      : undefined
    const column = columnOf(error)
    return { problem: { message: limit === undefined ? `cannot be parsed: ${summary}` : `too complex: ${limit}`, ...(column === undefined ? {} : { column }) } }
  }
  const metrics = new Set<string>()
  const stats = new Map<string, StatRef>()
  const refused = walk(parsed.ast, new Set(functions), metrics, stats)
  if (refused) return { problem: refused }
  for (const metric of [...metrics, ...[...stats.values()].map((s) => s.metric)]) {
    if (!known.includes(metric)) {
      const near = didYouMean(metric, known)
      return {
        problem: {
          message: `unknown metric "${metric}"${near.length === 0 ? "" : ` (did you mean ${near.map((n) => `"${n}"`).join(" or ")}?)`}; metrics known from this file: ${known.length === 0 ? "none" : known.join(", ")} (name others in the rule's \`metrics\` list)`,
          ...columnAt(text, metric)
        }
      }
    }
  }
  const checked = parsed.check()
  if (!checked.valid) {
    const column = columnOf(checked.error)
    return { problem: { message: `type error: ${summaryOf(checked.error)}`, ...(column === undefined ? {} : { column }) } }
  }
  if (checked.type !== "bool") return { problem: { message: `must be true or false, but it is a ${checked.type} (compare it, e.g. \`${text} > 0\`)` } }
  const program = parsed
  return {
    ok: {
      text,
      metrics: [...metrics],
      stats: [...stats.values()],
      evaluate: (inputs) => program(inputs) === true
    }
  }
}

const columnAt = (text: string, word: string): { column?: number } => {
  const i = text.search(new RegExp(`\\b${word}\\b`))
  return i < 0 ? {} : { column: i + 1 }
}
