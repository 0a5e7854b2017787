/**
 * Runs a rendered `bramble-node.service` the way systemd would, inside a lab host (this
 * machine has no systemd as PID 1, and a test must not touch the real one): the environment
 * of its `Environment=` lines, then its `EnvironmentFile=`, `WorkingDirectory=`, the argv of
 * `ExecStart=` with systemd's `${VAR}` (one word) and `$VAR` (split on spaces) expansion,
 * and `Restart=on-failure` after `RestartSec=`. So what starts is exactly the command line a
 * Pi runs, from the files `bramble deploy` writes; only the sandboxing (`User=`,
 * `Protect*=`…) is not applied.
 *
 * Every restart is counted: a node that exits while its cluster forms is a bug the formation
 * tests look for (docs/design.md, decision 10: nodes wait, they do not exit).
 */
import { readFileSync } from "node:fs"
import { type ManagedProcess, makeManagedProcess } from "@bramble/deploy"
import { Effect, type Scope } from "effect"

export interface ServiceUnit {
  readonly env: Readonly<Record<string, string>>
  readonly workingDirectory: string | undefined
  readonly argv: ReadonlyArray<string>
  readonly restartOnFailure: boolean
  readonly restartSecMs: number
}

const sectionLines = (text: string, section: string): Array<[string, string]> => {
  const out: Array<[string, string]> = []
  let inside = false
  for (const raw of text.split("\n")) {
    const line = raw.trim()
    if (line.startsWith("[")) {
      inside = line === `[${section}]`
      continue
    }
    if (!inside || line === "" || line.startsWith("#") || line.startsWith(";")) continue
    const eq = line.indexOf("=")
    if (eq > 0) out.push([line.slice(0, eq), line.slice(eq + 1)])
  }
  return out
}

/** `NAME=value` lines of an environment file (quotes optional, nothing expanded). */
export const parseEnvFile = (text: string): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const raw of text.split("\n")) {
    const line = raw.trim()
    if (line === "" || line.startsWith("#")) continue
    const eq = line.indexOf("=")
    if (eq <= 0) continue
    let value = line.slice(eq + 1).trim()
    if (value.length >= 2 && (value[0] === "\"" || value[0] === "'") && value.at(-1) === value[0]) value = value.slice(1, -1)
    env[line.slice(0, eq).trim()] = value
  }
  return env
}

const seconds = (value: string): number => {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|min)?$/.exec(value.trim())
  if (match === null) throw new Error(`unsupported time span in the unit: ${value}`)
  const n = Number(match[1])
  return match[2] === "ms" ? n : match[2] === "min" ? n * 60_000 : n * 1_000
}

/** systemd's ExecStart expansion: `${X}` inside a word, `$X` alone as a word split on spaces. */
export const expandExecStart = (line: string, env: Readonly<Record<string, string>>): Array<string> =>
  line.trim().split(/\s+/).flatMap((word) => {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word)
    if (whole !== null) return (env[whole[1]!] ?? "").split(/\s+/).filter((w) => w !== "")
    return [word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => env[name] ?? "")]
  })

/** systemd's `Environment=`: assignments separated by spaces, each may be double-quoted whole
 * (`"NODE_OPTIONS=--a --b"`) to hold spaces. */
export const parseEnvironment = (value: string): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const word of value.matchAll(/"([^"]*)"|(\S+)/g)) {
    const assignment = word[1] ?? word[2]!
    const eq = assignment.indexOf("=")
    if (eq > 0) env[assignment.slice(0, eq)] = assignment.slice(eq + 1)
  }
  return env
}

/** The parts of a unit that decide what runs. */
export const readServiceUnit = (unitText: string): ServiceUnit => {
  const lines = sectionLines(unitText, "Service")
  const env: Record<string, string> = {}
  let execStart: string | undefined
  let workingDirectory: string | undefined
  let restart = "no"
  let restartSecMs = 100
  for (const [key, value] of lines) {
    if (key === "Environment") Object.assign(env, parseEnvironment(value))
    else if (key === "EnvironmentFile") {
      const optional = value.startsWith("-")
      const path = optional ? value.slice(1) : value
      try {
        Object.assign(env, parseEnvFile(readFileSync(path, "utf8")))
      } catch (error) {
        if (!optional) throw new Error(`EnvironmentFile ${path}: ${error instanceof Error ? error.message : String(error)}`)
      }
    } else if (key === "ExecStart") execStart = value
    else if (key === "WorkingDirectory") workingDirectory = value
    else if (key === "Restart") restart = value
    else if (key === "RestartSec") restartSecMs = seconds(value)
  }
  if (execStart === undefined) throw new Error("the unit has no ExecStart=")
  return { env, workingDirectory, argv: expandExecStart(execStart, env), restartOnFailure: restart === "on-failure" || restart === "always", restartSecMs }
}

export interface RunningService {
  readonly unit: ServiceUnit
  readonly process: ManagedProcess
}

/**
 * Start the unit's command in a lab host (`prefix` = `ip netns exec <ns>`), output appended
 * to `logFile` as journald would keep it. Closing the scope stops it (SIGTERM, then SIGKILL).
 */
export const runService = (options: {
  readonly name: string
  readonly unitFile: string
  readonly prefix: ReadonlyArray<string>
  readonly logFile: string
}): Effect.Effect<RunningService, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const unit = readServiceUnit(readFileSync(options.unitFile, "utf8"))
    const [command, ...args] = [...options.prefix, ...unit.argv]
    const process_ = yield* makeManagedProcess({
      name: options.name,
      command: command!,
      args,
      ...(unit.workingDirectory === undefined ? {} : { cwd: unit.workingDirectory }),
      env: unit.env,
      logFile: options.logFile,
      tailLines: 100,
      // systemd's RestartSec, up to its RestartMaxDelaySec, as the unit asks.
      restart: unit.restartOnFailure ? { initialDelay: `${unit.restartSecMs} millis`, maxDelay: "2 minutes", factor: 2 } : false,
      stopGracePeriod: "30 seconds"
    })
    return { unit, process: process_ }
  })
