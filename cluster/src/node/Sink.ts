/**
 * The node's database sink, from the cluster file. Secrets come from the environment or a
 * file named in the cluster file, never from the file itself, and are kept `Redacted` so
 * they cannot end up in a log line.
 */
import type { Sink } from "@bramble/config"
import { InfluxSink } from "@bramble/influx"
import { Data, Effect, Redacted, type Scope } from "effect"
import { readFileSync } from "node:fs"

export class SecretUnavailable extends Data.TaggedError("SecretUnavailable")<{ readonly message: string }> {}

const secret = (what: string, env: string | undefined, file: string | undefined) =>
  Effect.try({
    try: () => {
      if (env !== undefined) {
        const value = process.env[env]
        if (value === undefined || value === "") throw new Error(`environment variable ${env} (named by sink.${what}Env) is not set`)
        return Redacted.make(value)
      }
      if (file !== undefined) return Redacted.make(readFileSync(file, "utf8").trim())
      return undefined
    },
    catch: (error) => new SecretUnavailable({ message: `cannot read the database ${what}: ${(error as Error).message}` })
  })

/** Compressing costs CPU on a Pi and saves nothing on loopback; over a network it pays. */
const gzipFor = (sink: Sink): boolean => {
  if (sink.gzip !== undefined) return sink.gzip
  const host = new URL(sink.url).hostname
  return !(host === "localhost" || host === "::1" || host === "[::1]" || host.startsWith("127."))
}

/** Build the sink the cluster file describes. */
export const makeSink = Effect.fn("Sink.makeSink")(function*(sink: Sink): Effect.fn.Return<InfluxSink["Service"], unknown, Scope.Scope> {
  if (sink.kind === "influx-v2") {
    const token = yield* secret("token", sink.tokenEnv, sink.tokenFile)
    return yield* InfluxSink.makeV2({ url: sink.url, org: sink.org, bucket: sink.bucket, batchSize: sink.batchSize, gzip: gzipFor(sink), token })
  }
  const password = yield* secret("password", sink.passwordEnv, sink.passwordFile)
  return yield* InfluxSink.makeV1({ url: sink.url, database: sink.database, batchSize: sink.batchSize, gzip: gzipFor(sink), username: sink.username, password })
})
