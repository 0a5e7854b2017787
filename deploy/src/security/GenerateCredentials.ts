/**
 * `bramble deploy creds`: every credential a secured cluster file needs, in one directory —
 * a password per node, per external device, for the admin and for the dashboard, their
 * bcrypt hashes for the servers, and (for TLS) a CA with a certificate per node.
 *
 * Running it again is safe: what exists is kept (a device that already has its password
 * keeps it), what the cluster file added is created, and `rotate` replaces everything. Files
 * are 0600 in 0700 directories; no secret is ever printed or returned.
 */
import type { ClusterConfig } from "@bramble/config"
import { execFileSync } from "node:child_process"
import { relative } from "node:path"
import { Effect, Redacted } from "effect"
import { type KeyType, createCertificateAuthority, createNodeCertificate, nodeAltNames } from "./Certificates.js"
import { credentialPaths, tlsEnabled } from "./CredentialLayout.js"
import { passwordFileOf, readPassword, readPasswordHashes, renderPasswordHashes } from "./Credentials.js"
import { fileExists, privateDir, writeSecretFile } from "./internal/secretFile.js"
import { bcryptHash, bcryptMatches, DEFAULT_BCRYPT_COST, generatePassword } from "./PasswordHash.js"
import { clusterRoles, userNameOf } from "./Roles.js"
import type { SecurityError } from "./SecurityError.js"

export interface GenerateCredentialsOptions {
  readonly config: ClusterConfig
  /** The credentials directory (created 0700). */
  readonly out: string
  /** bcrypt cost; default 10. */
  readonly cost?: number
  /** Make the CA and node certificates even if the cluster file does not turn TLS on. */
  readonly tls?: boolean
  /** Key type of new keys; default `ec` (P-256). */
  readonly keyType?: KeyType
  /** Replace every password, the CA and every certificate. */
  readonly rotate?: boolean
}

/** What a run did, by file (relative to the directory) — never a secret. */
export interface CredentialsReport {
  readonly dir: string
  readonly created: ReadonlyArray<string>
  readonly kept: ReadonlyArray<string>
  /** Users whose password file is not here (handed out and deleted): their hash is kept. */
  readonly hashOnly: ReadonlyArray<string>
  /** Users the cluster file no longer names, dropped from the hashes. */
  readonly dropped: ReadonlyArray<string>
}

const sanOf = (certFile: string): string => {
  try {
    return execFileSync("openssl", ["x509", "-in", certFile, "-noout", "-ext", "subjectAltName"], { stdio: ["ignore", "pipe", "ignore"] }).toString()
  } catch {
    return ""
  }
}

// openssl prints `IP Address:10.0.0.1, DNS:pi-1`; the config line says `IP:10.0.0.1`.
const certificateCovers = (certFile: string, altNames: ReadonlyArray<string>): boolean => {
  const san = sanOf(certFile).replace(/IP Address:/g, "IP:")
  return altNames.every((name) => san.includes(name.replace(/^IP:::1$/, "IP:0:0:0:0:0:0:0:1")))
}

// A host that is not a valid name gets a new certificate, whose creation says what is wrong.
const covers = (certFile: string, node: string, host: string): boolean => {
  try {
    return certificateCovers(certFile, nodeAltNames(node, host))
  } catch {
    return false
  }
}

/** Generates (or completes) the credentials of `config` in `out`. */
export const generateCredentials = Effect.fn("GenerateCredentials.generateCredentials")(function*(options: GenerateCredentialsOptions): Effect.fn.Return<CredentialsReport, SecurityError> {
  const { config, out } = options
  const rotate = options.rotate === true
  const cost = options.cost ?? DEFAULT_BCRYPT_COST
  const paths = credentialPaths(out)
  const created: Array<string> = []
  const kept: Array<string> = []
  const hashOnly: Array<string> = []
  const rel = (path: string) => relative(out, path)

  yield* privateDir(out)
  const previous = fileExists(paths.users) ? yield* readPasswordHashes(out) : new Map<string, string>()
  const hashes = new Map<string, string>()

  for (const role of clusterRoles(config)) {
    const user = userNameOf(role)
    const file = passwordFileOf(out, role)
    const known = previous.get(user)
    if (!rotate && fileExists(file)) {
      const password = yield* readPassword(file, `the password of ${user}`)
      // The file wins: a hash that does not match it (an edited file) is made again.
      hashes.set(user, known !== undefined && (yield* bcryptMatches(password, known)) ? known : yield* bcryptHash(password, cost))
      kept.push(rel(file))
    } else if (!rotate && known !== undefined) {
      hashes.set(user, known)
      hashOnly.push(user)
    } else {
      const password = generatePassword()
      yield* writeSecretFile(file, `${Redacted.value(password)}\n`)
      hashes.set(user, yield* bcryptHash(password, cost))
      created.push(rel(file))
    }
  }
  yield* writeSecretFile(paths.users, renderPasswordHashes(hashes))
  const dropped = [...previous.keys()].filter((user) => !hashes.has(user)).sort()

  if (options.tls === true || tlsEnabled(config)) {
    yield* privateDir(paths.tlsDir)
    const keyType = options.keyType ?? "ec"
    const newCa = rotate || !fileExists(paths.caCert) || !fileExists(paths.caKey)
    if (newCa) {
      yield* createCertificateAuthority({ cluster: config.cluster.name, certFile: paths.caCert, keyFile: paths.caKey, keyType })
      created.push(rel(paths.caCert), rel(paths.caKey))
    } else {
      kept.push(rel(paths.caCert), rel(paths.caKey))
    }
    for (const node of config.nodes) {
      if (node.nats.url !== undefined) continue // uses a server Bramble does not run
      const certFile = paths.nodeCert(node.name)
      const keyFile = paths.nodeKey(node.name)
      const current = !newCa && fileExists(certFile) && fileExists(keyFile) && covers(certFile, node.name, node.host)
      if (current) {
        kept.push(rel(certFile), rel(keyFile))
      } else {
        yield* createNodeCertificate({ node: node.name, host: node.host, caCertFile: paths.caCert, caKeyFile: paths.caKey, certFile, keyFile, keyType })
        created.push(rel(certFile), rel(keyFile))
      }
    }
  }
  return { dir: out, created, kept, hashOnly, dropped }
})
