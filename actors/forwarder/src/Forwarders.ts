/**
 * The node's forwarders: one supervised fibre per `forward:` target of the cluster file.
 * Every node runs all of them (they share each target's durable consumer, see Forwarder.ts).
 * A forwarder that fails — NATS away, a bug — is restarted with capped, jittered backoff,
 * forever: its progress is in JetStream, so a restart loses nothing. Each is listed by
 * `bramble actors` as `forward-<name>` and can be restarted from there. The consumers of
 * targets removed from the file are removed once no node uses them (StaleConsumers.ts).
 */
import type { ClusterConfig, ForwardTarget } from "@bramble/config"
import { NatsClient, type NatsClientOptions, type NatsError } from "@bramble/nats"
import { Backoff, type Restartable } from "@bramble/runtime"
import { Cause, Effect, Fiber, type Scope } from "effect"
import { runForwarder } from "./Forwarder.js"
import { type ForwarderStats, makeForwarderStats } from "./ForwarderStats.js"
import { type ForwardSecretUnavailable, thingsBoardTokens, thingsBoardTokenSetting, webhookCredentialSettings, webhookSecrets } from "./ForwardSecrets.js"
import type { ForwardSink } from "./ForwardSink.js"
import { removeStaleForwardConsumers, type StaleConsumerOptions } from "./StaleConsumers.js"
import { makeThingsBoardSink } from "./ThingsBoardSink.js"
import { makeWebhookSink } from "./WebhookSink.js"

export interface StartForwardersOptions {
  readonly config: ClusterConfig
  /** Where each forwarder runs: the node's actor registry, which lists it for `bramble actors`. */
  readonly registry: Restartable
  /**
   * Opens the NATS connection of one run of a forwarder (`forwarderConnection`); without it
   * forwarders use the NatsClient in context. The node gives every run a connection of its
   * own: a message no client can parse (a control character in an MQTT topic, see
   * cluster/src/partition/Quarantine.ts) then stalls that forwarder's connection, never the node's,
   * and the restart gets a fresh one.
   */
  readonly connect?: (target: string) => Effect.Effect<NatsClient["Service"], NatsError, Scope.Scope>
  /** When the consumers of removed targets are removed (StaleConsumers.ts); tests shorten it. */
  readonly staleConsumers?: Pick<StaleConsumerOptions, "graceMs" | "intervalMs">
}

/** A connection for one forwarder run, closed (not drained: it may be stalled) when the run ends. */
export const forwarderConnection = Effect.fn("Forwarders.forwarderConnection")(function*(options: NatsClientOptions): Effect.fn.Return<NatsClient["Service"], NatsError, Scope.Scope> {
  const client = yield* NatsClient.make(options)
  // Added after NatsClient's own release (a drain), so it runs first.
  yield* Effect.addFinalizer(() => Effect.promise(() => client.nc.close().catch(() => undefined)))
  return client
})

/** The sink a target describes, with its secrets read. */
export const makeForwardSink = Effect.fn("Forwarders.makeForwardSink")(function*(target: ForwardTarget, index: number): Effect.fn.Return<ForwardSink, ForwardSecretUnavailable> {
  if (target.kind === "thingsboard") {
    const tokens = yield* thingsBoardTokens(target, index)
    return makeThingsBoardSink({
      name: target.name,
      url: target.url,
      timeoutMs: target.timeout,
      tokens,
      source: target.source,
      tokenSetting: (device) => thingsBoardTokenSetting(target, index, device),
      urlSetting: `forward[${index}].url`,
      reloadTokens: thingsBoardTokens(target, index)
    })
  }
  const { secret, headers } = yield* webhookSecrets(target, index)
  return makeWebhookSink({
    name: target.name,
    url: target.url,
    timeoutMs: target.timeout,
    headers,
    secret,
    source: target.source,
    credentialSettings: webhookCredentialSettings(target, index),
    reloadSecrets: webhookSecrets(target, index)
  })
})

/** What a new version of the cluster file changes in the forward targets, by name. */
export interface ForwardChanges {
  readonly added: ReadonlyArray<string>
  readonly removed: ReadonlyArray<string>
  /** Any field differs (as decoded: defaults filled in, durations in ms). */
  readonly changed: ReadonlyArray<string>
  /** Of `changed`, those whose `source` changed: they read another stream, so another consumer. */
  readonly sourceChanged: ReadonlyArray<string>
}

/** Targets compared by their decoded fields, so reformatting or spelling out a default is no change. */
export const forwardChanges = (from: ReadonlyArray<ForwardTarget>, to: ReadonlyArray<ForwardTarget>): ForwardChanges => {
  const before = new Map(from.map((t) => [t.name, t]))
  const after = new Map(to.map((t) => [t.name, t]))
  const changed = to.filter((t) => before.has(t.name) && JSON.stringify(before.get(t.name)) !== JSON.stringify(t))
  return {
    added: to.filter((t) => !before.has(t.name)).map((t) => t.name),
    removed: from.filter((t) => !after.has(t.name)).map((t) => t.name),
    changed: changed.map((t) => t.name),
    sourceChanged: changed.filter((t) => before.get(t.name)!.source !== t.source).map((t) => t.name)
  }
}

/** The node's forwarders, which follow the forward targets of the cluster's versions. */
export interface Forwarders {
  /** One per target in force, in the file's order. */
  readonly stats: () => ReadonlyArray<ForwarderStats>
  /** The targets in force. */
  readonly targets: () => ReadonlyArray<ForwardTarget>
  /**
   * Check that `config`'s targets can run here — the secrets of every added or changed one
   * are read — without touching the running forwarders. Succeeds with what changes and the
   * effect that switches over (it cannot fail): stop the forwarders of removed and changed
   * targets, start those of added and changed ones. Fails, changing nothing, when a secret
   * cannot be read.
   */
  readonly prepare: (config: ClusterConfig) => Effect.Effect<{ readonly changes: ForwardChanges; readonly apply: Effect.Effect<void> }, ForwardSecretUnavailable>
}

/**
 * Start every forwarder of the cluster file; they stop when the scope closes. A missing
 * secret fails here, before any forwarder starts. Later versions of the file are applied with
 * `prepare` (cluster/src/config/ClusterVersion.ts): a changed target keeps its durable
 * consumer, so its progress (what the receiver already has) carries over to the new
 * settings — nothing is sent twice beyond the batch in flight, nothing skipped — unless its
 * `source` changed, which reads another stream through a new consumer (made per `startFrom`)
 * and leaves the old one to StaleConsumers.ts, as a removed target's is.
 */
export const startForwarders = Effect.fn("Forwarders.startForwarders")(function*(
  options: StartForwardersOptions
): Effect.fn.Return<Forwarders, ForwardSecretUnavailable, NatsClient | Scope.Scope> {
  const { config, registry } = options
  const scope = yield* Effect.scope
  const client = yield* NatsClient
  const decodeLimits = { maxPayloadBytes: config.processing.maxPayload, maxFutureSkewMs: 24 * 3600_000, maxClockAheadMs: config.processing.maxClockAhead }
  interface Running {
    readonly target: ForwardTarget
    readonly stats: ForwarderStats
    readonly fiber: Fiber.Fiber<unknown, unknown>
  }
  let running: ReadonlyArray<Running> = []

  const run = (target: ForwardTarget, sink: ForwardSink, stats: ForwarderStats) => {
    const forward = runForwarder({ target, sink, stats, nodes: config.nodes.length, decodeLimits })
    const connect = options.connect
    return (connect === undefined
      ? forward
      : Effect.scoped(Effect.flatMap(connect(target.name), (c) => Effect.provideService(forward, NatsClient, c)))).pipe(
      // A bug must not stop a target for good either: a defect is restarted like a failure.
      Effect.catchDefect((defect) => Effect.fail(defect)),
      (effect) => registry.restartable(`forward-${target.name}`, "forwarder", effect, { processed: () => stats.sent }),
      Effect.tapCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError(`forward ${target.name} failed; restarting (its batch in flight is delivered again)`, cause)
      ),
      Effect.retry(Backoff.schedule({ initial: "1 second", max: "30 seconds", factor: 2, jitter: 0.3 })),
      Effect.provideService(NatsClient, client)
    )
  }

  const prepare = (next: ClusterConfig) =>
    Effect.gen(function*() {
      const targets = next.forward ?? []
      const changes = forwardChanges(running.map((r) => r.target), targets)
      const starting = new Set([...changes.added, ...changes.changed])
      // Every secret first: one that cannot be read changes nothing.
      const sinks = new Map<string, ForwardSink>()
      for (const [i, target] of targets.entries()) {
        if (starting.has(target.name)) sinks.set(target.name, yield* makeForwardSink(target, i))
      }
      const apply = Effect.gen(function*() {
        const stopping = new Set([...changes.removed, ...changes.changed])
        const old = new Map(running.map((r) => [r.target.name, r]))
        // Stopped first, so a changed target's old forwarder has handed its batch back
        // (nak) and left the registry before the new one takes its name.
        yield* Effect.forEach(running.filter((r) => stopping.has(r.target.name)), (r) => Fiber.interrupt(r.fiber), { concurrency: "unbounded", discard: true })
        const next: Array<Running> = []
        for (const target of targets) {
          const kept = old.get(target.name)
          if (!starting.has(target.name) && kept !== undefined) {
            next.push(kept)
            continue
          }
          // The same target with new settings keeps its counters (its consumer's progress
          // carries over too); one that now sends something else starts them afresh.
          const stats = kept !== undefined && kept.target.kind === target.kind && kept.target.source === target.source
            ? Object.assign(kept.stats, { unavailableSince: undefined, lastError: undefined })
            : makeForwarderStats(target)
          const fiber = yield* Effect.forkIn(run(target, sinks.get(target.name)!, stats), scope)
          next.push({ target, stats, fiber })
        }
        running = next
        const said = [
          ...(changes.added.length === 0 ? [] : [`started ${changes.added.join(", ")}`]),
          ...(changes.removed.length === 0 ? [] : [`stopped ${changes.removed.join(", ")} (its consumer is removed once no node uses it)`]),
          ...(changes.changed.length === 0 ? [] : [`restarted ${changes.changed.join(", ")} with new settings`]),
          ...(changes.sourceChanged.length === 0 ? [] : [
            `${changes.sourceChanged.join(", ")} now read${changes.sourceChanged.length === 1 ? "s" : ""} another source through a new consumer (from ${
              changes.sourceChanged.map((n) => `${n}: ${targets.find((t) => t.name === n)!.startFrom === "all" ? "everything the stream holds" : "what arrives from now on"}`).join(", ")
            }); the old source's consumer is removed once no node uses it`
          ])
        ]
        if (said.length > 0) yield* Effect.logInfo(`forward: ${said.join("; ")}`)
      })
      return { changes, apply }
    })

  const forwarders: Forwarders = { stats: () => running.map((r) => r.stats), targets: () => running.map((r) => r.target), prepare }
  const first = yield* prepare(config)
  yield* first.apply
  // Consumers of targets no longer in force: removed once no node uses them.
  yield* Effect.forkScoped(removeStaleForwardConsumers({ targets: forwarders.targets, ...options.staleConsumers }))
  return forwarders
})
