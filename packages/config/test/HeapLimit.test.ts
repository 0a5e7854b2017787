import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { DEFAULT_HEAP_LIMIT, parseClusterConfig } from "@bramble/config"

const file = (node: string) => `
cluster: { name: home }
nodes:
${node}
sink: { kind: influx-v2, url: "http://127.0.0.1:8086" }
`
const MiB = 1024 * 1024

const problemPaths = (text: string) => {
  const result = parseClusterConfig(text)
  assert.isTrue(Result.isFailure(result), "expected the file to be refused")
  return Result.isFailure(result) ? result.failure.problems : []
}

describe("cluster file - node heap limit", () => {
  it("decode - heapLimit defaults to 768 MiB, in bytes", () => {
    const config = Result.getOrThrow(parseClusterConfig(file("  - name: pi1")))
    assert.strictEqual(config.nodes[0]!.heapLimit, DEFAULT_HEAP_LIMIT)
    assert.strictEqual(DEFAULT_HEAP_LIMIT, 768 * MiB)
  })

  it("decode - heapLimit is per node and takes sizes in any unit", () => {
    const config = Result.getOrThrow(parseClusterConfig(file([
      "  - name: zero",
      "    heapLimit: 192MiB",
      "  - name: big",
      "    host: 10.0.0.2",
      "    heapLimit: 1.5GiB",
      "  - name: plain",
      "    host: 10.0.0.3",
      "    heapLimit: 402653184"
    ].join("\n"))))
    assert.deepStrictEqual(config.nodes.map((n) => n.heapLimit), [192 * MiB, 1536 * MiB, 384 * MiB])
  })

  it("validate - a heapLimit too small to run a node, too large, or not a size is refused at its path", () => {
    for (const value of ["64MiB", "32GiB", "lots"]) {
      const problems = problemPaths(file(`  - name: pi1\n    heapLimit: ${value}`))
      assert.deepStrictEqual(problems.map((p) => p.path), ["nodes[0].heapLimit"], value)
    }
    const tooSmall = problemPaths(file("  - name: pi1\n    heapLimit: 64MiB"))
    assert.include(tooSmall[0]!.message, "between 96MiB and 16GiB")
  })
})
