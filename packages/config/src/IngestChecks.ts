/**
 * Cross-field checks of `ingest.routes`: what a per-field Schema cannot say. Every problem
 * names its route ("route pi-collector: …") and its path, so a route that could never
 * produce a reading is refused before the node starts, never silently disabled.
 */
import type { ClusterConfig } from "./ClusterConfig.js"
import type { IngestRoute } from "./IngestRoute.js"
import { suggestion } from "./internal/problems.js"
import { compilePattern, patternProblems, templateNames } from "./RoutePattern.js"

type Problem = { path: Array<PropertyKey>; message: string }

/** Options that only mean something in some dialects. */
const DIALECT_OPTIONS: ReadonlyArray<readonly [keyof IngestRoute, ReadonlyArray<IngestRoute["dialect"]>]> = [
  ["deviceField", ["json"]],
  ["timeField", ["json"]],
  ["values", ["json"]],
  ["deviceTag", ["line-protocol"]],
  ["metric", ["value"]],
  ["timeUnit", ["json", "line-protocol"]]
]

/** The device template a route uses: its own, or `{device}` when the topic names that wildcard. */
export const deviceTemplateOf = (route: IngestRoute, wildcards: ReadonlyArray<string>): string | undefined =>
  route.device ?? (wildcards.includes("device") ? "{device}" : undefined)

export const ingestCrossCheck = (config: ClusterConfig): Array<Problem> => {
  const problems: Array<Problem> = []
  const routes = config.ingest?.routes ?? []
  const names = new Map<string, number>()
  routes.forEach((route, i) => {
    const at = (...path: Array<PropertyKey>) => ["ingest", "routes", i, ...path]
    const say = (path: Array<PropertyKey>, message: string) => problems.push({ path: at(...path), message: `route ${route.name}: ${message}` })
    const first = names.get(route.name)
    if (first === undefined) names.set(route.name, i)
    else say(["name"], `the name is already used at index ${first}`)

    const topicProblems = patternProblems(route.topic)
    for (const p of topicProblems) say(["topic"], p)
    if (topicProblems.length > 0) return
    const { wildcards } = compilePattern(route.topic)

    for (const [option, dialects] of DIALECT_OPTIONS) {
      if (route[option] !== undefined && !dialects.includes(route.dialect)) {
        say([option], `${option} does not apply to dialect ${route.dialect} (only ${dialects.join(", ")})`)
      }
    }
    for (const key of ["device", "sensor", "metric"] as const) {
      const template = route[key]
      if (template === undefined) continue
      for (const name of templateNames(template)) {
        if (!wildcards.includes(name)) {
          say([key], `{${name}} is not a wildcard of ${route.topic}` + (wildcards.length === 0 ? " (it has none)" : `; its wildcards are ${wildcards.join(", ")}${suggestion(name, wildcards)}`))
        }
      }
      if (templateNames(template).length === 0 && !/^[A-Za-z0-9_-]{1,64}$/.test(template)) {
        say([key], `"${template}" is neither an id ([A-Za-z0-9_-]{1,64}) nor a template over the topic's wildcards ("{name}")`)
      }
    }

    const fromTopic = deviceTemplateOf(route, wildcards) !== undefined
    const sources = [fromTopic, route.deviceField !== undefined, route.deviceTag !== undefined].filter(Boolean).length
    if (sources === 0) {
      const where = route.dialect === "json" ? ", deviceField" : route.dialect === "line-protocol" ? ", deviceTag" : ""
      say([], `where is the device id? Name a +device wildcard in the topic, or set device${where}`)
    } else if (sources > 1 && (route.deviceField !== undefined || route.deviceTag !== undefined)) {
      say([route.deviceField !== undefined ? "deviceField" : "deviceTag"], "the device id comes from one place: the topic (+device or device) or the payload, not both")
    }
    for (const publisher of route.publishers ?? []) {
      if (config.security === undefined) say(["publishers"], "publishers are device credentials: the cluster file has no security section")
      else if (!config.security.devices.some((d) => d.id === publisher)) say(["publishers"], `${publisher} is not one of security.devices`)
    }
    for (const tag of route.tags ?? []) {
      if (route.dialect !== "json" && route.dialect !== "line-protocol") say(["tags"], `a ${route.dialect} route has no tags to keep (json fields and line-protocol tags only)`)
      if (!/^(?!(?:device|sensor)$)[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(tag)) say(["tags"], `${JSON.stringify(tag)} cannot be a tag name (a letter, then up to 63 of A-Z a-z 0-9 _ -; not device or sensor)`)
      if (tag === route.timeField || tag === route.deviceField || tag === route.deviceTag) say(["tags"], `field ${tag} is the ${tag === route.timeField ? "time" : "device id"}, not a tag`)
      if (route.values?.includes(tag)) say(["tags"], `field ${tag} is both a value and a tag`)
    }
    if (route.values !== undefined) {
      for (const field of route.values) {
        if (route.ignore.includes(field)) say(["values"], `field ${field} is both a value and ignored`)
        if (field === route.timeField || field === route.deviceField) say(["values"], `field ${field} is the ${field === route.timeField ? "time" : "device id"}, not a value`)
      }
    }
  })
  return problems
}
