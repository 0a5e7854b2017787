/**
 * Whether this process runs with the V8 heap limit its node's `heapLimit` asks for. The limit
 * can only be set as Node.js starts (`NODE_OPTIONS` or a flag): the systemd unit of
 * `bramble deploy`, `bramble dev up` and the test clusters set it; a node started by hand may
 * not, and then V8 sizes the heap from the machine's memory — up to four times what the node
 * keeps live (docs/performance.md, Memory). Said once at start, so it is found in the log.
 */
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
