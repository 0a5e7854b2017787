/**
 * Reading a cluster file: YAML (JSON is YAML too) → Schema decode → cross-field checks.
 * All problems are collected and reported together, each with its path and line, before
 * anything starts. Unknown keys are problems too (docs/design.md, decision 9), worded with a
 * did-you-mean by internal/problems.ts.
 */
import { readFile } from "node:fs/promises"
import { dirname, isAbsolute, resolve } from "node:path"
import { Effect, Result, Schema } from "effect"
import { isMap, isScalar, LineCounter, parseDocument, type Document } from "yaml"
import { ClusterConfig } from "./ClusterConfig.js"
import { ConfigError, type ConfigProblem } from "./ConfigError.js"
import { edgeCrossCheck } from "./EdgeChecks.js"
import { exprCrossCheck } from "./ExprRules.js"
import { forwardCrossCheck } from "./ForwardChecks.js"
import { ingestCrossCheck } from "./IngestChecks.js"
import { problemsOf } from "./internal/problems.js"

/** A decoded cluster file, with `dataDir` made absolute relative to the file. */
export interface LoadedConfig {
  readonly file: string
  readonly config: ClusterConfig
}

const decode = Schema.decodeUnknownResult(ClusterConfig)

const pathText = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (text, key) => typeof key === "number" ? `${text}[${key}]` : text === "" ? String(key) : `${text}.${String(key)}`,
    ""
  )

const lineOf = (doc: Document | undefined, counter: LineCounter, path: ReadonlyArray<PropertyKey>): number | undefined => {
  if (doc === undefined) return undefined
  // A key's problem (unknown, wrong value) is on the key's line: the value of `rule:` or
  // `sink:` starts on the next one.
  const key = path[path.length - 1]
  if (typeof key === "string") {
    const parent = doc.getIn(path.slice(0, -1) as Array<unknown>, true)
    const pair = isMap(parent) ? parent.items.find((item) => isScalar(item.key) && item.key.value === key) : undefined
    const range = isScalar(pair?.key) ? pair.key.range : undefined
    if (range) return counter.linePos(range[0]).line
  }
  // Walk down as far as the path exists; a missing key is reported at its parent.
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as Array<unknown>, true) as { range?: [number, number, number] } | undefined
    if (node && typeof node === "object" && node.range) return counter.linePos(node.range[0]).line
  }
  return undefined
}

/** Checks that span several fields, which a per-field Schema cannot express. */
export const crossCheck = (config: ClusterConfig): Array<{ path: Array<PropertyKey>; message: string }> => {
  const problems: Array<{ path: Array<PropertyKey>; message: string }> = []
  const duplicates = <T>(items: ReadonlyArray<T>, key: (t: T) => string, path: (i: number) => Array<PropertyKey>, what: string) => {
    const seen = new Map<string, number>()
    items.forEach((item, i) => {
      const k = key(item)
      const first = seen.get(k)
      if (first === undefined) seen.set(k, i)
      else problems.push({ path: path(i), message: `${what} "${k}" is already used at index ${first}` })
    })
  }
  duplicates(config.nodes, (n) => n.name, (i) => ["nodes", i, "name"], "node name")
  duplicates(config.windows, (w) => w.name, (i) => ["windows", i, "name"], "window name")
  duplicates(config.rules, (r) => r.name, (i) => ["rules", i, "name"], "rule name")
  config.windows.forEach((w, i) => {
    if (w.hop !== undefined && (w.hop > w.size || w.size % w.hop !== 0)) {
      problems.push({ path: ["windows", i, "hop"], message: `a hopping window's size (${w.size} ms) must be a whole multiple of its hop (${w.hop} ms)` })
    }
  })
  config.rules.forEach((r, i) => {
    if (r.kind !== "threshold") return
    if ((r.below === undefined) === (r.above === undefined)) {
      problems.push({ path: ["rules", i], message: "a threshold rule needs exactly one of `below` or `above`" })
    } else if (r.below !== undefined && r.clearAbove !== undefined && r.clearAbove < r.below) {
      problems.push({ path: ["rules", i, "clearAbove"], message: `clearAbove (${r.clearAbove}) must be at least below (${r.below}), or the alarm would flap` })
    } else if (r.above !== undefined && r.clearBelow !== undefined && r.clearBelow > r.above) {
      problems.push({ path: ["rules", i, "clearBelow"], message: `clearBelow (${r.clearBelow}) must be at most above (${r.above}), or the alarm would flap` })
    }
    if (r.below === undefined && r.clearAbove !== undefined) problems.push({ path: ["rules", i, "clearAbove"], message: "clearAbove goes with below" })
    if (r.above === undefined && r.clearBelow !== undefined) problems.push({ path: ["rules", i, "clearBelow"], message: "clearBelow goes with above" })
  })
  problems.push(...exprCrossCheck(config))
  problems.push(...edgeCrossCheck(config))
  problems.push(...forwardCrossCheck(config))
  problems.push(...ingestCrossCheck(config))
  // Two servers on one host cannot share a port.
  const ports = new Map<string, string>()
  config.nodes.forEach((n, i) => {
    if (n.nats.url !== undefined) return
    for (const key of ["port", "mqttPort", "clusterPort", "httpPort"] as const) {
      const where = `${n.host}:${n.nats[key]}`
      const owner = ports.get(where)
      if (owner !== undefined) problems.push({ path: ["nodes", i, "nats", key], message: `${where} is already used by ${owner}` })
      else ports.set(where, `nodes[${i}].nats.${key}`)
    }
  })
  return problems
}

/** Validate an already-parsed document (used by `loadClusterConfig` and by tests). */
export const decodeClusterConfig = (
  input: unknown,
  file = "<inline>",
  locate: (path: ReadonlyArray<PropertyKey>) => number | undefined = () => undefined
): Result.Result<ClusterConfig, ConfigError> => {
  const toProblem = (path: ReadonlyArray<PropertyKey>, message: string): ConfigProblem => {
    const line = locate(path)
    return line === undefined ? { path: pathText(path), message } : { path: pathText(path), message, line }
  }
  // An unknown key is an error everywhere, not ignored: a typo (`rule:`, `intervall:`) would
  // otherwise switch a feature off without a word.
  const decoded = decode(input, { errors: "all", onExcessProperty: "error" })
  if (Result.isFailure(decoded)) {
    const problems = problemsOf(decoded.failure.issue, input).map((p) => toProblem(p.path, p.message))
      .sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity))
    return Result.fail(new ConfigError({ reason: "Invalid", file, problems }))
  }
  const problems = crossCheck(decoded.success).map((p) => toProblem(p.path, p.message))
  return problems.length > 0 ? Result.fail(new ConfigError({ reason: "Invalid", file, problems })) : Result.succeed(decoded.success)
}

/** Parse YAML text and validate it. */
export const parseClusterConfig = (text: string, file = "<inline>"): Result.Result<ClusterConfig, ConfigError> => {
  const counter = new LineCounter()
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false })
  if (doc.errors.length > 0) {
    return Result.fail(new ConfigError({
      reason: "Syntax",
      file,
      problems: doc.errors.map((e) => {
        const line = counter.linePos(e.pos[0]).line
        return { path: "", message: e.message.split("\n")[0]!, line }
      })
    }))
  }
  return decodeClusterConfig(doc.toJS(), file, (path) => lineOf(doc, counter, path))
}

/** Read, parse and validate a cluster file; `dataDir` becomes absolute (relative to the file). */
export const loadClusterConfig = Effect.fn("loadClusterConfig")(function*(path: string) {
  const file = resolve(path)
  const text = yield* Effect.tryPromise({
    try: () => readFile(file, "utf8"),
    catch: (error) =>
      new ConfigError({
        reason: (error as NodeJS.ErrnoException).code === "ENOENT" ? "NotFound" : "Unreadable",
        file,
        problems: [{ path: "", message: (error as Error).message }]
      })
  })
  const config = yield* Effect.fromResult(parseClusterConfig(text, file))
  const dataDir = isAbsolute(config.cluster.dataDir) ? config.cluster.dataDir : resolve(dirname(file), config.cluster.dataDir)
  return { file, config: { ...config, cluster: { ...config.cluster, dataDir } } } satisfies LoadedConfig
})
