/**
 * The cluster's own certificate authority and each node's certificate, for TLS on client,
 * MQTT and route connections. A bramble lives on a LAN with addresses no public CA will
 * certify, so it has a self-signed CA: devices and clients trust `ca.crt`, and every server
 * presents a certificate it signed. Node certificates are good for both ends of a TLS
 * connection (serverAuth and clientAuth), because routes authenticate each other by
 * certificate (mutual TLS).
 *
 * Keys are made with node:crypto and written 0600 by Bramble itself; `openssl` (Debian's
 * `openssl` package) only reads them to build and sign the certificates, so no key ever
 * passes through a command line or a world-readable file.
 */
import { generateKeyPair, randomBytes } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { isIP } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { Effect, type Scope } from "effect"
import { runTool } from "./internal/runTool.js"
import { writeSecretFile } from "./internal/secretFile.js"
import { SecurityError } from "./SecurityError.js"

/** ECDSA P-256 (small, fast, what current MQTT stacks such as ESP32's mbedTLS speak) or RSA 2048 (older devices). */
export type KeyType = "ec" | "rsa"

/** Days a CA certificate is valid (10 years). */
export const CA_DAYS = 3650
/** Days a node certificate is valid (5 years). */
export const NODE_CERT_DAYS = 1825

const generate = promisify(generateKeyPair)

const newPrivateKey = (keyType: KeyType): Effect.Effect<string, SecurityError> =>
  Effect.tryPromise({
    try: async () => {
      const { privateKey } = keyType === "ec"
        ? await generate("ec", { namedCurve: "prime256v1" })
        : await generate("rsa", { modulusLength: 2048 })
      return privateKey.export({ type: "pkcs8", format: "pem" }).toString()
    },
    catch: (error) => new SecurityError({ reason: "ToolFailed", message: `cannot generate a ${keyType} key: ${(error as Error).message}` })
  })

/** A scratch directory for CSRs and extension files (nothing secret), removed afterwards. */
const scratch = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "bramble-certs-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const serial = (): string => {
  const bytes = randomBytes(16)
  bytes[0] = bytes[0]! & 0x7f // positive
  return `0x${bytes.toString("hex")}`
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/**
 * The subject alternative names of a node's certificate: its address as the cluster file
 * gives it, its name, and loopback (the node connects to its own server there).
 */
export const nodeAltNames = (node: string, host: string): ReadonlyArray<string> => {
  const names = new Set<string>()
  const add = (value: string) => {
    if (value === "0.0.0.0" || value === "::") return
    if (isIP(value) !== 0) names.add(`IP:${value}`)
    else if (DNS_NAME.test(value)) names.add(`DNS:${value}`)
    else throw new RangeError(`"${value}" is neither an IP address nor a host name`)
  }
  add(host)
  if (DNS_NAME.test(node)) add(node)
  add("localhost")
  add("127.0.0.1")
  add("::1")
  return [...names]
}

/** Where a new key (0600) and its certificate are written, the key's type, and how long the certificate is valid. */
export interface KeyAndCertificateFiles {
  readonly certFile: string
  readonly keyFile: string
  readonly keyType?: KeyType
  readonly days?: number
}

/** Creates a self-signed CA: `keyFile` (0600) and `certFile`, named after the cluster. */
export const createCertificateAuthority = Effect.fn("Certificates.createCertificateAuthority")(function*(options: KeyAndCertificateFiles & {
  readonly cluster: string
}): Effect.fn.Return<void, SecurityError, Scope.Scope> {
  if (!NAME.test(options.cluster)) {
    return yield* Effect.fail(new SecurityError({ reason: "Malformed", message: `cluster name "${options.cluster}" cannot name a CA` }))
  }
  yield* writeSecretFile(options.keyFile, yield* newPrivateKey(options.keyType ?? "ec"))
  const certificate = yield* runTool("openssl", [
    "req", "-x509", "-new", "-sha256",
    "-key", options.keyFile,
    "-days", String(options.days ?? CA_DAYS),
    "-subj", `/O=Bramble/CN=Bramble CA ${options.cluster}`,
    "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    "-addext", "subjectKeyIdentifier=hash"
  ], { what: "creating the cluster's CA certificate" })
  yield* writeSecretFile(options.certFile, certificate)
}, Effect.scoped)

/**
 * Creates `node`'s key (0600) and a certificate signed by the CA, for `host` (and the node's
 * name, localhost and loopback), usable as TLS server and client.
 */
export const createNodeCertificate = Effect.fn("Certificates.createNodeCertificate")(function*(options: KeyAndCertificateFiles & {
  readonly node: string
  readonly host: string
  readonly caCertFile: string
  readonly caKeyFile: string
}): Effect.fn.Return<void, SecurityError, Scope.Scope> {
  if (!NAME.test(options.node)) {
    return yield* Effect.fail(new SecurityError({ reason: "Malformed", message: `node name "${options.node}" cannot name a certificate` }))
  }
  const altNames = yield* Effect.try({
    try: () => nodeAltNames(options.node, options.host),
    catch: (error) => new SecurityError({ reason: "Malformed", message: `node ${options.node}: ${(error as Error).message}` })
  })
  const keyType = options.keyType ?? "ec"
  yield* writeSecretFile(options.keyFile, yield* newPrivateKey(keyType))
  const dir = yield* scratch
  const csr = join(dir, "node.csr")
  const extensions = join(dir, "node.ext")
  writeFileSync(extensions, [
    "[v3]",
    "basicConstraints=critical,CA:FALSE",
    `keyUsage=critical,digitalSignature${keyType === "rsa" ? ",keyEncipherment" : ""}`,
    "extendedKeyUsage=serverAuth,clientAuth",
    `subjectAltName=${altNames.join(",")}`,
    "subjectKeyIdentifier=hash",
    "authorityKeyIdentifier=keyid",
    ""
  ].join("\n"))
  yield* runTool("openssl", ["req", "-new", "-sha256", "-key", options.keyFile, "-subj", `/O=Bramble/CN=${options.node}`, "-out", csr], {
    what: `creating ${options.node}'s certificate request`
  })
  const certificate = yield* runTool("openssl", [
    "x509", "-req", "-sha256",
    "-in", csr,
    "-CA", options.caCertFile,
    "-CAkey", options.caKeyFile,
    "-set_serial", serial(),
    "-days", String(options.days ?? NODE_CERT_DAYS),
    "-extfile", extensions,
    "-extensions", "v3"
  ], { what: `signing ${options.node}'s certificate` })
  yield* writeSecretFile(options.certFile, certificate)
}, Effect.scoped)
