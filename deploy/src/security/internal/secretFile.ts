/**
 * Writing and reading credential files (and other private ones: a rendered nats-server.conf
 * holds password hashes, an env file the database secret). A secret is written to a new file
 * created with mode 0600 and renamed into place, so it is never readable by others, not even
 * for a moment, and a crash never leaves half a file. Directories are created 0700.
 */
import { randomBytes } from "node:crypto"
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { Effect } from "effect"
import { SecurityError } from "../SecurityError.js"

/** Creates `dir` (and parents) with mode 0700, and tightens it to 0700 if it existed. Throws. */
export const privateDirSync = (dir: string): void => {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
}

/**
 * Writes `content` to `path` with `mode` (default 0600), atomically: a new file created with
 * that mode, renamed over the old one. So the text is never readable by others, not even for
 * a moment (chmod after writing would leave a window), and a crash never leaves half a file.
 * Missing parent directories are created 0700. Throws.
 */
export const writePrivateFileSync = (path: string, content: string, mode = 0o600): void => {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const temp = `${path}.${randomBytes(6).toString("hex")}.tmp`
  try {
    writeFileSync(temp, content, { mode, flag: "wx" })
    // The umask may have taken bits away (never added any): set exactly `mode`.
    chmodSync(temp, mode)
    renameSync(temp, path)
  } catch (error) {
    rmSync(temp, { force: true })
    throw error
  }
}

/** Creates `dir` (and parents) with mode 0700; an existing directory is tightened to 0700. */
export const privateDir = (dir: string): Effect.Effect<void, SecurityError> =>
  Effect.try({
    try: () => privateDirSync(dir),
    catch: (error) => new SecurityError({ reason: "Unreadable", message: `cannot create ${dir}: ${(error as Error).message}` })
  })

/** Writes `content` to `path` with mode 0600, atomically. */
export const writeSecretFile = (path: string, content: string): Effect.Effect<void, SecurityError> =>
  Effect.try({
    try: () => writePrivateFileSync(path, content),
    catch: (error) => new SecurityError({ reason: "Unreadable", message: `cannot write ${path}: ${(error as Error).message}` })
  })

/** True when `path` is an existing regular file. */
export const fileExists = (path: string): boolean => {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/** The text of `path`; `what` says what it is for in the error. */
export const readCredentialFile = (path: string, what: string): Effect.Effect<string, SecurityError> =>
  Effect.try({
    try: () => readFileSync(path, "utf8"),
    catch: (error) => {
      const code = (error as NodeJS.ErrnoException).code
      return new SecurityError({
        reason: code === "ENOENT" ? "Missing" : "Unreadable",
        message: code === "ENOENT"
          ? `${what}: ${path} does not exist (run \`bramble deploy creds\`, then install the file on this Pi)`
          : `${what}: cannot read ${path}: ${(error as Error).message}`
      })
    }
  })
