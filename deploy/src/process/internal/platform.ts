/**
 * The OS-specific parts of running a child process: finding the executable, making the
 * child die with its parent, and telling whether a pid is still a live process.
 *
 * A Bramble node supervises its own nats-server. If the node is killed with SIGKILL its
 * finalizers never run, and an orphaned nats-server would keep the ports and the JetStream
 * store locked, so the restarted node could not start its own. Linux can deliver a signal
 * to a child when its parent dies (`prctl(PR_SET_PDEATHSIG)`); util-linux's `setpriv
 * --pdeathsig KILL` sets that and then execs the real program, so the pid we get is the
 * server's own. Where `setpriv` is missing we run the program directly and rely on the
 * finalizers and the `exit` hook in `ManagedProcess`.
 */
import { spawnSync } from "node:child_process"
import { accessSync, constants, readFileSync } from "node:fs"
import { delimiter, isAbsolute, join, resolve } from "node:path"

/** Absolute path of `command` (searched on PATH when it has no slash), or undefined. */
export const resolveExecutable = (command: string, cwd: string | undefined): string | undefined => {
  const isExecutable = (path: string): boolean => {
    try {
      accessSync(path, constants.X_OK)
      return true
    } catch {
      return false
    }
  }
  if (command.includes("/")) {
    const path = isAbsolute(command) ? command : resolve(cwd ?? process.cwd(), command)
    return isExecutable(path) ? path : undefined
  }
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir === "") continue
    const path = join(dir, command)
    if (isExecutable(path)) return path
  }
  return undefined
}

let setprivPath: string | undefined | null = null

/**
 * The `setpriv` executable when it supports `--pdeathsig` (util-linux 2.33+, Debian 10+),
 * else undefined. Checked once per process.
 */
export const pdeathsigWrapper = (): string | undefined => {
  if (setprivPath !== null) return setprivPath
  setprivPath = undefined
  if (process.platform === "linux") {
    const path = resolveExecutable("setpriv", undefined)
    if (path !== undefined) {
      const help = spawnSync(path, ["--help"], { encoding: "utf8", timeout: 5_000 })
      if (help.status === 0 && help.stdout.includes("--pdeathsig")) setprivPath = path
    }
  }
  return setprivPath
}

/**
 * True when `pid` is a running (or stopped) process. A zombie — dead but not yet reaped by
 * its new parent — counts as gone: it holds no ports, files or memory.
 */
export const isProcessAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    // EPERM: the pid exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // The state follows the parenthesised command name, which may itself contain ") ".
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
    return state !== "Z" && state !== "X"
  } catch {
    // No /proc (not Linux) or the process vanished between the two checks.
    return process.platform !== "linux"
  }
}
