/**
 * The cluster's versioned configuration in the `bramble_config` KV bucket (docs/live-config.md,
 * docs/design.md "One versioned cluster file"). Version N is the key `v.<N>`, holding the whole
 * cluster file's text as published, and is never rewritten: `config history`, `config show N`
 * and `bramble replay` read old versions back. Publishing version N+1 is a `create` of
 * `v.<N+1>`, which fails when the key exists, so two operators applying at once cannot both
 * get the same version number: one is told to look again. Only creates write to the bucket,
 * so a version's KV revision is its number.
 *
 * Replicated like the leases (min(3, servers), withPlacementFallback), kept forever (no TTL,
 * one value per key).
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, StorageType } from "@nats-io/jetstream"
import type { KV, Kvm } from "@nats-io/kv"
import { Data, Effect } from "effect"
import { natsError, type NatsError } from "./NatsError.js"
import { withPlacementFallback } from "./Topology.js"

/** The bucket holding every version of the cluster file. */
export const CONFIG_BUCKET = "bramble_config"

/** One published version of the cluster file. */
export interface ConfigVersion {
  readonly version: number
  /** The cluster file as published (YAML), exactly. */
  readonly text: string
  /** Wall-clock ms when it was published. */
  readonly publishedAt: number
  /** Who published it: `node <name>` (a first start), or `<user>@<host>` (the CLI). */
  readonly by: string
  /** Where it came from: the file's path, or `rollback to N`. */
  readonly source: string
}

/** Someone published that version number first. */
export class ConfigVersionTaken extends Data.TaggedError("ConfigVersionTaken")<{ readonly version: number }> {
  override get message() {
    return `version ${this.version} was published by someone else meanwhile; see \`bramble config history\` and apply again`
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export const configKey = (version: number): string => `v.${version}`

const decodeVersion = (bytes: Uint8Array): ConfigVersion | undefined => {
  try {
    const v = JSON.parse(decoder.decode(bytes)) as Partial<ConfigVersion>
    return typeof v.version === "number" && typeof v.text === "string" && typeof v.publishedAt === "number" &&
        typeof v.by === "string" && typeof v.source === "string"
      ? { version: v.version, text: v.text, publishedAt: v.publishedAt, by: v.by, source: v.source }
      : undefined
  } catch {
    return undefined
  }
}

/** Versions of the cluster file in one bucket. */
export interface ConfigStore {
  /** The highest version number published (0: none yet). */
  readonly latestVersion: Effect.Effect<number, NatsError>
  /** One version; undefined when it was never published. */
  readonly get: (version: number) => Effect.Effect<ConfigVersion | undefined, NatsError>
  /** The latest version, if any. */
  readonly current: Effect.Effect<ConfigVersion | undefined, NatsError>
  /** Every version number published, ascending. */
  readonly versions: Effect.Effect<ReadonlyArray<number>, NatsError>
  /** Publish `version` (must be latest + 1); fails with ConfigVersionTaken when someone was first. */
  readonly publish: (next: ConfigVersion) => Effect.Effect<ConfigVersion, ConfigVersionTaken | NatsError>
}

/** Create the bucket when missing (replicas like the leases) and open it. */
export const ensureConfigBucket = (kvm: Kvm, replicas: number): Effect.Effect<KV, NatsError> =>
  Effect.tryPromise({
    try: async () => {
      await withPlacementFallback(replicas, (r) => kvm.create(CONFIG_BUCKET, { history: 1, replicas: r, storage: StorageType.File }))
      return kvm.open(CONFIG_BUCKET)
    },
    catch: natsError("KeyValue", `cannot create or open KV bucket ${CONFIG_BUCKET}`)
  })

/** Open the bucket if it exists (the CLI: no node has started when it does not). */
export const openConfigBucket = (kvm: Kvm, jsm: JetStreamManager): Effect.Effect<KV | undefined, NatsError> =>
  Effect.tryPromise({
    try: async () => {
      try {
        await jsm.streams.info(`KV_${CONFIG_BUCKET}`)
      } catch (error) {
        if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return undefined
        throw error
      }
      return kvm.open(CONFIG_BUCKET)
    },
    catch: natsError("KeyValue", `cannot open KV bucket ${CONFIG_BUCKET}`)
  })

export const kvConfigStore = (kv: KV, jsm: JetStreamManager): ConfigStore => {
  // The version numbers come from the stream's subjects (STREAM.INFO on the leader), not
  // `kv.keys()`: that makes an ephemeral consumer, which nats-server 2.9 may place on a
  // replica that is down (see listDeviceKeys in cluster/src/partition/Checkpoints.ts).
  const prefix = `$KV.${CONFIG_BUCKET}.v.`
  const versions = Effect.tryPromise({
    try: async () => {
      const info = await jsm.streams.info(`KV_${CONFIG_BUCKET}`, { subjects_filter: `${prefix}>` })
      return Object.keys(info.state.subjects ?? {})
        .map((subject) => Number(subject.slice(prefix.length)))
        .filter((n) => Number.isInteger(n) && n > 0)
        .sort((a, b) => a - b)
    },
    catch: natsError("KeyValue", "cannot list the cluster file's versions")
  })
  const latestVersion = Effect.map(versions, (all) => all.at(-1) ?? 0)
  const get = (version: number) =>
    Effect.tryPromise({
      try: async () => {
        const entry = await kv.get(configKey(version))
        return entry === null || entry.operation !== "PUT" ? undefined : decodeVersion(entry.value)
      },
      catch: natsError("KeyValue", `cannot read version ${version} of the cluster file`)
    })
  return {
    versions,
    latestVersion,
    get,
    current: Effect.flatMap(latestVersion, (n) => (n === 0 ? Effect.succeed(undefined) : get(n))),
    publish: (next) =>
      Effect.tryPromise({
        try: () => kv.create(configKey(next.version), encoder.encode(JSON.stringify(next))),
        catch: (error) => error
      }).pipe(
        Effect.as(next),
        Effect.mapError((error) =>
          error instanceof JetStreamApiError &&
            (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
            ? new ConfigVersionTaken({ version: next.version })
            : natsError("KeyValue", `cannot publish version ${next.version} of the cluster file`)(error)
        )
      )
  }
}
