/**
 * Times and durations as people type them on a command line: `2026-11-20T10:00:00Z`,
 * `now`, `-2h` (two hours ago), `now-30m`, milliseconds since the epoch; `90s`, `10m`,
 * `1h30m`. Pure, so the parsing is tested without a clock.
 *
 * A value starting with `-` must be attached to its flag (`--from=-2h`): on its own the
 * command-line parser takes it for a flag. `now-2h` never needs that.
 */
import { formatMillis, parseMillis } from "@bramble/config"
import { Result } from "effect"

/**
 * `90s`, `10m`, `1h30m`, `7d`, `500ms`, `0`; undefined when it is not a duration. The cluster
 * file's grammar (`parseMillis`, packages/config Units.ts), as one word: a value on the
 * command line is one argument, so `10 m` and `30 minutes` are refused rather than split.
 */
export const parseDuration = (text: string): number | undefined => {
  const word = text.trim()
  if (/\s/.test(word)) return undefined
  const ms = parseMillis(word)
  return ms === undefined ? undefined : Math.round(ms)
}

/** A duration as the cluster file writes it: `7d`, `90m`, `1h30m`, `1500ms`. */
export const formatDuration = formatMillis

/** The earliest time accepted (2000-01-01, as for readings): smaller numbers are seconds by mistake. */
const MIN_MS = 946_684_800_000

const RELATIVE = /^(?:now)?([-+])(.+)$/

/**
 * A time argument, in ms since the epoch, relative to `now`: `now`, `-2h`, `now-2h`, `now+5m`,
 * an ISO-8601 date or date-time (without a zone: local time, as `date` prints it; a date alone
 * is midnight UTC, as ISO-8601 says), or integer milliseconds since the epoch. The failure says why.
 */
export const parseTime = (text: string, now: number): Result.Result<number, string> => {
  const value = text.trim()
  if (value === "now") return Result.succeed(now)
  const relative = RELATIVE.exec(value)
  if (relative !== null) {
    const duration = parseDuration(relative[2]!)
    return duration === undefined
      ? Result.fail(`"${text}" is not a time: after ${relative[1]} comes a duration such as 90s, 10m, 2h, 7d or 1h30m`)
      : Result.succeed(relative[1] === "-" ? now - duration : now + duration)
  }
  if (/^\d+$/.test(value)) {
    const ms = Number(value)
    return ms >= MIN_MS
      ? Result.succeed(ms)
      : Result.fail(`"${text}" is not a time: numbers are milliseconds since the epoch (seconds? multiply by 1000)`)
  }
  // Date.parse takes almost anything ("2" is a date to it): insist on a year first.
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN
  return Number.isFinite(ms)
    ? Result.succeed(ms)
    : Result.fail(`"${text}" is not a time: use ISO-8601 (2026-11-20T10:00:00Z), now, -2h / now-2h, or milliseconds since the epoch`)
}
