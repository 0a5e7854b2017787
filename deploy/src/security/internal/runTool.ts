/**
 * Running `openssl` and `perl` for the credential generator. Secrets go in on stdin, never
 * on the command line (where `ps` shows them); what the tool prints is returned, and only
 * its stderr goes into an error message.
 */
import { spawn } from "node:child_process"
import { Effect } from "effect"
import { SecurityError } from "../SecurityError.js"

/** Runs `command args`, writes `input` to its stdin, and returns its stdout. */
export const runTool = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly input?: string; readonly what: string }
): Effect.Effect<string, SecurityError> =>
  Effect.callback<string, SecurityError>((resume) => {
    const child = spawn(command, [...args], { stdio: ["pipe", "pipe", "pipe"] })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk))
    child.stdin.on("error", () => undefined)
    child.once("error", (error: NodeJS.ErrnoException) => {
      resume(Effect.fail(
        new SecurityError({
          reason: "ToolFailed",
          message: error.code === "ENOENT"
            ? `${options.what}: \`${command}\` is not installed (Debian: sudo apt install ${command === "openssl" ? "openssl" : "perl-base"})`
            : `${options.what}: cannot run ${command}: ${error.message}`
        })
      ))
    })
    child.once("close", (code, signal) => {
      if (code === 0) {
        resume(Effect.succeed(Buffer.concat(out).toString("utf8")))
      } else {
        const stderr = Buffer.concat(err).toString("utf8").trim().split("\n").slice(-5).join("\n")
        resume(Effect.fail(
          new SecurityError({
            reason: "ToolFailed",
            message: `${options.what}: ${command} ${signal === null ? `exited with ${code}` : `was killed by ${signal}`}${stderr === "" ? "" : `: ${stderr}`}`
          })
        ))
      }
    })
    child.stdin.end(options.input ?? "")
    return Effect.sync(() => {
      if (child.exitCode === null) child.kill("SIGKILL")
    })
  })
