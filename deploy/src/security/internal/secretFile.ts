/**
 * Writing and reading credential files. A secret is written to a new file created with mode
 * 0600 and renamed into place, so it is never readable by others, not even for a moment, and
 * a crash never leaves half a file. Directories are created 0700.
 */
import { randomBytes } from "node:crypto"
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { Effect } from "effect"
import { SecurityError } from "../SecurityError.js"

/** Creates `dir` (and parents) with mode 0700; an existing directory is tightened to 0700. */
export const privateDir = (dir: string): Effect.Effect<void, SecurityError> =>
  Effect.try({
    try: () => {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      chmodSync(dir, 0o700)
    },
    catch: (error) => new SecurityError({ reason: "Unreadable", message: `cannot create ${dir}: ${(error as Error).message}` })
  })

/** Writes `content` to `path` with mode 0600, atomically. */
export const writeSecretFile = (path: string, content: string): Effect.Effect<void, SecurityError> =>
  Effect.try({
    try: () => {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
      const temp = `${path}.${randomBytes(6).toString("hex")}.tmp`
      try {
        writeFileSync(temp, content, { mode: 0o600, flag: "wx" })
        renameSync(temp, path)
      } catch (error) {
        rmSync(temp, { force: true })
        throw error
      }
    },
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
