/**
 * A node's V8 heap limit, as the processes that run nodes pass it: the cluster file's
 * `heapLimit` (per node, default 768 MiB, see @bramble/config `DEFAULT_HEAP_LIMIT` for why)
 * turned into Node.js's `--max-old-space-size` and carried in `NODE_OPTIONS`, with the
 * young generation's limit beside it (`SEMI_SPACE_OPTION`).
 *
 * `NODE_OPTIONS`, not a flag on the command line, because the systemd unit runs the
 * `bramble` executable (a script), not `node`, and because an operator can then override it
 * in `bramble.env` without re-rendering. The heap is sized when the process starts, so the
 * limit has to be in its environment: a node cannot change it for itself without starting
 * again. The local launchers (dev cluster, benchmarks) use the same variable, so what runs
 * in tests is what runs on the Pis.
 */
import { DEFAULT_HEAP_LIMIT } from "@bramble/config"

const MiB = 1024 * 1024

/**
 * The young generation a node runs with. V8 lets each of its two semi-spaces grow to 16 MiB on
 * 64-bit, and a node keeps what they grew to while it started: ~26 MB of RSS at idle that
 * nothing uses. With 4 MiB an idle node's RSS is 89-90 MB instead of 115 MB, and RSS after a
 * backlog drain ~30 MB lower, at no measurable cost in CPU per reading (more scavenges, each
 * of less; docs/performance.md, "The young generation"). An operator's own
 * `--max-semi-space-size` in `NODE_OPTIONS` is kept.
 */
export const SEMI_SPACE_OPTION = "--max-semi-space-size=4"

/** The Node.js option for a heap limit of `bytes` (V8 takes whole MiB; rounded down). */
export const heapLimitOption = (bytes: number = DEFAULT_HEAP_LIMIT): string => {
  if (!Number.isFinite(bytes) || bytes < MiB) throw new RangeError(`not a heap limit: ${bytes} bytes`)
  return `--max-old-space-size=${Math.floor(bytes / MiB)}`
}

/** The options a node runs with for a heap limit of `bytes`: the heap limit and the young
 * generation's (what the systemd unit sets in `NODE_OPTIONS`). */
export const nodeMemoryOptions = (bytes: number = DEFAULT_HEAP_LIMIT): string => `${heapLimitOption(bytes)} ${SEMI_SPACE_OPTION}`

/** V8 takes `_` for `-` in its flags. */
const OLD_SPACE = /^--max[-_]old[-_]space[-_]size(=|$)/
const SEMI_SPACE = /^--max[-_]semi[-_]space[-_]size(=|$)/

/**
 * `NODE_OPTIONS` for a node process with a heap limit of `bytes`, keeping every other option
 * of `inherited` (the launcher's own `NODE_OPTIONS`) and replacing a heap limit there: the
 * node gets the limit its cluster file gives it, not its launcher's. The young generation's
 * limit is added unless `inherited` sets one (a benchmark comparing them). A flag on the node's
 * command line still wins over both (Node.js reads `NODE_OPTIONS` first), which is how a
 * benchmark compares limits (`BENCH_NODE_FLAGS=--max-old-space-size=…`).
 */
export const nodeOptionsWithHeapLimit = (bytes: number, inherited: string | undefined = undefined): string => {
  const options = (inherited ?? "").split(/\s+/).filter((option) => option !== "")
  const kept: Array<string> = []
  for (let i = 0; i < options.length; i++) {
    const match = OLD_SPACE.exec(options[i]!)
    if (match === null) kept.push(options[i]!)
    else if (match[1] === "") i++ // `--max-old-space-size 512`: the value is the next word.
  }
  const semiSpace = kept.some((option) => SEMI_SPACE.test(option)) ? [] : [SEMI_SPACE_OPTION]
  return [...kept, heapLimitOption(bytes), ...semiSpace].join(" ")
}
