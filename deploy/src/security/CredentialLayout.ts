/**
 * Where `bramble deploy creds` puts each credential, and the NATS user name of each role.
 * One layout, read by the node at start, by `deploy render` and by the READMEs, so they
 * always agree on which file a Pi needs.
 *
 * ```
 * <credentials>/
 *   nats-users.json          bcrypt hash of every user's password (what servers check)
 *   nodes/<node>.password    each node's password (install on that Pi only)
 *   devices/<id>.password    each device's password (give to that device only)
 *   admin.password           for `bramble status` & co.
 *   dashboard.password       read-only
 *   tls/ca.crt               the cluster's CA (devices verify the servers with it)
 *   tls/ca.key               the CA's key: keep it off the Pis
 *   tls/<node>.crt, .key     each node's certificate and key (install on that Pi only)
 * ```
 */
import type { ClusterConfig, Security } from "@bramble/config"
import { join } from "node:path"

/** The file of password hashes, relative to the credentials directory. */
export const USERS_FILE = "nats-users.json"

/** Paths of every credential under `dir`. */
export const credentialPaths = (dir: string) => ({
  dir,
  users: join(dir, USERS_FILE),
  nodePassword: (node: string) => join(dir, "nodes", `${node}.password`),
  devicePassword: (device: string) => join(dir, "devices", `${device}.password`),
  adminPassword: join(dir, "admin.password"),
  dashboardPassword: join(dir, "dashboard.password"),
  tlsDir: join(dir, "tls"),
  caCert: join(dir, "tls", "ca.crt"),
  caKey: join(dir, "tls", "ca.key"),
  nodeCert: (node: string) => join(dir, "tls", `${node}.crt`),
  nodeKey: (node: string) => join(dir, "tls", `${node}.key`)
})

/**
 * NATS (and MQTT) user names. Roles other than devices carry a prefix a device id cannot
 * contain (`:`), so no device can be named like a node or take the admin's name.
 */
export const UserNames = {
  node: (node: string): string => `node:${node}`,
  device: (device: string): string => `device:${device}`,
  admin: "admin",
  dashboard: "dashboard"
} as const

/** The TLS files a node's server and its clients use, with the cluster file's overrides. */
export interface TlsFiles {
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
}

/** The CA certificate clients verify servers with, or undefined when TLS is off. */
export const caFileFor = (security: Security): string | undefined =>
  security.tls === undefined || !security.tls.enabled ? undefined : security.tls.caFile ?? credentialPaths(security.credentials).caCert

/** TLS files of `node`, or undefined when TLS is off. */
export const tlsFilesFor = (security: Security, node: string): TlsFiles | undefined => {
  const tls = security.tls
  if (tls === undefined || !tls.enabled) return undefined
  const paths = credentialPaths(security.credentials)
  return {
    caFile: caFileFor(security)!,
    certFile: tls.certFile ?? paths.nodeCert(node),
    keyFile: tls.keyFile ?? paths.nodeKey(node)
  }
}

/** True when the cluster file turns TLS on. */
export const tlsEnabled = (config: ClusterConfig): boolean => config.security?.tls?.enabled === true
