/**
 * How a node logs. On a terminal, people read the logs: Effect's pretty logger. Under
 * systemd, in a container or piped to a collector, machines read them: one JSON object per
 * line with `level`, `timestamp`, `message`, `annotations` and `cause` (Effect's
 * `Logger.formatJson`), which journald, Loki and Vector ingest as they are.
 *
 *   BRAMBLE_LOG_FORMAT = json | pretty   (default: json when stdout is not a TTY)
 *   BRAMBLE_LOG_LEVEL  = trace | debug | info | warn | error | none   (default: --log-level, else info)
 */
import { Layer, type LogLevel, Logger, References } from "effect"

export type LogFormat = "json" | "pretty"

/** The format the environment asks for. */
export const logFormat = (env: NodeJS.ProcessEnv = process.env, isTty: boolean = process.stdout.isTTY === true): LogFormat => {
  const asked = env["BRAMBLE_LOG_FORMAT"]?.trim().toLowerCase()
  if (asked === "json") return "json"
  if (asked === "pretty" || asked === "text" || asked === "human") return "pretty"
  return isTty ? "pretty" : "json"
}

const LEVELS: Record<string, LogLevel.LogLevel> = {
  all: "All",
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  warning: "Warn",
  error: "Error",
  fatal: "Fatal",
  none: "None"
}

/** The minimum level the environment asks for; undefined when it does not say. */
export const logLevel = (env: NodeJS.ProcessEnv = process.env): LogLevel.LogLevel | undefined =>
  LEVELS[env["BRAMBLE_LOG_LEVEL"]?.trim().toLowerCase() ?? ""]

/**
 * The node's logger: JSON lines or pretty text. The minimum level is set only when
 * BRAMBLE_LOG_LEVEL is, so the CLI's `--log-level` keeps working otherwise.
 */
export const nodeLoggerLayer = (env: NodeJS.ProcessEnv = process.env, isTty?: boolean): Layer.Layer<never> => {
  const logger = Logger.layer([logFormat(env, isTty) === "json" ? Logger.consoleJson : Logger.consolePretty()])
  const level = logLevel(env)
  return level === undefined ? logger : Layer.merge(logger, Layer.succeed(References.MinimumLogLevel, level))
}
