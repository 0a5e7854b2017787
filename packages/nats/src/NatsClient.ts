/**
 * The node's connection to NATS. nats.js v3 (the modular `@nats-io/*` packages) is used
 * rather than the legacy `nats` package: it is the maintained line, splits JetStream, KV
 * and services into separate modules, and its consumer API (`consume` with heartbeats)
 * recovers from server restarts on its own — Telegraf users' top MQTT complaint is a
 * consumer silently receiving nothing after a broker restart.
 */
import { connect, credsAuthenticator, type NatsConnection, nkeyAuthenticator } from "@nats-io/transport-node"
import { readFileSync } from "node:fs"
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { Context, Effect, Layer, Redacted } from "effect"
import { AsyncJetStreamPublisher } from "./AsyncPublisher.js"
import { natsError, type NatsError } from "./NatsError.js"

export interface NatsClientOptions {
  /** e.g. "nats://127.0.0.1:4222"; several for a cluster. */
  readonly servers: string | ReadonlyArray<string>
  /** Connection name shown by `nats server report connections`. */
  readonly name: string
  readonly user?: string
  /** The password of `user`; keep it `Redacted` so it cannot reach a log line. */
  readonly pass?: string | Redacted.Redacted<string>
  /** An NKEY seed file (`SU…`): the client signs the server's nonce, no password is sent. */
  readonly nkeySeedFile?: string
  /** A NATS credentials file (user JWT and seed), for servers in operator mode. */
  readonly credsFile?: string
  /** TLS: the CA the server's certificate must chain to, and a client certificate if the server asks for one. */
  readonly tls?: NatsClientTls
  /** Prefix of reply inboxes, for users allowed to subscribe only to their own (default `_INBOX`). */
  readonly inboxPrefix?: string
  /** How long a JetStream API call may take. */
  readonly apiTimeoutMs?: number
}

/** TLS options of a NATS connection. With any of them set, the connection requires TLS. */
export interface NatsClientTls {
  readonly caFile?: string
  readonly certFile?: string
  readonly keyFile?: string
}

// Secrets are read here, at connect time, and go straight into nats.js.
const authOptions = (options: NatsClientOptions) => ({
  ...(options.user === undefined ? {} : { user: options.user }),
  ...(options.pass === undefined ? {} : { pass: Redacted.isRedacted(options.pass) ? Redacted.value(options.pass) : options.pass }),
  ...(options.nkeySeedFile === undefined
    ? {}
    : { authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(options.nkeySeedFile, "utf8").trim())) }),
  ...(options.credsFile === undefined ? {} : { authenticator: credsAuthenticator(readFileSync(options.credsFile)) }),
  ...(options.tls === undefined
    ? {}
    : {
      tls: {
        ...(options.tls.caFile === undefined ? {} : { caFile: options.tls.caFile }),
        ...(options.tls.certFile === undefined ? {} : { certFile: options.tls.certFile }),
        ...(options.tls.keyFile === undefined ? {} : { keyFile: options.tls.keyFile })
      }
    }),
  ...(options.inboxPrefix === undefined ? {} : { inboxPrefix: options.inboxPrefix })
})

/** How long closing a client waits for its connection to drain before closing it outright. */
const DRAIN_TIMEOUT_MS = 5_000

export class NatsClient extends Context.Service<NatsClient, {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly kvm: Kvm
  /** Pipelined JetStream publishing (many PubAcks outstanding): the hot-path publisher. */
  readonly publisher: Pick<AsyncJetStreamPublisher, "publish">
}>()("bramble/nats/NatsClient") {
  /** Connect (retrying until the server is up) and drain the connection when the scope closes. */
  static readonly make = (options: NatsClientOptions): Effect.Effect<NatsClient["Service"], NatsError, import("effect").Scope.Scope> =>
    Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const nc = await connect({
            servers: typeof options.servers === "string" ? options.servers : [...options.servers],
            name: options.name,
            ...authOptions(options),
            // A node outlives any server restart: reconnect forever, and wait for a server
            // that is still starting instead of failing the first attempt.
            maxReconnectAttempts: -1,
            reconnectTimeWait: 250,
            waitOnFirstConnect: true,
            timeout: 20_000,
            // nats.js otherwise builds an Error (and its stack trace) for every request and
            // JetStream publish up front, in case it times out: measurable CPU at ingest rates.
            // Our errors say what timed out themselves (natsError's context).
            noAsyncTraces: true,
            // A connection that stops answering is dropped and re-made within ~30 s (default:
            // 4 minutes). Besides dead servers this rescues a connection whose reader nats.js
            // abandoned on a message it could not parse (see cluster/src/partition/Quarantine.ts).
            pingInterval: 10_000,
            maxPingOut: 2
          })
          const timeout = options.apiTimeoutMs ?? 10_000
          // No JetStream round trip here (`checkAPI: false`): a connection is made before the
          // cluster has a JetStream leader (nodes boot together), and a node must not fail
          // for that. Whoever needs JetStream waits for it (cluster/src/node/Formation.ts).
          const jsm = await jetstreamManager(nc, { timeout, checkAPI: false })
          const js = jetstream(nc, { timeout })
          return { nc, js, jsm, kvm: new Kvm(js), publisher: new AsyncJetStreamPublisher(nc, timeout) }
        },
        catch: natsError("Connect", `cannot connect to NATS at ${String(options.servers)}`)
      }),
      ({ nc, publisher }) =>
        Effect.promise(() => {
          ;(publisher as AsyncJetStreamPublisher).close()
          // A stalled connection never finishes draining: give it a few seconds, then close.
          let timer: NodeJS.Timeout | undefined
          const gaveUp = new Promise<void>((resolve) => {
            timer = setTimeout(resolve, DRAIN_TIMEOUT_MS)
          })
          return Promise.race([nc.drain(), gaveUp])
            .catch(() => undefined)
            .then(() => nc.isClosed() ? undefined : nc.close())
            .catch(() => undefined)
            .finally(() => clearTimeout(timer))
        }).pipe(Effect.ignore)
    )

  static readonly layer = (options: NatsClientOptions): Layer.Layer<NatsClient, NatsError> =>
    Layer.effect(NatsClient, NatsClient.make(options))
}
