/**
 * Turns a Schema decode failure into the problems a person can act on. Schema's own text
 * is kept for most failures ("Expected an integer, got 4.5"); three kinds are rewritten,
 * because their default text is written for a programmer: an unknown key (with the keys
 * allowed there and a did-you-mean), a value outside a list of words (`kind: dht23`), and
 * a tagged union whose `kind` matches no member (`{ readonly "kind": "influx-v2", ... } | …`).
 */
import { closest, distance } from "fastest-levenshtein"
import { SchemaAST, SchemaIssue } from "effect"

export interface RawProblem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** "a, b and c" / "a, b or c". */
export const words = (items: ReadonlyArray<string>, last: "and" | "or"): string =>
  items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} ${last} ${items[items.length - 1]}`

const quoted = (items: ReadonlyArray<string>) => items.map((item) => `"${item}"`)

/**
 * What the writer probably meant: the candidates nearest in edit distance (ignoring case),
 * at most a third of the word away; failing that, those sharing its first three letters
 * (`tokn` → `tokenEnv`, `tokenFile`).
 */
export const didYouMean = (input: string, candidates: ReadonlyArray<string>): ReadonlyArray<string> => {
  if (candidates.length === 0 || input.length === 0) return []
  const lower = input.toLowerCase()
  const best = closest(lower, candidates.map((c) => c.toLowerCase()))
  const bestDistance = distance(lower, best)
  if (bestDistance <= Math.max(1, Math.floor(input.length / 3))) {
    return candidates.filter((c) => distance(lower, c.toLowerCase()) === bestDistance)
  }
  return lower.length >= 3 ? candidates.filter((c) => c.toLowerCase().startsWith(lower.slice(0, 3))) : []
}

/** `; did you mean "x"?`, or nothing when no candidate is near. */
export const suggestion = (input: string, candidates: ReadonlyArray<string>): string => {
  const near = didYouMean(input, candidates)
  return near.length === 0 ? "" : `; did you mean ${words(quoted(near), "or")}?`
}

/** Keys that hold secrets in other tools; here they are always named, never written. */
const SECRET_WORDS = ["token", "password", "secret"]

const unknownKey = (key: string, ast: SchemaAST.AST): string => {
  const allowed = SchemaAST.isObjects(ast) ? ast.propertySignatures.map((p) => String(p.name)) : []
  const near = suggestion(key, allowed)
  const secret = SECRET_WORDS.find((word) => distance(key.toLowerCase(), word) <= 2)
  const secretHint = secret === undefined
    ? ""
    : ` (a ${secret} never goes in the cluster file: name the environment variable or the file that holds it)`
  return near !== ""
    ? `unknown key "${key}"${near}${secretHint}`
    : `unknown key "${key}"; the keys here are ${words(allowed, "and")}${secretHint}`
}

/** The singular of the section a `kind` belongs to, from where it is in the file. */
const kindOwner = (path: ReadonlyArray<PropertyKey>): string | undefined => {
  const owners: Record<string, string> = {
    sensors: "sensor",
    actuators: "actuator",
    rules: "rule",
    sink: "sink",
    forward: "forward target"
  }
  for (let i = path.length - 1; i >= 0; i--) {
    const owner = owners[String(path[i])]
    if (owner !== undefined) return owner
  }
  return undefined
}

const a = (noun: string) => (/^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`)

const show = (value: unknown): string => typeof value === "string" ? `"${value}"` : JSON.stringify(value) ?? String(value)

const literalsOf = (ast: SchemaAST.Union): ReadonlyArray<string> | undefined =>
  ast.types.every((t) => SchemaAST.isLiteral(t) && typeof t.literal === "string")
    ? ast.types.map((t) => String((t as SchemaAST.Literal).literal))
    : undefined

/** The `kind` of every member, when each member is a struct tagged by a string `kind`. */
const kindsOf = (ast: SchemaAST.Union): ReadonlyArray<string> | undefined => {
  const kinds: Array<string> = []
  for (const member of ast.types) {
    if (!SchemaAST.isObjects(member)) return undefined
    const kind = member.propertySignatures.find((p) => p.name === "kind")
    if (kind === undefined || !SchemaAST.isLiteral(kind.type) || typeof kind.type.literal !== "string") return undefined
    kinds.push(kind.type.literal)
  }
  return kinds
}

const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown =>
  path.reduce<unknown>((value, key) => (typeof value === "object" && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined), input)

/** A union none of whose members matched, in words; undefined to keep Schema's text. */
const noMember = (ast: SchemaAST.Union, path: ReadonlyArray<PropertyKey>, input: unknown): RawProblem | undefined => {
  const literals = literalsOf(ast)
  if (literals !== undefined) {
    const value = valueAt(input, path)
    const owner = path[path.length - 1] === "kind" ? kindOwner(path) : undefined
    const near = typeof value === "string" ? suggestion(value, literals) : ""
    const message = owner !== undefined
      ? `${show(value)} is not ${a(owner)} kind; the kinds are ${words(literals, "and")}${near}`
      : `${show(value)} is not allowed here; use ${words(literals, "or")}${near}`
    return { path, message }
  }
  const kinds = kindsOf(ast)
  if (kinds !== undefined) {
    const owner = kindOwner(path) ?? "value"
    const value = valueAt(input, path)
    const kind = typeof value === "object" && value !== null ? (value as Record<string, unknown>)["kind"] : undefined
    if (kind === undefined) return { path, message: `${a(owner)} needs a kind: ${words(kinds, "or")}` }
    const near = typeof kind === "string" ? suggestion(kind, kinds) : ""
    return { path: [...path, "kind"], message: `${show(kind)} is not ${a(owner)} kind; the kinds are ${words(kinds, "and")}${near}` }
  }
  return undefined
}

/**
 * Every problem in a decode failure, each at its path. `input` is what was decoded, to name
 * the offending value (issues carry it only when asked to, and then everywhere).
 */
export const problemsOf = (issue: SchemaIssue.Issue, input: unknown): Array<RawProblem> => {
  const walk = (issue: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey>): Array<RawProblem> => {
    switch (issue._tag) {
      case "Pointer":
        return walk(issue.issue, [...path, ...issue.path])
      case "Encoding":
        return walk(issue.issue, path)
      case "Composite":
        return issue.issues.flatMap((inner) => walk(inner, path))
      case "AnyOf": {
        if (issue.issues.length > 0) return issue.issues.flatMap((inner) => walk(inner, path))
        const worded = noMember(issue.ast, path, input)
        if (worded !== undefined) return [worded]
        break
      }
      case "UnexpectedKey": {
        const key = path[path.length - 1]
        return [{ path, message: unknownKey(String(key), issue.ast) }]
      }
    }
    return formatter(issue).issues.map((p) => ({
      path: [...path, ...(p.path ?? []).map((k) => (typeof k === "object" && k !== null && "key" in k ? k.key : k) as PropertyKey)],
      message: p.message
    }))
  }
  return walk(issue, [])
}
