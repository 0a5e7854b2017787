/**
 * Changing the cluster file of a running cluster (`bramble config apply`, docs/live-config.md):
 * which sections may change live, why the others may not, and a per-section diff an operator
 * can read before publishing.
 *
 * What "live" means is what the nodes apply without a restart (cluster/src/config): a section
 * listed here as live must be one a node really switches over; every other change is refused
 * with the reason and what to do instead, so a published version never says something the
 * nodes do not run.
 */
import { structuredPatch } from "diff"
import { stringify } from "yaml"
import type { ClusterConfig } from "./ClusterConfig.js"

/** The top-level sections of a cluster file, in the file's order. */
export const CONFIG_SECTIONS = [
  "cluster",
  "nodes",
  "sensors",
  "actuators",
  "windows",
  "streams",
  "rules",
  "processing",
  "sink",
  "forward",
  "security",
  "ingest"
] as const satisfies ReadonlyArray<keyof ClusterConfig>
export type ConfigSection = (typeof CONFIG_SECTIONS)[number]

/** Sections every node switches over while running: the rules at a recorded position of each
 * partition's log, the forward targets when the node takes the version. Of `sink`, only the
 * batching (`SINK_LIVE_FIELDS`) switches over, at the storage actor's next write. */
export const LIVE_SECTIONS: ReadonlySet<ConfigSection> = new Set(["rules", "forward"])

/** The fields of `sink` that change live: how the node writes, not where to. */
export const SINK_LIVE_FIELDS = ["batchSize", "gzip"] as const

/** The sink without its live fields: what must stay the same while the cluster runs. */
const sinkIdentity = (sink: ClusterConfig["sink"]): string => {
  const { batchSize: _batchSize, gzip: _gzip, ...rest } = sink
  return JSON.stringify(rest)
}

/** Whether the change of `section` from `from` to `to` is one the nodes switch over live. */
const changesLive = (section: ConfigSection, from: ClusterConfig, to: ClusterConfig): boolean =>
  LIVE_SECTIONS.has(section) || (section === "sink" && sinkIdentity(from.sink) === sinkIdentity(to.sink))

/**
 * Why a section cannot change on a running cluster, and what to do instead. Two kinds: fixed
 * for the cluster's life (baked into stored data or how nodes find each other), and not yet
 * switched over live (read once when a node starts).
 */
const NOT_LIVE: Record<Exclude<ConfigSection, "rules" | "forward">, { readonly why: string; readonly instead: string }> = {
  cluster: {
    why: "the cluster name and the partition count are baked into every stored subject and checkpoint, and the data directory holds each node's JetStream store",
    instead: "keep them; a different name or partition count is a new cluster (bramble deploy with a new file, then bramble replay from the old one)"
  },
  nodes: {
    why: "node names, hosts and ports are what the nats-servers route to and the leases name; a running nats-server cannot move",
    instead: "edit the file on every node and restart them one at a time (bramble deploy), then record it with `bramble config apply FILE --restarted`"
  },
  sensors: {
    why: "sensor actors are started from the file when a node starts (not switched over live yet)",
    instead: "edit the file on the node that has them and restart it (bramble deploy), then record it with `bramble config apply FILE --restarted`"
  },
  actuators: {
    why: "actuator actors are started from the file when a node starts (not switched over live yet)",
    instead: "edit the file on the node that has them and restart it (bramble deploy), then record it with `bramble config apply FILE --restarted`"
  },
  windows: {
    why: "window definitions are read when a partition worker starts (not switched over live yet)",
    instead: "edit the file on every node and restart them one at a time (bramble deploy), then record it with `bramble config apply FILE --restarted`"
  },
  streams: {
    why: "stream limits are set on the JetStream streams when the cluster forms",
    instead: "edit the file on every node and restart them one at a time (bramble deploy), then record it with `bramble config apply FILE --restarted`"
  },
  processing: {
    why: "batch size, lateness and checkpoint settings are read when a partition worker starts (not switched over live yet)",
    instead: "edit the file on every node and restart them one at a time (bramble deploy), then record it with `bramble config apply FILE --restarted`"
  },
  sink: {
    why:
      "the database (kind, url, org and bucket or database, credentials) is where every partition's checkpoint says its data is: " +
      "switching mid-run would leave the new one without what came before, from a different log position on each node (sink.batchSize and sink.gzip do change live)",
    instead:
      "change only batchSize or gzip live; to move to another database, edit the file on every node and restart them one at a time (bramble deploy), " +
      "record it with `bramble config apply FILE --restarted`, and `bramble replay` the history into it"
  },
  security: {
    why: "users, passwords and TLS are settings of the running nats-servers",
    instead: "edit the file, `bramble deploy creds`, restart every node (bramble deploy), then record it with `bramble config apply FILE --restarted`"
  },
  ingest: {
    why: "ingest routes are subjects of the INGEST stream, set when the cluster forms",
    instead: "edit the file on every node and restart them one at a time (bramble deploy), then record it with `bramble config apply FILE --restarted`"
  }
}

/** One section that differs between two versions. */
export interface SectionChange {
  readonly section: ConfigSection
  readonly live: boolean
  /** Unified-diff lines of the section's YAML (`-` old, `+` new, ` ` context). */
  readonly lines: ReadonlyArray<string>
}

/** A change `config apply` refuses: the section, why, and what to do instead. */
export interface NotLiveChange {
  readonly section: ConfigSection
  readonly why: string
  readonly instead: string
}

const sectionText = (config: ClusterConfig, section: ConfigSection): string => {
  const value = config[section]
  return value === undefined ? "" : stringify(value, { lineWidth: 0 })
}

/**
 * The sections that differ between `from` and `to`, each with a line diff of its YAML (jsdiff:
 * the maintained implementation of Myers' diff, rather than a hand-rolled one). Sections are
 * compared as decoded (defaults filled in), so reformatting the file or spelling out a default
 * is no change.
 */
export const diffConfigs = (from: ClusterConfig, to: ClusterConfig): ReadonlyArray<SectionChange> =>
  CONFIG_SECTIONS.flatMap((section) => {
    const before = sectionText(from, section)
    const after = sectionText(to, section)
    if (before === after) return []
    const patch = structuredPatch(section, section, before, after, undefined, undefined, { context: 2 })
    const lines = patch.hunks.flatMap((hunk, i) => [...(i > 0 ? ["  …"] : []), ...hunk.lines])
    return [{ section, live: changesLive(section, from, to), lines }]
  })

/** The changes in `changes` a running cluster cannot take, with why and what to do instead. */
export const notLiveChanges = (changes: ReadonlyArray<SectionChange>): ReadonlyArray<NotLiveChange> =>
  changes.flatMap((c) => (c.live || c.section === "rules" || c.section === "forward" ? [] : [{ section: c.section, ...NOT_LIVE[c.section] }]))

/** A diff as an operator reads it: a heading per section, its lines indented. */
export const renderDiff = (changes: ReadonlyArray<SectionChange>): string =>
  changes.length === 0
    ? "No change."
    : changes.map((c) => [`${c.section}:${c.live ? "" : "  (not live-changeable)"}`, ...c.lines.map((l) => `  ${l}`)].join("\n")).join("\n")

/** The refusal message for not-live changes: one paragraph per section. */
export const renderNotLive = (refused: ReadonlyArray<NotLiveChange>): string =>
  refused.map((r) => `${r.section}: cannot change on a running cluster: ${r.why}.\n  Instead: ${r.instead}.`).join("\n")

/** `config` with the not-live sections taken from `fixed`: what a node runs when the
 * cluster's version and its own file differ where nothing can change live. */
export const withLiveSectionsOf = (fixed: ClusterConfig, live: ClusterConfig): ClusterConfig => {
  const { forward: _fixedForward, ...rest } = fixed
  const { gzip: _fixedGzip, ...sink } = fixed.sink
  return {
    ...rest,
    rules: live.rules,
    ...(live.forward === undefined ? {} : { forward: live.forward }),
    sink: { ...sink, batchSize: live.sink.batchSize, ...(live.sink.gzip === undefined ? {} : { gzip: live.sink.gzip }) }
  }
}
