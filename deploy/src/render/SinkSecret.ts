/**
 * Where a node gets its database secret from, as the cluster file says (`sink.tokenEnv` /
 * `tokenFile` for InfluxDB 2.x, `passwordEnv` / `passwordFile` for 1.x). The env file, the
 * compose file and the READMEs all describe the same thing, so they ask here.
 */
import type { Sink } from "@bramble/config"

/** The secret of a sink and where the node reads it. */
export type SinkSecret =
  | { readonly what: "token" | "password"; readonly from: "env"; readonly name: string }
  | { readonly what: "token" | "password"; readonly from: "file"; readonly file: string }
  | { readonly what: "token" | "password"; readonly from: "none" }

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** The variable Grafana and the compose file use when the cluster file names none. */
export const defaultSecretEnv = (sink: Sink): string => (sink.kind === "influx-v2" ? "INFLUX_TOKEN" : "INFLUX_PASSWORD")

/** How `sink`'s secret reaches the node. Throws when the named variable is not a valid name. */
export const sinkSecret = (sink: Sink): SinkSecret => {
  const what = sink.kind === "influx-v2" ? "token" : "password"
  const env = sink.kind === "influx-v2" ? sink.tokenEnv : sink.passwordEnv
  const file = sink.kind === "influx-v2" ? sink.tokenFile : sink.passwordFile
  if (env !== undefined) {
    if (!ENV_NAME.test(env)) {
      throw new RangeError(`sink.${what}Env must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*), got "${env}"`)
    }
    return { what, from: "env", name: env }
  }
  if (file !== undefined) return { what, from: "file", file }
  return { what, from: "none" }
}

/** The variable that holds the secret in the compose file's `.env`. */
export const composeSecretEnv = (sink: Sink): string => {
  const secret = sinkSecret(sink)
  return secret.from === "env" ? secret.name : defaultSecretEnv(sink)
}
