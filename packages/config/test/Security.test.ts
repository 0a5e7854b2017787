import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { type ConfigError, parseClusterConfig } from "@bramble/config"

const base = `
cluster:
  name: home
nodes:
  - name: pi1
sink:
  kind: influx-v2
  url: http://127.0.0.1:8086
`

const twoNodes = base.replace("  - name: pi1\n", "  - name: pi1\n    host: 10.0.0.1\n  - name: pi2\n    host: 10.0.0.2\n")

const problemsOf = (text: string) => {
  const result = parseClusterConfig(text, "bramble.yaml")
  assert.isTrue(Result.isFailure(result), "expected the file to be refused")
  return (result as Result.Failure<never, ConfigError>).failure.problems
}

describe("cluster file security section", () => {
  it("decode - without a security section nothing is secured", () => {
    const config = Result.getOrThrow(parseClusterConfig(base))
    assert.isUndefined(config.security)
  })

  it("decode - devices default to MQTT, tls to enabled when present", () => {
    const config = Result.getOrThrow(parseClusterConfig(`${base}security:
  credentials: /etc/bramble/credentials
  devices:
    - id: greenhouse-1
    - { id: meter-7, transport: nats }
  tls: {}
`))
    assert.deepStrictEqual(config.security, {
      credentials: "/etc/bramble/credentials",
      devices: [{ id: "greenhouse-1", transport: "mqtt" }, { id: "meter-7", transport: "nats" }],
      tls: { enabled: true }
    })
  })

  it("validate - relative paths, bad device ids, unknown transports and duplicates are refused with their paths", () => {
    const problems = problemsOf(`${base}security:
  credentials: credentials
  devices:
    - id: green house.1
    - { id: meter-7, transport: zigbee }
`)
    const paths = problems.map((p) => p.path)
    assert.include(paths, "security.credentials")
    assert.include(paths, "security.devices[0].id")
    assert.include(paths, "security.devices[1].transport")
    const duplicates = problemsOf(`${base}security:
  credentials: /c
  devices: [{ id: a }, { id: b }, { id: a }]
`)
    assert.deepStrictEqual(duplicates.map((p) => p.path), ["security.devices[2].id"])
    assert.match(duplicates[0]!.message, /already listed at index 0/)
  })

  it("validate - a secured cluster of several servers needs TLS, because routes authenticate by certificate", () => {
    const problems = problemsOf(`${twoNodes}security:
  credentials: /c
`)
    assert.deepStrictEqual(problems.map((p) => p.path), ["security.tls"])
    assert.match(problems[0]!.message, /routes/)
    assert.isDefined(problems[0]!.line, "the problem names its line")
    assert.isTrue(Result.isSuccess(parseClusterConfig(`${twoNodes}security:
  credentials: /c
  tls: { enabled: true }
`)))
    const disabled = problemsOf(`${twoNodes}security:
  credentials: /c
  tls: { enabled: false }
`)
    assert.deepStrictEqual(disabled.map((p) => p.path), ["security.tls"])
  })

  it("validate - a certificate without its key is refused", () => {
    const problems = problemsOf(`${base}security:
  credentials: /c
  tls: { certFile: /etc/ssl/node.crt }
`)
    assert.deepStrictEqual(problems.map((p) => p.path), ["security.tls"])
  })
})
