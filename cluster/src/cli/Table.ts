/**
 * Readable terminal output for the operator commands: aligned tables, durations, ages,
 * and colour only when a person is looking (a TTY, and `NO_COLOR` unset).
 */

/** Colour is for people: never in pipes or files. */
export const useColor = (): boolean => process.stdout.isTTY === true && process.env["NO_COLOR"] === undefined

const paint = (code: number) => (text: string) => useColor() ? `\x1b[${code}m${text}\x1b[0m` : text

export const green = paint(32)
export const yellow = paint(33)
export const red = paint(31)
export const cyan = paint(36)
export const dim = paint(2)
export const bold = paint(1)

const ANSI = /\x1b\[[0-9;]*m/g

/** Display width (ANSI colour codes take none). */
const width = (text: string) => text.replace(ANSI, "").length

export type Align = "left" | "right"

/** Partition numbers as runs: `0-3,5,7,8` (a pair stays a pair: `7,8`); `-` for none. */
export const ranges = (ps: ReadonlyArray<number>): string => {
  const sorted = [...ps].sort((a, b) => a - b)
  const out: Array<string> = []
  for (let i = 0; i < sorted.length; i++) {
    let j = i
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++
    out.push(j > i + 1 ? `${sorted[i]}-${sorted[j]}` : j === i + 1 ? `${sorted[i]},${sorted[j]}` : `${sorted[i]}`)
    i = j
  }
  return out.join(",") || "-"
}

/**
 * An aligned table: upper-case headers, two spaces between columns, numbers right-aligned
 * where `align` says so. Cells may be coloured.
 */
export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, align: ReadonlyArray<Align> = []): string => {
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ""))))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => {
      const pad = " ".repeat(Math.max(0, widths[i]! - width(cell)))
      const last = i === cells.length - 1
      return align[i] === "right" ? pad + cell : last ? cell : cell + pad
    }).join("  ").trimEnd()
  return [bold(line(headers.map((h) => h.toUpperCase()))), ...rows.map(line)].join("\n")
}

/** `3d 4h`, `5m 12s`, `42s`, `850ms`. */
export const duration = (ms: number): string => {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h}h ${m % 60}m`
  return `${Math.floor(h / 24)}d ${h % 24}h`
}

/** How long ago `ts` was, from `now`. */
export const age = (ts: number, now: number = Date.now()): string => ts > now ? `in ${duration(ts - now)}` : `${duration(now - ts)} ago`

/** A rate per second: one decimal below 100. */
export const perSecond = (rate: number): string => rate >= 100 ? rate.toFixed(0) : rate.toFixed(1)

/** `HH:MM:SS` in local time (with `.mmm` when `millis`). */
export const clock = (ts: number, millis = false): string => {
  const d = new Date(ts)
  const two = (n: number) => String(n).padStart(2, "0")
  const base = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
  return millis ? `${base}.${String(d.getMilliseconds()).padStart(3, "0")}` : base
}

/** A number as a person reads it: at most `digits` decimals, no trailing zeros. */
export const num = (value: number, digits = 2): string => String(Number(value.toFixed(digits)))

/** `temperature=21.4 humidity=40`. */
export const values = (record: Readonly<Record<string, number>>): string =>
  Object.entries(record).map(([k, v]) => `${k}=${num(v)}`).join(" ")
