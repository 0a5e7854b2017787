/**
 * Who may use the write endpoint on a secured cluster. The credentials are the cluster's own
 * (`bramble deploy creds`: a user name and a password, checked against the bcrypt hashes of
 * `<credentials>/nats-users.json`, as nats-server checks them), sent the ways InfluxDB clients
 * send them:
 *
 * - InfluxDB 1.x: `?u=<user>&p=<password>`, or HTTP Basic (`Authorization: Basic …`);
 * - InfluxDB 2.x: `Authorization: Token <user>:<password>` (InfluxDB 1.8's compatibility form,
 *   which the 2.x client libraries, Telegraf's `outputs.influxdb_v2` and Node-RED send as is).
 *
 * What each user may write follows what it may publish over NATS or MQTT (deploy/src/security
 * Roles.ts): a node (`node:<name>`) any device's points; a device (`device:<id>`) only its own
 * (a batch naming another device is refused whole: 403, nothing stored); the admin and the
 * dashboard nothing. Missing or wrong credentials: 401.
 *
 * A password is checked with bcrypt once per user and password: a match is remembered (a
 * SHA-256 of the password, in memory), so a client writing every few seconds does not pay
 * bcrypt's cost each time; a mismatch is never remembered.
 */
import { createHash } from "node:crypto"
import type { IncomingMessage } from "node:http"

/** What a request may write. */
export type WriteAccess =
  | { readonly _tag: "Anyone" }
  | { readonly _tag: "Devices"; readonly user: string }
  | { readonly _tag: "Device"; readonly user: string; readonly device: string }
  | { readonly _tag: "Refused"; readonly status: 401 | 403 | 503; readonly message: string }

const NODE_PREFIX = "node:"
const DEVICE_PREFIX = "device:"

/** At most this many remembered matches (a handful of writers is the normal case). */
const REMEMBERED_LIMIT = 1_000

/** The user name and password a request carries, or why it carries none. */
export const credentialsOf = (request: IncomingMessage, url: URL): { user: string; password: string } | undefined => {
  const u = url.searchParams.get("u")
  const p = url.searchParams.get("p")
  if (u !== null && p !== null) return { user: u, password: p }
  const header = request.headers.authorization
  if (header === undefined) return undefined
  const space = header.indexOf(" ")
  const scheme = header.slice(0, space).toLowerCase()
  const value = header.slice(space + 1).trim()
  const text = scheme === "basic" ? Buffer.from(value, "base64").toString("utf8") : scheme === "token" ? value : undefined
  if (text === undefined) return undefined
  // User names hold a colon (`device:d1`); generated passwords never do (base64url).
  const colon = text.lastIndexOf(":")
  return colon <= 0 ? undefined : { user: text.slice(0, colon), password: text.slice(colon + 1) }
}

/**
 * The access check of a secured node: `hashes` are the users' bcrypt hashes, `matches` checks
 * a password against one (deploy's `bcryptMatches`).
 */
export const makeWriteAccess = (
  hashes: ReadonlyMap<string, string>,
  matches: (password: string, hash: string) => Promise<boolean>
) => {
  const remembered = new Set<string>()
  return async (request: IncomingMessage, url: URL): Promise<WriteAccess> => {
    const given = credentialsOf(request, url)
    if (given === undefined) {
      return { _tag: "Refused", status: 401, message: "this node is secured: send a user and password (?u=&p=, Basic auth, or Authorization: Token <user>:<password>) from `bramble deploy creds`" }
    }
    const { user, password } = given
    const hash = hashes.get(user)
    const key = `${user}\u0000${createHash("sha256").update(password).digest("hex")}`
    if (hash === undefined || !(remembered.has(key) || await matches(password, hash))) {
      return { _tag: "Refused", status: 401, message: `authorization failed: wrong user or password for ${JSON.stringify(user.slice(0, 80))}` }
    }
    if (!remembered.has(key)) {
      if (remembered.size >= REMEMBERED_LIMIT) remembered.clear()
      remembered.add(key)
    }
    if (user.startsWith(NODE_PREFIX)) return { _tag: "Devices", user }
    if (user.startsWith(DEVICE_PREFIX)) return { _tag: "Device", user, device: user.slice(DEVICE_PREFIX.length) }
    return { _tag: "Refused", status: 403, message: `user ${user} may not write readings (a node's or a device's credential may)` }
  }
}

/** The anonymous access of a node without a security section. */
export const openAccess = async (): Promise<WriteAccess> => ({ _tag: "Anyone" })
