/**
 * The sink the storage actor writes through (docs/design.md, decision 7): InfluxDB line protocol,
 * either over the v2 write API with `@influxdata/influxdb-client` or over InfluxDB 1.x's
 * `/write`. Both layers give the same service and the same errors, so the actor does not
 * care which database is behind it.
 */
import { Context, type Duration, Effect, Layer, type Redacted, type Scope } from "effect"
import type { SinkPoint } from "./SinkPoint.js"
import type { SinkConfigError, SinkWriteError } from "./SinkWriteError.js"
import { makeV1 } from "./internal/v1.js"
import { makeV2 } from "./internal/v2.js"

/** Options of the v2 write API sink (InfluxDB 2.x/3.x, 1.8+, victoria-metrics). */
export interface InfluxV2Options {
  /** Base URL, e.g. `http://127.0.0.1:8086` (no `/api/v2`, no credentials). */
  readonly url: string
  /** API token, sent as `Authorization: Token …`; omit for servers without auth. */
  readonly token?: Redacted.Redacted<string> | undefined
  readonly org: string
  readonly bucket: string
  /** Lines per request; default 5,000. */
  readonly batchSize?: number | undefined
  /** Gzip request bodies over 1 kB (`Content-Encoding: gzip`); default false. */
  readonly gzip?: boolean | undefined
  /** Time allowed for each request (one batch, or a ping); default 10 seconds. */
  readonly timeout?: Duration.Input | undefined
}

/** Options of the InfluxDB 1.x `/write` sink. */
export interface InfluxV1Options {
  /** Base URL, e.g. `http://127.0.0.1:8086` (no credentials). */
  readonly url: string
  readonly database: string
  /** HTTP basic auth user; required when `password` is set. */
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** Retention policy; the database's default when omitted. */
  readonly retentionPolicy?: string | undefined
  /** Lines per request; default 5,000. */
  readonly batchSize?: number | undefined
  /** Gzip request bodies over 1 kB (`Content-Encoding: gzip`, which influxd 1.x accepts); default false. */
  readonly gzip?: boolean | undefined
  /** Time allowed for each request (one batch, or a ping); default 10 seconds. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Writes points to an InfluxDB-compatible database.
 *
 * `write` returns only when the server has acknowledged every point, or fails with a
 * `SinkWriteError`; it never drops silently, never retries and never buffers. Points that
 * line protocol cannot carry exactly are refused (reason `Rejected`) before anything is
 * sent. Batches of `batchSize` lines are sent one after another; on a failure, the earlier
 * batches are durable (`acknowledged` says how many points) and a retry may resend them:
 * writing the same measurement, tags and timestamp again overwrites.
 */
export class InfluxSink extends Context.Service<InfluxSink, {
  /** Write all points durably, in batches, or fail. An empty array is a no-op. */
  readonly write: (points: ReadonlyArray<SinkPoint>) => Effect.Effect<void, SinkWriteError>
  /** Whether the database answers at all (`GET /ping`). */
  readonly ping: Effect.Effect<void, SinkWriteError>
  /** e.g. `influx-v2 http://127.0.0.1:8428 org=bramble bucket=bramble`; never secrets. */
  readonly describe: string
}>()("bramble/influx/InfluxSink") {
  /** Build a v2 sink; the layer's scope owns its HTTP agent. */
  static readonly makeV2: (options: InfluxV2Options) => Effect.Effect<
    InfluxSink["Service"],
    SinkConfigError,
    Scope.Scope
  > = makeV2

  /** Build a v1 (`/write`) sink. */
  static readonly makeV1: (options: InfluxV1Options) => Effect.Effect<InfluxSink["Service"], SinkConfigError> = makeV1

  /** The v2 write API through `@influxdata/influxdb-client`. */
  static readonly layerV2 = (options: InfluxV2Options): Layer.Layer<InfluxSink, SinkConfigError> =>
    Layer.effect(InfluxSink, Effect.map(makeV2(options), InfluxSink.of))

  /** InfluxDB 1.x's `/write`. */
  static readonly layerV1 = (options: InfluxV1Options): Layer.Layer<InfluxSink, SinkConfigError> =>
    Layer.effect(InfluxSink, Effect.map(makeV1(options), InfluxSink.of))
}
