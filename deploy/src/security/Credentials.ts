/**
 * Reading the credentials a secured cluster file relies on: the password hashes every
 * nats-server checks, and the password a node (or the admin, or the dashboard) connects
 * with. Secrets are returned `Redacted`, so they cannot end up in a log line or an error.
 */
import type { ClusterConfig } from "@bramble/config"
import { Effect, Redacted } from "effect"
import type { NatsUserSpec } from "../nats/NatsServerConf.js"
import { caFileFor, credentialPaths, type TlsFiles, tlsFilesFor } from "./CredentialLayout.js"
import { fileExists, readCredentialFile } from "./internal/secretFile.js"
import { isBcryptHash } from "./PasswordHash.js"
import { inboxPrefixFor, natsUsersFor, type Role, userNameOf } from "./Roles.js"
import { SecurityError } from "./SecurityError.js"

/** What `nats-users.json` holds: user name to bcrypt hash. */
export interface PasswordHashesFile {
  readonly version: 1
  readonly users: Readonly<Record<string, string>>
}

/** Parses the text of `nats-users.json`; every value must be a bcrypt hash. */
export const parsePasswordHashes = Effect.fn("Credentials.parsePasswordHashes")(function*(text: string, file: string): Effect.fn.Return<ReadonlyMap<string, string>, SecurityError> {
  const malformed = (why: string) => new SecurityError({ reason: "Malformed", message: `${file}: ${why}` })
  const parsed = yield* Effect.try({ try: () => JSON.parse(text) as unknown, catch: () => malformed("not JSON") })
  const users = (parsed as Partial<PasswordHashesFile> | null)?.users
  if ((parsed as Partial<PasswordHashesFile> | null)?.version !== 1 || typeof users !== "object" || users === null) {
    return yield* Effect.fail(malformed("expected {\"version\": 1, \"users\": {…}}"))
  }
  const hashes = new Map<string, string>()
  for (const [user, hash] of Object.entries(users)) {
    if (typeof hash !== "string" || !isBcryptHash(hash)) return yield* Effect.fail(malformed(`the entry of "${user}" is not a bcrypt hash`))
    hashes.set(user, hash)
  }
  return hashes
})

/** The text of `nats-users.json` for `hashes` (users sorted, so an unchanged set is byte-identical). */
export const renderPasswordHashes = (hashes: ReadonlyMap<string, string>): string => {
  const users = Object.fromEntries([...hashes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  return `${JSON.stringify({ version: 1, users } satisfies PasswordHashesFile, null, 2)}\n`
}

/** The password hashes in `<dir>/nats-users.json`. */
export const readPasswordHashes = (dir: string): Effect.Effect<ReadonlyMap<string, string>, SecurityError> => {
  const file = credentialPaths(dir).users
  return Effect.flatMap(readCredentialFile(file, "the password hashes"), (text) => parsePasswordHashes(text, file))
}

/** What a node's nats-server needs on a secured cluster: every user, and its TLS files. */
export interface ServerSecurity {
  readonly users: ReadonlyArray<NatsUserSpec>
  readonly tls?: TlsFiles
}

/**
 * The server security of `node` from already-read hashes. Throws a `RangeError` when the
 * cluster file has no security section or a user has no hash.
 */
export const serverSecurityFor = (config: ClusterConfig, node: string, hashes: ReadonlyMap<string, string>): ServerSecurity => {
  const security = config.security
  if (security === undefined) throw new RangeError("the cluster file has no security section")
  const tls = tlsFilesFor(security, node)
  return { users: natsUsersFor(config, hashes), ...(tls === undefined ? {} : { tls }) }
}

/** Reads what `node`'s nats-server needs; undefined when the cluster file has no security section. */
export const loadServerSecurity = Effect.fn("Credentials.loadServerSecurity")(function*(config: ClusterConfig, node: string): Effect.fn.Return<ServerSecurity | undefined, SecurityError> {
  const security = config.security
  if (security === undefined) return undefined
  const hashes = yield* readPasswordHashes(security.credentials)
  const result = yield* Effect.try({
    try: () => serverSecurityFor(config, node, hashes),
    catch: (error) => new SecurityError({ reason: "Missing", message: `${credentialPaths(security.credentials).users}: ${(error as Error).message}` })
  })
  if (result.tls !== undefined) {
    for (const [what, file] of [["certificate", result.tls.certFile], ["key", result.tls.keyFile], ["CA certificate", result.tls.caFile]] as const) {
      if (!fileExists(file)) {
        return yield* Effect.fail(new SecurityError({ reason: "Missing", message: `TLS is on but ${node}'s ${what} ${file} does not exist (run \`bramble deploy creds\` and install it on this Pi)` }))
      }
    }
  }
  return result
})

/** How a client connects as a role: NATS user, password, CA to verify servers with, inbox prefix. */
export interface ClientCredentials {
  readonly user: string
  readonly pass: Redacted.Redacted<string>
  readonly tls?: { readonly caFile: string }
  readonly inboxPrefix?: string
}

/** The password file of `role` in the credentials directory `dir`. */
export const passwordFileOf = (dir: string, role: Role): string => {
  const paths = credentialPaths(dir)
  switch (role.kind) {
    case "node":
      return paths.nodePassword(role.node)
    case "admin":
      return paths.adminPassword
    case "dashboard":
      return paths.dashboardPassword
    case "device":
      return paths.devicePassword(role.device)
  }
}

/** Reads a password file: its text without surrounding white space, which must not be empty. */
export const readPassword = (file: string, what: string): Effect.Effect<Redacted.Redacted<string>, SecurityError> =>
  Effect.flatMap(readCredentialFile(file, what), (text) => {
    const password = text.trim()
    return password === ""
      ? Effect.fail(new SecurityError({ reason: "Malformed", message: `${what}: ${file} is empty` }))
      : Effect.succeed(Redacted.make(password))
  })

/**
 * The credentials `role` connects with on a secured cluster (password from its file under
 * `security.credentials`, or `passwordFile`); undefined when the cluster file has no security section.
 */
export const loadClientCredentials = Effect.fn("Credentials.loadClientCredentials")(function*(
  config: ClusterConfig,
  role: Role,
  options: { readonly passwordFile?: string } = {}
): Effect.fn.Return<ClientCredentials | undefined, SecurityError> {
  const security = config.security
  if (security === undefined) return undefined
  const user = userNameOf(role)
  const pass = yield* readPassword(options.passwordFile ?? passwordFileOf(security.credentials, role), `the password of ${user}`)
  const caFile = caFileFor(security)
  const inboxPrefix = inboxPrefixFor(role)
  return {
    user,
    pass,
    ...(caFile === undefined ? {} : { tls: { caFile } }),
    ...(inboxPrefix === undefined ? {} : { inboxPrefix })
  }
})

/** The credentials `node` connects to NATS with; undefined without a security section. */
export const loadNodeCredentials = (config: ClusterConfig, node: string): Effect.Effect<ClientCredentials | undefined, SecurityError> =>
  loadClientCredentials(config, { kind: "node", node })
