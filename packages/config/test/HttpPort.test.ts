import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { DEFAULT_HTTP_PORT, parseClusterConfig } from "@bramble/config"

const file = (node: string) => `
cluster: { name: home }
nodes:
${node}
sink: { kind: influx-v2, url: "http://127.0.0.1:8086" }
`

describe("cluster file - node http server", () => {
  it("decode - httpPort defaults to the dashboard/metrics port", () => {
    const config = Result.getOrThrow(parseClusterConfig(file("  - name: pi1")))
    assert.strictEqual(config.nodes[0]!.httpPort, DEFAULT_HTTP_PORT)
    assert.strictEqual(DEFAULT_HTTP_PORT, 9464)
  })

  it("decode - httpPort may be set, and 0 turns the server off", () => {
    const config = Result.getOrThrow(parseClusterConfig(file("  - name: pi1\n    httpPort: 9000\n  - name: pi2\n    host: 10.0.0.2\n    httpPort: 0")))
    assert.deepStrictEqual(config.nodes.map((n) => n.httpPort), [9000, 0])
    // nats-server's own monitoring port is a different setting.
    assert.strictEqual(config.nodes[0]!.nats.httpPort, 8222)
  })

  it("validate - an httpPort out of range is refused with its path", () => {
    const result = parseClusterConfig(file("  - name: pi1\n    httpPort: 70000"))
    assert.isTrue(Result.isFailure(result))
    if (Result.isFailure(result)) {
      assert.include(result.failure.problems.map((p) => p.path), "nodes[0].httpPort")
    }
  })
})
