/**
 * What can go wrong with credentials: a file the cluster file relies on is missing or
 * unreadable, a file holds something it should not, or a tool (openssl, crypt) failed. The
 * messages name files and users, never a secret.
 */
import { Data } from "effect"

/**
 * - `Missing`: a credential the cluster file needs is not there (run `bramble deploy creds`).
 * - `Unreadable`: the file exists but cannot be read (permissions, a directory, I/O).
 * - `Malformed`: the file does not hold what it should (not JSON, not a bcrypt hash, empty).
 * - `ToolFailed`: `openssl` or the system's bcrypt (crypt(3) through perl) failed or is missing.
 */
export class SecurityError extends Data.TaggedError("SecurityError")<{
  readonly reason: "Missing" | "Unreadable" | "Malformed" | "ToolFailed"
  readonly message: string
}> {}
