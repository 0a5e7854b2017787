/**
 * A node's V8 heap limit, as the processes that run nodes pass it: the cluster file's
 * `heapLimit` (per node, default 768 MiB, see @bramble/config `DEFAULT_HEAP_LIMIT` for why)
 * turned into Node.js's `--max-old-space-size` and carried in `NODE_OPTIONS`.
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

/** The Node.js option for a heap limit of `bytes` (V8 takes whole MiB; rounded down). */
export const heapLimitOption = (bytes: number = DEFAULT_HEAP_LIMIT): string => {
  if (!Number.isFinite(bytes) || bytes < MiB) throw new RangeError(`not a heap limit: ${bytes} bytes`)
  return `--max-old-space-size=${Math.floor(bytes / MiB)}`
}

/** V8 takes `_` for `-` in its flags. */
const OLD_SPACE = /^--max[-_]old[-_]space[-_]size(=|$)/

/**
 * `NODE_OPTIONS` for a node process with a heap limit of `bytes`, keeping every other option
 * of `inherited` (the launcher's own `NODE_OPTIONS`) and replacing a heap limit there: the
 * node gets the limit its cluster file gives it, not its launcher's. A flag on the node's
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
  return [...kept, heapLimitOption(bytes)].join(" ")
}
