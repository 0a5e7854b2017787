/**
 * A route's topic pattern, compiled once: does a topic match, what do its named wildcards
 * hold, which NATS subjects capture it, and what do the route's templates (`"{room}"`) give.
 *
 * Matching and extraction are mqtt-pattern's (named `+name`/`#name` wildcards). What it does
 * not do — checking a pattern, turning it into NATS subjects, the `{name}` templates — is
 * here, small and tested (packages/config/test/IngestRoutes.test.ts).
 */
import MQTTPattern from "mqtt-pattern"

/** First topic levels Bramble's own subjects use: a route there would capture or shadow them. */
export const RESERVED_FIRST_LEVELS = ["ingest", "readings", "aggregates", "alarms", "deadletter", "bramble", "commands"] as const

const WILDCARD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/
/** What a literal level may hold: a NATS token without `.`, `*`, `>` or white space (nats-server
 * 2.9 does not escape a `.` in an MQTT topic, so `a.b` would become two levels). */
const LITERAL_LEVEL = /^[^.*>+#\s/$][^.*>+#\s/]{0,63}$/

export interface RoutePattern {
  readonly pattern: string
  /** Names of the `+name` wildcards, in order, and of the `#name` one (if any). */
  readonly wildcards: ReadonlyArray<string>
  /** The wildcards' values when `topic` matches, else undefined. */
  readonly exec: (topic: string) => Record<string, string> | undefined
}

/** Problems of a pattern, each a sentence; empty when it is fine. */
export const patternProblems = (pattern: string): Array<string> => {
  const problems: Array<string> = []
  const levels = pattern.split("/")
  const names = new Set<string>()
  levels.forEach((level, i) => {
    if (level.startsWith("+") || level.startsWith("#")) {
      if (level.startsWith("#") && i !== levels.length - 1) problems.push(`"${level}" must be the last level: # takes the rest of the topic`)
      const name = level.slice(1)
      if (name !== "" && !WILDCARD_NAME.test(name)) problems.push(`wildcard "${level}": a wildcard's name is a letter or _ then letters, digits or _`)
      if (name !== "" && names.has(name)) problems.push(`wildcard name "${name}" is used twice`)
      names.add(name)
    } else if (!LITERAL_LEVEL.test(level)) {
      problems.push(
        level === ""
          ? "a topic level is empty (a leading, trailing or double /)"
          : `level "${level}" may not hold . * > + # $ or white space (nats-server turns a . into a new level)`
      )
    }
  })
  if (levels[0] !== undefined && (RESERVED_FIRST_LEVELS as ReadonlyArray<string>).includes(levels[0])) {
    problems.push(
      levels[0] === "ingest"
        ? "ingest/… is Bramble's own dialect (ingest/<device>/<sensor>), always routed: choose another first level"
        : `${levels[0]}/… holds Bramble's own messages: choose another first level`
    )
  }
  if (levels[0]?.startsWith("+") || levels[0]?.startsWith("#")) {
    problems.push("the first level must be a word, not a wildcard (it would capture Bramble's own subjects)")
  }
  return problems
}

/** Compile a pattern that `patternProblems` found fine. */
export const compilePattern = (pattern: string): RoutePattern => {
  const levels = pattern.split("/")
  const wildcards = levels.filter((l) => l.startsWith("+") || l.startsWith("#")).map((l) => l.slice(1)).filter((n) => n !== "")
  const parent = levels.length > 1 && levels[levels.length - 1]!.startsWith("#") ? levels.slice(0, -1).join("/") : undefined
  return {
    pattern,
    wildcards,
    exec: (topic) => {
      // MQTT's `a/#` also matches `a`; mqtt-pattern does so for a bare `#` but not for a
      // named one (`a/#rest`), so the parent level is tried without it.
      const found = (MQTTPattern.exec(pattern, topic) ?? (parent === undefined ? null : MQTTPattern.exec(parent, topic))) as Record<string, string | Array<string>> | null
      if (found === null) return undefined
      const out: Record<string, string> = {}
      for (const [name, value] of Object.entries(found)) out[name] = Array.isArray(value) ? value.join("/") : value
      return out
    }
  }
}

const TEMPLATE_PART = /\{([^{}]*)\}/g

/** The wildcard names a template refers to (`"line-{line}-{device}"` → line, device). */
export const templateNames = (template: string): Array<string> => [...template.matchAll(TEMPLATE_PART)].map((m) => m[1]!)

/** Fill a template from a topic's wildcards (every name is known: checked with the config). */
export const fillTemplate = (template: string, values: Readonly<Record<string, string>>): string =>
  template.replace(TEMPLATE_PART, (_, name: string) => values[name] ?? "")

/** The MQTT topic of a NATS subject (`home.kitchen.temp` → `home/kitchen/temp`). */
export const topicOfSubject = (subject: string): string => subject.replaceAll(".", "/")

/**
 * The subjects the INGEST stream captures for these patterns: every first level a route
 * uses, whole (`sensors` and `sensors.>`). Wider than the routes on purpose: a publish under
 * a routed first level that no route matches (`sensors/a/b` beside `sensors/+device`) is
 * captured too and dead-lettered as `NoRoute`, over NATS and MQTT QoS 0 alike. First
 * levels never overlap, so JetStream takes the list as it is.
 */
export const ingestStreamSubjects = (patterns: ReadonlyArray<string>): Array<string> =>
  [...new Set(patterns.map((p) => p.split("/")[0]!))].flatMap((first) => [first, `${first}.>`])
