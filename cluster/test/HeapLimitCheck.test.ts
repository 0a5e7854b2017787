import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { heapLimitChosen, heapLimitMismatch } from "../src/node/HeapLimitCheck.js"

const MiB = 1024 * 1024
/** V8's heap_size_limit of a real Node.js process started with `flags`. */
const heapSizeLimitWith = (flags: ReadonlyArray<string>): number =>
  Number(execFileSync(process.execPath, [...flags, "-e", "process.stdout.write(String(require('v8').getHeapStatistics().heap_size_limit))"], { encoding: "utf8" }))

describe("heap limit check", () => {
  it("a process started with the node's heapLimit matches it (V8 adds its young generation)", () => {
    for (const mib of [96, 384, 768]) {
      assert.isUndefined(heapLimitMismatch(mib * MiB, heapSizeLimitWith([`--max-old-space-size=${mib}`])), `${mib} MiB`)
    }
  })

  it("a process started with another limit is told what to set", () => {
    const message = heapLimitMismatch(384 * MiB, heapSizeLimitWith(["--max-old-space-size=2048"]))
    assert.isDefined(message)
    assert.include(message!, "heapLimit is 384 MiB")
    assert.include(message!, "NODE_OPTIONS=--max-old-space-size=384")
    assert.isDefined(heapLimitMismatch(768 * MiB, heapSizeLimitWith(["--max-old-space-size=384"])), "a smaller limit is a mismatch too")
  })

  it("a limit the operator chose (command line or NODE_OPTIONS) is kept; without one the node starts again with its own", () => {
    assert.isTrue(heapLimitChosen(["--max-old-space-size=4096"], undefined))
    assert.isTrue(heapLimitChosen(["--expose-gc"], "--enable-source-maps --max_old_space_size=300"))
    assert.isTrue(heapLimitChosen([], "--max-old-space-size 300"))
    assert.isFalse(heapLimitChosen(["--expose-gc"], undefined))
    assert.isFalse(heapLimitChosen([], "--max-semi-space-size=1 --enable-source-maps"))
  })
})
