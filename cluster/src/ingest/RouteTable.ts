/**
 * The cluster file's ingest routes, compiled, and the answer to "which route takes this
 * topic, and what does it make of this payload?" — asked by the router for every message
 * and by `bramble route test` for a sample.
 */
import type { ClusterConfig } from "@bramble/config"
import { ingestStreamSubjects, topicOfSubject } from "@bramble/config"
import { Subjects } from "@bramble/protocol"
import { type CompiledRoute, compileRoute, type Decoded, readPayload } from "./Dialects.js"

/** What happened to one message. */
export type Routed =
  | { readonly _tag: "NoRoute"; readonly topic: string; readonly message: string }
  | { readonly _tag: "Routed"; readonly route: CompiledRoute; readonly decoded: Decoded }

export interface RouteTable {
  readonly routes: ReadonlyArray<CompiledRoute>
  /** The INGEST stream's subjects; empty when there are no routes (no stream then). */
  readonly streamSubjects: ReadonlyArray<string>
  /** The first route whose topic matches, with its wildcards' values. */
  readonly match: (topic: string) => { readonly route: CompiledRoute; readonly values: Record<string, string> } | undefined
  /** Route and read one message stored under `subject` at `storedAt` (ms). */
  readonly take: (subject: string, bytes: Uint8Array, storedAt: number) => Routed
  /** Whether a NATS subject lies under a stream that holds it (READINGS, INGEST, …): what
   * the unrouted-MQTT watch must leave alone. */
  readonly isCaptured: (subject: string) => boolean
}

const OWN_FIRST_LEVELS = new Set(["readings", "aggregates", "alarms", "deadletter"])

export const makeRouteTable = (config: Pick<ClusterConfig, "ingest">): RouteTable => {
  const routes = (config.ingest?.routes ?? []).map(compileRoute)
  const streamSubjects = ingestStreamSubjects(routes.map((r) => r.route.topic))
  const routedFirstLevels = new Set(routes.map((r) => r.route.topic.split("/")[0]!))

  const match = (topic: string) => {
    for (const route of routes) {
      const values = route.pattern.exec(topic)
      if (values !== undefined) return { route, values }
    }
    return undefined
  }

  const take = (subject: string, bytes: Uint8Array, storedAt: number): Routed => {
    const topic = topicOfSubject(subject)
    const found = match(topic)
    if (found === undefined) {
      const first = topic.split("/")[0]!
      const near = routes.filter((r) => r.route.topic.split("/")[0] === first).map((r) => `${r.route.name} (${r.route.topic})`)
      return {
        _tag: "NoRoute",
        topic,
        message: `no ingest route takes topic ${Subjects.escapeSubject(topic)}` +
          (near.length > 0 ? `; routes under ${first}/: ${near.join(", ")}` : "; add one to the cluster file (docs/ingest-routes.md)")
      }
    }
    return { _tag: "Routed", route: found.route, decoded: readPayload(found.route, found.values, bytes, storedAt) }
  }

  const isCaptured = (subject: string) => {
    const first = subject.split(".", 1)[0]!
    return OWN_FIRST_LEVELS.has(first) || routedFirstLevels.has(first)
  }

  return { routes, streamSubjects, match, take, isCaptured }
}
