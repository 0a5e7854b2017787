import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { DEFAULT_HEAP_LIMIT } from "@bramble/config"
import { assert, describe, it } from "@effect/vitest"
import { heapLimitOption, nodeMemoryOptions, nodeOptionsWithHeapLimit, renderNodeUnit, SEMI_SPACE_OPTION } from "../src/index.js"

const run = promisify(execFile)
const MiB = 1024 * 1024

describe("heap limit", () => {
  it("option - whole MiB, rounded down; the default is the cluster file's", () => {
    assert.strictEqual(heapLimitOption(), `--max-old-space-size=${DEFAULT_HEAP_LIMIT / MiB}`)
    assert.strictEqual(heapLimitOption(192 * MiB), "--max-old-space-size=192")
    assert.strictEqual(heapLimitOption(1536 * MiB + 1000), "--max-old-space-size=1536")
    assert.throws(() => heapLimitOption(1000), RangeError)
    assert.throws(() => heapLimitOption(Number.NaN), RangeError)
  })

  it("NODE_OPTIONS - keeps the launcher's other options and replaces its heap limit; adds the young generation's unless set", () => {
    assert.strictEqual(nodeOptionsWithHeapLimit(384 * MiB), `--max-old-space-size=384 ${SEMI_SPACE_OPTION}`)
    assert.strictEqual(nodeOptionsWithHeapLimit(384 * MiB, ""), `--max-old-space-size=384 ${SEMI_SPACE_OPTION}`)
    assert.strictEqual(
      nodeOptionsWithHeapLimit(384 * MiB, " --enable-source-maps  --max-old-space-size=4096 --trace-warnings"),
      `--enable-source-maps --trace-warnings --max-old-space-size=384 ${SEMI_SPACE_OPTION}`
    )
    assert.strictEqual(nodeOptionsWithHeapLimit(384 * MiB, "--max_old_space_size=100 --no-warnings"), `--no-warnings --max-old-space-size=384 ${SEMI_SPACE_OPTION}`)
    assert.strictEqual(nodeOptionsWithHeapLimit(384 * MiB, "--max-old-space-size 100 --no-warnings"), `--no-warnings --max-old-space-size=384 ${SEMI_SPACE_OPTION}`)
    assert.strictEqual(nodeOptionsWithHeapLimit(384 * MiB, "--max_semi_space_size=16"), "--max_semi_space_size=16 --max-old-space-size=384")
    assert.strictEqual(nodeMemoryOptions(192 * MiB), `--max-old-space-size=192 ${SEMI_SPACE_OPTION}`)
  })

  it("a Node.js process started with the unit's NODE_OPTIONS has that heap limit and young generation", async () => {
    const limitOf = async (nodeOptions: string) => {
      const { stdout } = await run(process.execPath, ["-e", "process.stdout.write(String(require('v8').getHeapStatistics().heap_size_limit))"], {
        env: { ...process.env, NODE_OPTIONS: nodeOptions }
      })
      return Number(stdout) / MiB
    }
    const unitOptions = (unit: string) => /^Environment="NODE_OPTIONS=(.*)"$/m.exec(unit)![1]!
    // heap_size_limit is the old space plus the young generation's few tens of MiB.
    const small = await limitOf(unitOptions(renderNodeUnit({ heapLimit: 192 * MiB })))
    assert.isAtLeast(small, 192)
    assert.isBelow(small, 192 + 100)
    const standard = await limitOf(unitOptions(renderNodeUnit()))
    assert.isAtLeast(standard, 768)
    assert.isBelow(standard, 768 + 100)
    // heap_size_limit counts the young generation three times its semi-space (two
    // semi-spaces and the new large-object space): V8's own 16 MiB would make it 768 + 48.
    assert.isBelow(standard, 768 + 3 * 16, "the unit's young generation is smaller than V8's own")
    // The launcher's own limit does not leak through.
    const launched = await limitOf(nodeOptionsWithHeapLimit(192 * MiB, "--max-old-space-size=2048"))
    assert.isBelow(launched, 192 + 100)
  })
})
