import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { type ConfigError, parseClusterConfig } from "@bramble/config"

const base = `
cluster: { name: home }
nodes:
  - name: pi1
sink: { kind: influx-v2, url: "http://127.0.0.1:8086" }
`

const problemsOf = (text: string) => {
  const result = parseClusterConfig(text, "bramble.yaml")
  assert.isTrue(Result.isFailure(result), "expected the file to be refused")
  return (result as Result.Failure<never, ConfigError>).failure.problems
}

describe("cluster file - forward targets", () => {
  it("decode - without a forward section nothing is forwarded", () => {
    const config = Result.getOrThrow(parseClusterConfig(base))
    assert.isUndefined(config.forward)
  })

  it("decode - thingsboard and webhook targets, with their defaults", () => {
    const config = Result.getOrThrow(parseClusterConfig(`${base}forward:
  - kind: thingsboard
    name: tb
    url: http://thingsboard.local:8080
    source: windows
    devices:
      - { device: greenhouse-1, tokenEnv: TB_GREENHOUSE_1 }
      - { device: door-1, tokenFile: /etc/bramble/tb/door-1 }
  - kind: webhook
    name: alerts
    url: https://hooks.example.com/bramble
    source: alarms
    batchSize: 20
    timeout: 5s
    retryCap: 1m
    startFrom: all
    headers: { X-Team: ops }
    headersEnv: { Authorization: HOOK_AUTH }
    secretFile: /etc/bramble/hook.secret
`))
    assert.deepStrictEqual(config.forward, [
      {
        kind: "thingsboard",
        name: "tb",
        url: "http://thingsboard.local:8080",
        source: "windows",
        batchSize: 100,
        timeout: 10_000,
        retryCap: 30_000,
        startFrom: "new",
        devices: [{ device: "greenhouse-1", tokenEnv: "TB_GREENHOUSE_1" }, { device: "door-1", tokenFile: "/etc/bramble/tb/door-1" }]
      },
      {
        kind: "webhook",
        name: "alerts",
        url: "https://hooks.example.com/bramble",
        source: "alarms",
        batchSize: 20,
        timeout: 5_000,
        retryCap: 60_000,
        startFrom: "all",
        headers: { "X-Team": "ops" },
        headersEnv: { Authorization: "HOOK_AUTH" },
        secretFile: "/etc/bramble/hook.secret"
      }
    ])
  })

  it("validate - bad URLs, kinds, sources, sizes and names are refused with their paths", () => {
    const problems = problemsOf(`${base}forward:
  - { kind: webhook, name: a, url: "ftp://example.com/x" }
  - { kind: webhook, name: b, url: "http://user:pass@example.com/x" }
  - { kind: webhook, name: c, url: "not a url" }
  - { kind: kafka, name: d, url: "http://example.com" }
  - { kind: webhook, name: e, url: "http://example.com", source: everything, batchSize: 0, timeout: soon }
  - { kind: webhook, name: "f.g", url: "http://example.com" }
  - { kind: thingsboard, name: h, url: "http://tb", devices: [{ device: d1, tokenFile: relative/path }] }
`)
    const paths = problems.map((p) => p.path)
    for (const path of ["forward[0].url", "forward[1].url", "forward[2].url", "forward[3].kind", "forward[4].source", "forward[4].batchSize", "forward[4].timeout", "forward[5].name", "forward[6].devices[0].tokenFile"]) {
      assert.include(paths, path, JSON.stringify(problems))
    }
    assert.match(problems.find((p) => p.path === "forward[1].url")!.message, /credentials do not belong in the URL/)
    assert.strictEqual(problems.find((p) => p.path === "forward[3].kind")!.message, `"kafka" is not a forward target kind; the kinds are thingsboard and webhook`)
    // Every problem is located in the file.
    assert.isTrue(problems.every((p) => p.line !== undefined), JSON.stringify(problems))
  })

  it("validate - duplicate names, missing or doubled tokens, reserved and repeated headers are refused with their paths", () => {
    const problems = problemsOf(`${base}forward:
  - kind: thingsboard
    name: tb
    url: http://tb
    devices:
      - { device: d1, tokenEnv: T1 }
      - { device: d1, tokenEnv: T2 }
      - { device: d2 }
      - { device: d3, tokenEnv: T3, tokenFile: /t3 }
  - { kind: thingsboard, name: tb2, url: "http://tb" }
  - kind: webhook
    name: tb
    url: http://hook
    secretEnv: S
    secretFile: /s
    headers: { Content-Type: text/plain, X-A: "1" }
    headersEnv: { x-a: A_ENV }
`)
    const byPath = new Map(problems.map((p) => [p.path, p.message]))
    assert.match(byPath.get("forward[0].devices[1].device") ?? "", /already listed at index 0/)
    assert.match(byPath.get("forward[0].devices[2]") ?? "", /exactly one of tokenEnv or tokenFile/)
    assert.match(byPath.get("forward[0].devices[3]") ?? "", /exactly one of tokenEnv or tokenFile/)
    assert.match(byPath.get("forward[1].devices") ?? "", /needs device access tokens/)
    assert.match(byPath.get("forward[2].name") ?? "", /already used at index 0/)
    assert.match(byPath.get("forward[2].secretFile") ?? "", /alternatives/)
    assert.match(byPath.get("forward[2].headers.Content-Type") ?? "", /set by Bramble/)
    assert.match(byPath.get("forward[2].headersEnv.x-a") ?? "", /already set in headers/)
    assert.strictEqual(problems.length, 8, JSON.stringify(problems))
  })

  it("validate - a tokensFile alone is enough for a thingsboard target", () => {
    const config = Result.getOrThrow(parseClusterConfig(`${base}forward:
  - { kind: thingsboard, name: tb, url: "https://tb.example.com", tokensFile: /etc/bramble/tb-tokens.json }
`))
    const target = config.forward![0]!
    assert.strictEqual(target.kind, "thingsboard")
    assert.deepStrictEqual(target.kind === "thingsboard" ? target.devices : undefined, [])
  })
})
