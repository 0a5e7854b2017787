/**
 * The version of the cluster file a node runs (docs/live-config.md). At start the node reads
 * the cluster's current version from the `bramble_config` bucket (packages/nats
 * ConfigStore.ts): with none yet, it publishes its own file as version 1; with one that
 * differs from its file, it runs the cluster's version for the sections that change live
 * (the rules, the forward targets and the sink's batching) and says so in its log; the other sections are its own
 * file's (they cannot change under a running node: packages/config LiveConfig.ts).
 *
 * Then it looks for a newer version every second and compiles its rules; every partition
 * worker on the node takes the new rules at its next batch and records from which stream
 * sequence it used them (../partition/PartitionWorker.ts). The other parts that follow the
 * versions (`follow`: the forwarders, the storage sink) switch over when the node takes the
 * version. A version
 * is taken whole or not at all: one whose rules this node cannot compile, or that a part
 * cannot run (a forward target's secret missing here), is not taken; the node keeps the
 * version it runs, and reports the error (`bramble status` shows the cluster degraded).
 *
 * Polling rather than a KV watch: a watch is an ephemeral ordered consumer, which
 * nats-server 2.9 may place on a replica that is down (see listDeviceKeys in
 * ../partition/Checkpoints.ts); one STREAM.INFO a second on a bucket of a few keys is cheap.
 */
import type { RuleSet } from "@bramble/actor-aggregator"
import { type ClusterConfig, compileRules, diffConfigs, parseClusterConfig, withLiveSectionsOf } from "@bramble/config"
import { type ConfigStore, type ConfigVersion, type NatsError } from "@bramble/nats"
import { Data, Effect, Result, type Scope, Semaphore } from "effect"
import { stringify } from "yaml"

/** What a node runs of the cluster's versions (status, /metrics, the dashboard). */
export interface ClusterVersionState {
  /** The version whose rules the node uses (undefined: its own file's, no version read yet). */
  readonly version: number | undefined
  /** The newest version published, as the node last saw it. */
  readonly latest: number | undefined
  /** Why the node does not run `latest` (it keeps `version`'s rules). */
  readonly error: string | undefined
}

/**
 * A part of the node that follows the cluster's versions besides the rules (the forwarders).
 * Applying a version is two steps, so a node takes a version whole or not at all: every part
 * first checks it can run the version (`prepare`: secrets read, definitions built) without
 * touching what runs; only when all can does each switch over (the effect `prepare` returned).
 */
export interface LivePart {
  /** What it follows, for messages: `forward`. */
  readonly section: string
  /** Check that `config` can run here; succeeds with the switch-over, which cannot fail. */
  readonly prepare: (config: ClusterConfig) => Effect.Effect<Effect.Effect<void>, { readonly message: string }>
}

export interface ClusterVersion {
  readonly state: () => ClusterVersionState
  /** The rules in force on this node, for the partition workers. */
  readonly rules: () => RuleSet | undefined
  /** The cluster file in force on this node: its own, with the live sections of the version it runs. */
  readonly config: () => ClusterConfig
  /**
   * Apply the file in force to `part` now, and every version the node takes from then on.
   * Fails when `part` cannot run the file in force (a node start stops there, saying why).
   */
  readonly follow: (part: LivePart) => Effect.Effect<void, CannotRunVersion>
}

/** A part of the node cannot run the file in force (at start: the node stops, saying why). */
export class CannotRunVersion extends Data.TaggedError("CannotRunVersion")<{ readonly message: string }> {}

export interface ClusterVersionOptions {
  readonly node: string
  readonly store: ConfigStore
  /** This node's own file, decoded. */
  readonly config: ClusterConfig
  /** Its text and path, published as version 1 when the bucket is empty. */
  readonly file?: { readonly path: string; readonly text: string }
  readonly pollMs?: number
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** Reads (or publishes) the current version, then follows the bucket in a scoped fiber. */
export const startClusterVersion = Effect.fn("ClusterVersion.startClusterVersion")(function*(options: ClusterVersionOptions): Effect.fn.Return<ClusterVersion, NatsError, Scope.Scope> {
  const { node, store, config } = options
  let rules: RuleSet | undefined
  let state: ClusterVersionState = { version: undefined, latest: undefined, error: undefined }
  let inForce: ClusterConfig = config
  const parts: Array<LivePart> = []
  // A version is taken, and a part starts following, one at a time: a part never sees two at once.
  const serially = (yield* Semaphore.make(1)).withPermits(1)

  /** Take version `v`: its rules with this node's sensors and windows. Never fails: an error is kept in the state. */
  const take = (v: ConfigVersion, first: boolean) =>
    Effect.gen(function*() {
      const parsed = parseClusterConfig(v.text, `version ${v.version}`)
      if (Result.isFailure(parsed)) {
        state = { ...state, latest: v.version, error: `version ${v.version} does not validate on this node: ${parsed.failure.message}` }
        return yield* Effect.logError(`node ${node}: cannot use ${state.error}; keeping version ${state.version ?? "of its own file"}`)
      }
      const merged = withLiveSectionsOf(config, parsed.success)
      const compiled = Result.try(() => compileRules(merged))
      if (Result.isFailure(compiled)) {
        state = { ...state, latest: v.version, error: `version ${v.version}: rules: ${errorText(compiled.failure)}` }
        return yield* Effect.logError(`node ${node}: cannot use ${state.error}; keeping the rules of version ${state.version ?? "its own file"}`)
      }
      const switches: Array<Effect.Effect<void>> = []
      for (const part of parts) {
        const prepared = yield* Effect.result(part.prepare(merged))
        if (Result.isFailure(prepared)) {
          state = { ...state, latest: v.version, error: `version ${v.version}: ${part.section}: ${prepared.failure.message}` }
          return yield* Effect.logError(`node ${node}: cannot use ${state.error}; keeping version ${state.version ?? "of its own file"} whole`)
        }
        switches.push(prepared.success)
      }
      yield* Effect.all(switches, { discard: true })
      rules = { version: v.version, rules: compiled.success }
      inForce = merged
      state = { version: v.version, latest: v.version, error: undefined }
      const differs = diffConfigs(config, parsed.success)
      const live = differs.filter((c) => c.live).map((c) => c.section)
      const fixed = differs.filter((c) => !c.live).map((c) => c.section)
      if (first && differs.length > 0) {
        yield* Effect.logWarning(
          `node ${node}: its cluster file differs from the cluster's version ${v.version}` +
            (live.length > 0 ? `; it uses the cluster's version for ${live.join(", ")}` : "") +
            (fixed.length > 0 ? `; ${fixed.join(", ")} cannot change while running and come${fixed.length === 1 ? "s" : ""} from its own file${fixed.includes("sink") ? " (but for sink.batchSize and sink.gzip)" : ""}` : "")
        )
      } else {
        yield* Effect.logInfo(`node ${node}: runs version ${v.version} of the cluster file (${v.source}, by ${v.by})`)
      }
    })

  // The current version, or this node's file as version 1 (another node may be first).
  let current = yield* store.current
  if (current === undefined) {
    const published = yield* Effect.result(store.publish({
      version: 1,
      text: options.file?.text ?? stringify(config),
      publishedAt: Date.now(),
      by: `node ${node}`,
      source: options.file?.path ?? "node start"
    }))
    if (published._tag === "Success") {
      current = published.success
      yield* Effect.logInfo(`node ${node}: published its cluster file as version 1 (the cluster had none)`)
    } else if (published.failure._tag === "ConfigVersionTaken") {
      current = yield* store.current
    } else {
      return yield* Effect.fail(published.failure)
    }
  }
  if (current !== undefined) yield* serially(take(current, true))

  yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
    yield* Effect.sleep(options.pollMs ?? 1_000)
    const latest = yield* store.latestVersion
    // A version that failed is not tried again; a newer one is.
    if (latest === 0 || latest === (state.latest ?? state.version)) return
    const v = yield* store.get(latest)
    if (v !== undefined) yield* serially(take(v, false))
  }).pipe(
    // A failed read (servers restarting): try again next time, say so once per kind.
    Effect.catch((error) => Effect.logDebug(`node ${node}: reading the cluster file's versions failed: ${error.message}`))
  )))

  const follow = (part: LivePart) =>
    serially(Effect.gen(function*() {
      const apply = yield* part.prepare(inForce).pipe(
        Effect.mapError((error) =>
          new CannotRunVersion({
            message: `cannot run the ${part.section} section of ${state.version === undefined ? "its own cluster file" : `the cluster's version ${state.version}`}: ${error.message}`
          })
        )
      )
      yield* apply
      parts.push(part)
    }))

  return { state: () => state, rules: () => rules, config: () => inForce, follow }
})
