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
import { Cause, Effect, type Scope } from "effect"
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

/** Start every forwarder of the cluster file; they stop when the scope closes. */
export const startForwarders = Effect.fn("Forwarders.startForwarders")(function*(
  options: StartForwardersOptions
): Effect.fn.Return<ReadonlyArray<ForwarderStats>, ForwardSecretUnavailable, NatsClient | Scope.Scope> {
  const { config, registry } = options
  const targets = config.forward ?? []
  // Every secret first: a missing one stops the node before any forwarder starts.
  const sinks = yield* Effect.forEach(targets, (target, i) => makeForwardSink(target, i))
  const decodeLimits = { maxPayloadBytes: config.processing.maxPayload, maxFutureSkewMs: 24 * 3600_000, maxClockAheadMs: config.processing.maxClockAhead }
  const all: Array<ForwarderStats> = []
  // Consumers of targets the file no longer has: removed once no node uses them.
  yield* Effect.forkScoped(removeStaleForwardConsumers({ targets, ...options.staleConsumers }))
  for (const [i, target] of targets.entries()) {
    const stats = makeForwarderStats(target)
    all.push(stats)
    const forward = runForwarder({ target, sink: sinks[i]!, stats, nodes: config.nodes.length, decodeLimits })
    const connect = options.connect
    const run = (connect === undefined
      ? forward
      : Effect.scoped(Effect.flatMap(connect(target.name), (client) => Effect.provideService(forward, NatsClient, client)))).pipe(
      // A bug must not stop a target for good either: a defect is restarted like a failure.
      Effect.catchDefect((defect) => Effect.fail(defect))
    )
    yield* Effect.forkScoped(
      registry.restartable(`forward-${target.name}`, "forwarder", run, { processed: () => stats.sent }).pipe(
        Effect.tapCause((cause) =>
          Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError(`forward ${target.name} failed; restarting (its batch in flight is delivered again)`, cause)
        ),
        Effect.retry(Backoff.schedule({ initial: "1 second", max: "30 seconds", factor: 2, jitter: 0.3 }))
      )
    )
  }
  return all
})
