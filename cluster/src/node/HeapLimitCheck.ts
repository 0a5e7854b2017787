/**
 * Whether this process runs with the V8 heap limit its node's `heapLimit` asks for. The limit
 * can only be set as Node.js starts (`NODE_OPTIONS` or a flag): the systemd unit of
 * `bramble deploy`, `bramble dev up` and the test clusters set it; a node started by hand may
 * not, and then V8 sizes the heap from the machine's memory — up to four times what the node
 * keeps live (docs/performance.md, Memory). Said once at start, so it is found in the log.
 */
import { SEMI_SPACE_OPTION } from "@bramble/deploy"
import { getHeapStatistics } from "node:v8"

const MiB = 1024 * 1024
// V8's heap_size_limit is the old-space limit plus the young generation (48 MiB on 64-bit
// Node 20); anything within this much above the configured limit is that limit.
const YOUNG_GENERATION_ALLOWANCE = 128 * MiB

/** What to tell the operator when `actualBytes` (V8's heap_size_limit) is not `configuredBytes`. */
export const heapLimitMismatch = (configuredBytes: number, actualBytes: number): string | undefined => {
  const extra = actualBytes - configuredBytes
  if (extra >= 0 && extra <= YOUNG_GENERATION_ALLOWANCE) return undefined
  const configured = Math.floor(configuredBytes / MiB)
  return `this process's V8 heap limit is ${Math.round(actualBytes / MiB)} MiB, but the node's heapLimit is ${configured} MiB: ` +
    `start it with NODE_OPTIONS=--max-old-space-size=${configured} (the systemd unit of \`bramble deploy\` does)`
}

/** The same for this process. */
export const processHeapLimitMismatch = (configuredBytes: number): string | undefined =>
  heapLimitMismatch(configuredBytes, getHeapStatistics().heap_size_limit)

/** Set in the environment of a node this module re-executed, so it never does so twice. */
export const REEXECUTED_ENV = "BRAMBLE_HEAP_LIMIT_APPLIED"

const OLD_SPACE_FLAG = /(^|\s)--max[-_]old[-_]space[-_]size(=|\s|$)/
const SEMI_SPACE_FLAG = /(^|\s)--max[-_]semi[-_]space[-_]size(=|\s|$)/

/**
 * Whether the operator chose a heap limit for this process: a `--max-old-space-size` on the
 * command line or in `NODE_OPTIONS` (the systemd unit's, or one set in `bramble.env`) is kept,
 * even when it is not the file's `heapLimit` (a benchmark comparing limits does this).
 */
export const heapLimitChosen = (execArgv: ReadonlyArray<string>, nodeOptions: string | undefined): boolean =>
  execArgv.some((flag) => OLD_SPACE_FLAG.test(flag)) || OLD_SPACE_FLAG.test(nodeOptions ?? "")

/**
 * The command that starts this same process again with the node's heap limit (and the young
 * generation's limit the systemd unit gives, `SEMI_SPACE_OPTION`, unless one was chosen), or
 * undefined when it needs none (the limit already holds, the operator chose one, or this
 * process is already the re-executed one).
 */
export const reexecutionWithHeapLimit = (configuredBytes: number): { readonly command: string; readonly args: ReadonlyArray<string>; readonly flag: string } | undefined => {
  if (processHeapLimitMismatch(configuredBytes) === undefined) return undefined
  if (process.env[REEXECUTED_ENV] !== undefined || heapLimitChosen(process.execArgv, process.env["NODE_OPTIONS"])) return undefined
  const flags = [`--max-old-space-size=${Math.floor(configuredBytes / MiB)}`]
  if (!process.execArgv.some((f) => SEMI_SPACE_FLAG.test(f)) && !SEMI_SPACE_FLAG.test(process.env["NODE_OPTIONS"] ?? "")) flags.push(SEMI_SPACE_OPTION)
  return { command: process.execPath, args: [...process.execArgv, ...flags, ...process.argv.slice(1)], flag: flags.join(" ") }
}
