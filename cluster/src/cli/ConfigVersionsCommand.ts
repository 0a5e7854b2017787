/**
 * The cluster's versioned configuration (docs/live-config.md): `bramble config apply FILE
 * [--dry-run] [--restarted]`, `config history`, `config show [VERSION]`, `config rollback
 * VERSION`. Versions live in the `bramble_config` KV bucket (packages/nats ConfigStore.ts);
 * every running node watches it and switches over what can change live
 * (packages/config LiveConfig.ts says which sections those are).
 *
 * Exit codes: 0 published (or nothing to publish, or --dry-run), 1 refused or failed (the
 * message says why and what to do), 2 usage.
 */
import {
  type ClusterConfig,
  diffConfigs,
  loadClusterConfig,
  notLiveChanges,
  parseClusterConfig,
  renderDiff,
  renderNotLive,
  type SectionChange
} from "@bramble/config"
import { type ConfigStore, type ConfigVersion, kvConfigStore, openConfigBucket } from "@bramble/nats"
import { jetstreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { readFile } from "node:fs/promises"
import { hostname, userInfo } from "node:os"
import { Console, Effect, Option, Result, type Scope } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { connectionFlags, type ConnectionFlags, connectWith, fail, jsonFlag, usage } from "./AdminConnection.js"
import type { CliFailure } from "./ExitCode.js"
import { age, table } from "./Table.js"

const file = Argument.String("file").pipe(Argument.withDescription("The new cluster file (YAML or JSON)"))
const dryRun = Flag.Boolean("dry-run").pipe(Flag.withDescription("Validate and show the diff; publish nothing"), Flag.withDefault(false))
const restarted = Flag.Boolean("restarted").pipe(
  Flag.withDescription(
    "Also record changes that cannot be made live (nodes, sink, …), because every node was already restarted with this file. " +
      "Running nodes switch over only the live sections (rules); the others are what they started with"
  ),
  Flag.withDefault(false)
)

/** The cluster's config store, over a connection for the command's scope. */
const openStore = (flags: ConnectionFlags): Effect.Effect<ConfigStore, CliFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const { nc, url } = yield* connectWith(flags)
    const jsm = yield* Effect.promise(() => jetstreamManager(nc))
    const kv = yield* openConfigBucket(new Kvm(nc), jsm).pipe(Effect.catch((error) => fail(1, `${error.message} (on ${url})`)))
    if (kv === undefined) {
      return yield* fail(1, `no versioned configuration on ${url}: no node of this cluster has started yet (a node publishes its file as version 1 when it starts)`)
    }
    return kvConfigStore(kv, jsm)
  })

const orFail = <A, E extends { readonly message: string }>(effect: Effect.Effect<A, E>) => Effect.catch(effect, (error) => fail(1, error.message))

/** Parse a stored version; a version that no longer validates (a newer bramble's checks) is said so. */
const parsedVersion = (v: ConfigVersion): Effect.Effect<ClusterConfig, CliFailure> => {
  const parsed = parseClusterConfig(v.text, `version ${v.version}`)
  return Result.isSuccess(parsed) ? Effect.succeed(parsed.success) : fail(1, `version ${v.version} of the cluster file does not validate:\n${parsed.failure.message}`)
}

/**
 * Check `text` against the running version and publish it as the next one: the core of
 * `apply` and `rollback`. Prints the diff; refuses not-live changes unless `restarted`.
 */
const publishChecked = (options: {
  readonly store: ConfigStore
  readonly text: string
  readonly config: ClusterConfig
  readonly source: string
  readonly dryRun: boolean
  readonly restarted: boolean
  readonly json: boolean
}) =>
  Effect.gen(function*() {
    const { store, config } = options
    const running = yield* orFail(store.current)
    const runningConfig = running === undefined ? undefined : yield* parsedVersion(running)
    if (runningConfig !== undefined && runningConfig.cluster.name !== config.cluster.name) {
      return yield* fail(
        1,
        `this file is for cluster "${config.cluster.name}", but the cluster on that server is "${runningConfig.cluster.name}": nothing published.\n` +
          "Point --server at a node of the right cluster, or fix cluster.name."
      )
    }
    const changes: ReadonlyArray<SectionChange> = runningConfig === undefined ? [] : diffConfigs(runningConfig, config)
    const refused = notLiveChanges(changes)
    const next = (running?.version ?? 0) + 1
    const report = (outcome: string, extra: Record<string, unknown> = {}) =>
      options.json
        ? Console.log(JSON.stringify({ outcome, running: running?.version ?? null, changes, refused, ...extra }, null, 2))
        : Effect.void
    if (!options.json) {
      yield* Console.log(running === undefined ? "No version published yet." : `Changes from version ${running.version} (published ${age(running.publishedAt)} by ${running.by}):`)
      if (running !== undefined) yield* Console.log(renderDiff(changes))
    }
    if (refused.length > 0 && !options.restarted) {
      yield* report("refused")
      return yield* fail(1, `${renderNotLive(refused)}\nNothing published; the cluster keeps version ${running!.version}.`)
    }
    if (running !== undefined && changes.length === 0 && running.text === options.text) {
      yield* report("unchanged")
      if (!options.json) yield* Console.log(`Nothing to publish: the cluster runs this file as version ${running.version}.`)
      return
    }
    if (options.dryRun) {
      yield* report("dry-run")
      if (!options.json) yield* Console.log(`--dry-run: nothing published (it would be version ${next}).`)
      return
    }
    const published = yield* orFail(store.publish({
      version: next,
      text: options.text,
      publishedAt: Date.now(),
      by: `${userInfo().username}@${hostname()}`,
      source: options.source
    }))
    yield* report("published", { version: published.version })
    if (!options.json) {
      yield* Console.log(
        `Published version ${published.version}. Every node switches its rules over at its partitions' next batch, ` +
          "and its forward targets and database batching within a few seconds; " +
          "`bramble status` shows the version each node runs."
      )
    }
  })

const apply = Command.make(
  "apply",
  { file, dryRun, restarted, json: jsonFlag, ...connectionFlags },
  ({ file, dryRun, restarted, json, server, config, credentials, user }) =>
    Effect.scoped(Effect.gen(function*() {
      // The same checks as `config validate`.
      const loaded = yield* loadClusterConfig(file).pipe(Effect.catchTag("ConfigError", (error) => fail(1, `${error.message}\nNothing published.`)))
      const text = yield* Effect.promise(() => readFile(loaded.file, "utf8"))
      // Without --config the new file itself says where the cluster is and how to log in.
      const store = yield* openStore({ server, config: Option.orElse(config, () => Option.some(file)), credentials, user })
      yield* publishChecked({ store, text, config: loaded.config, source: loaded.file, dryRun, restarted, json })
    }))
).pipe(
  Command.withDescription(
    "Validate a cluster file, show what it changes, and publish it as the cluster's next version: every node switches over the rules live; " +
      "changes that cannot be made live are refused with what to do instead"
  ),
  Command.withExamples([
    { command: "bramble config apply --dry-run cluster.yaml", description: "See what would change" },
    { command: "bramble config apply cluster.yaml", description: "Publish it" }
  ])
)

const history = Command.make("history", { json: jsonFlag, ...connectionFlags }, ({ json, ...flags }) =>
  Effect.scoped(Effect.gen(function*() {
    const store = yield* openStore(flags)
    const numbers = yield* orFail(store.versions)
    const versions: Array<ConfigVersion> = []
    for (const n of numbers) {
      const v = yield* orFail(store.get(n))
      if (v !== undefined) versions.push(v)
    }
    const rows = versions.map((v, i) => {
      const before = versions[i - 1]
      const now = Result.getOrUndefined(parseClusterConfig(v.text))
      const prev = before === undefined ? undefined : Result.getOrUndefined(parseClusterConfig(before.text))
      const changed = now === undefined ? "(does not validate)" : prev === undefined ? (i === 0 ? "first version" : "") : diffConfigs(prev, now).map((c) => c.section).join(", ") || "no section"
      return { version: v.version, publishedAt: v.publishedAt, by: v.by, source: v.source, changed }
    })
    if (json) return yield* Console.log(JSON.stringify(rows, null, 2))
    if (rows.length === 0) return yield* Console.log("No version published yet.")
    yield* Console.log(table(
      ["version", "published", "by", "from", "changed"],
      rows.map((r) => [String(r.version), age(r.publishedAt), r.by, r.source, r.changed]),
      ["right", "right", "left", "left", "left"]
    ))
  }))).pipe(Command.withDescription("Every version of the cluster file, oldest first: when, by whom, from where, which sections changed"))

const show = Command.make(
  "show",
  {
    version: Argument.Int("version").pipe(Argument.withDescription("Which version (default: the current one)"), Argument.optional),
    json: jsonFlag,
    ...connectionFlags
  },
  ({ version, json, ...flags }) =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* openStore(flags)
      const v = Option.isSome(version) ? yield* orFail(store.get(version.value)) : yield* orFail(store.current)
      if (v === undefined) {
        const latest = yield* orFail(store.latestVersion)
        return yield* fail(1, Option.isSome(version) ? `no version ${version.value}: the versions are 1 to ${latest}` : "No version published yet.")
      }
      yield* Console.log(json ? JSON.stringify(v, null, 2) : v.text)
    }))
).pipe(
  Command.withDescription("Print a version of the cluster file as it was published (default: the current one)"),
  Command.withExamples([{ command: "bramble config show 3 > cluster.v3.yaml", description: "Get version 3 back as a file" }])
)

const rollback = Command.make(
  "rollback",
  {
    version: Argument.Int("version").pipe(Argument.withDescription("The version whose content to publish again")),
    dryRun,
    restarted,
    json: jsonFlag,
    ...connectionFlags
  },
  ({ version, dryRun, restarted, json, ...flags }) =>
    Effect.scoped(Effect.gen(function*() {
      if (version < 1) return yield* usage(`versions start at 1, not ${version}`)
      const store = yield* openStore(flags)
      const old = yield* orFail(store.get(version))
      if (old === undefined) return yield* fail(1, `no version ${version}: the versions are 1 to ${yield* orFail(store.latestVersion)}`)
      const config = yield* parsedVersion(old)
      yield* publishChecked({ store, text: old.text, config, source: `rollback to ${version}`, dryRun, restarted, json })
    }))
).pipe(
  Command.withDescription("Publish an earlier version's content again, as a new version (history keeps every version)"),
  Command.withExamples([{ command: "bramble config rollback 3", description: "Back to what version 3 said" }])
)

/** The subcommands of `bramble config` that work on the running cluster's versions. */
export const configVersionCommands = [apply, history, show, rollback] as const
