/**
 * Passwords and their bcrypt hashes. nats-server checks a password against a bcrypt hash in
 * its configuration, so servers (and the rendered files) hold only hashes; the passwords
 * themselves go to the node, device or person that uses them.
 *
 * The hash is computed by the system's crypt(3) — libxcrypt on Debian 11+ and Raspberry Pi
 * OS, which implements `$2b$` — reached through perl (perl-base is an essential Debian
 * package), with the password on stdin. That keeps Bramble free of a bcrypt dependency; a
 * pure-JavaScript bcrypt (e.g. `bcryptjs`) could replace `bcryptHash` without changing
 * anything else.
 *
 * Generated passwords carry 192 random bits, far beyond any offline guessing, so the cost
 * only has to make a leaked hash file useless — and every client connection pays it on the
 * server, which on a Pi Zero is slow. The default is 10.
 */
import { randomBytes } from "node:crypto"
import { Effect, Redacted } from "effect"
import { runTool } from "./internal/runTool.js"
import { SecurityError } from "./SecurityError.js"

/** The bcrypt cost (log2 of the rounds) `bramble deploy creds` uses. */
export const DEFAULT_BCRYPT_COST = 10

const BCRYPT = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/

/** True for a well-formed bcrypt hash (`$2a$`, `$2b$` or `$2y$`). */
export const isBcryptHash = (value: string): boolean => BCRYPT.test(value)

/** A new random password: 24 random bytes as 32 URL-safe characters (no quoting needed anywhere). */
export const generatePassword = (): Redacted.Redacted<string> => Redacted.make(randomBytes(24).toString("base64url"))

// bcrypt's own base64 alphabet, used for the salt.
const ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

const bcryptBase64 = (bytes: Uint8Array): string => {
  let out = ""
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!
    const b1 = bytes[i + 1]
    const b2 = bytes[i + 2]
    out += ALPHABET[b0 >> 2]
    out += ALPHABET[((b0 & 0x03) << 4) | ((b1 ?? 0) >> 4)]
    if (b1 === undefined) break
    out += ALPHABET[((b1 & 0x0f) << 2) | ((b2 ?? 0) >> 6)]
    if (b2 === undefined) break
    out += ALPHABET[b2 & 0x3f]
  }
  return out
}

// Reads the password from stdin (all of it, no newline added) and hashes it with the salt
// setting given as the argument; refuses a crypt(3) without bcrypt instead of falling back
// to a weaker scheme.
const PERL_CRYPT = [
  "my $pw = do { local $/; <STDIN> };",
  "my $h = crypt($pw, $ARGV[0]);",
  "if (!defined $h || substr($h, 0, 4) ne '$2b$') { print STDERR \"this system's crypt(3) has no bcrypt (libxcrypt is needed)\\n\"; exit 3 }",
  "print $h;"
].join(" ")

/** The bcrypt hash of `password` with a random salt, at `cost` (4–31). */
export const bcryptHash = Effect.fn("PasswordHash.bcryptHash")(function*(
  password: Redacted.Redacted<string>,
  cost: number = DEFAULT_BCRYPT_COST
): Effect.fn.Return<string, SecurityError> {
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) {
    return yield* Effect.fail(new SecurityError({ reason: "Malformed", message: `a bcrypt cost is an integer from 4 to 31, got ${cost}` }))
  }
  const value = Redacted.value(password)
  if (value.length === 0 || value.includes("\0") || Buffer.byteLength(value) > 72) {
    // bcrypt ignores everything after 72 bytes, and crypt(3) stops at a NUL.
    return yield* Effect.fail(new SecurityError({ reason: "Malformed", message: "a password must be 1-72 bytes without NUL characters" }))
  }
  const setting = `$2b$${String(cost).padStart(2, "0")}$${bcryptBase64(randomBytes(16))}`
  const hash = yield* runTool("perl", ["-e", PERL_CRYPT, setting], { input: value, what: "hashing a password with bcrypt" })
  if (!isBcryptHash(hash)) {
    return yield* Effect.fail(new SecurityError({ reason: "ToolFailed", message: "crypt(3) returned something that is not a bcrypt hash" }))
  }
  return hash
})

/** True when `password` matches `hash` (crypt(3) with the hash as its setting gives the hash back). */
export const bcryptMatches = (password: Redacted.Redacted<string>, hash: string): Effect.Effect<boolean, SecurityError> =>
  !isBcryptHash(hash)
    ? Effect.succeed(false)
    : Effect.map(
      runTool("perl", ["-e", "my $pw = do { local $/; <STDIN> }; my $h = crypt($pw, $ARGV[0]); print defined $h ? $h : '';", hash], {
        input: Redacted.value(password),
        what: "checking a password against its bcrypt hash"
      }),
      (computed) => computed === hash
    )
