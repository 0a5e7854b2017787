import { assert, describe, it } from "@effect/vitest"
import type { ForwardTarget } from "@bramble/config"
import { scopedTempDir } from "@bramble/deploy"
import { Effect, Redacted } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { thingsBoardTokens, webhookSecrets } from "../src/ForwardSecrets.js"

type ThingsBoardTarget = Extract<ForwardTarget, { kind: "thingsboard" }>
type WebhookTarget = Extract<ForwardTarget, { kind: "webhook" }>

const common = { url: "http://127.0.0.1:1", source: "raw", batchSize: 10, timeout: 1_000, retryCap: 1_000, startFrom: "new" } as const
const tb = (fields: Partial<ThingsBoardTarget>): ThingsBoardTarget => ({ kind: "thingsboard", name: "tb", ...common, devices: [], ...fields })
const hook = (fields: Partial<WebhookTarget>): WebhookTarget => ({ kind: "webhook", name: "hook", ...common, headers: {}, ...fields })

const reveal = (tokens: ReadonlyMap<string, Redacted.Redacted<string>>) => Object.fromEntries([...tokens].map(([d, t]) => [d, Redacted.value(t)]))

describe("forward secrets", () => {
  it.effect("ThingsBoard tokens come from the tokens file, env and files; a device entry overrides the file", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-fwd-secrets-" })
      const tokensFile = join(dir, "tokens.json")
      writeFileSync(tokensFile, JSON.stringify({ "dev-a": "from-file-a", "dev-b": "from-file-b" }))
      const tokenFile = join(dir, "dev-c.token")
      writeFileSync(tokenFile, "  from-token-file-c\n")
      process.env["BRAMBLE_TEST_TB_B"] = "from-env-b"
      const tokens = yield* thingsBoardTokens(tb({
        tokensFile,
        devices: [{ device: "dev-b", tokenEnv: "BRAMBLE_TEST_TB_B" }, { device: "dev-c", tokenFile }]
      }), 0)
      assert.deepStrictEqual(reveal(tokens), { "dev-a": "from-file-a", "dev-b": "from-env-b", "dev-c": "from-token-file-c" })
      delete process.env["BRAMBLE_TEST_TB_B"]
    }).pipe(Effect.scoped))

  it.effect("a missing secret stops the start with the setting that names it, and never the secret", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir({ prefix: "bramble-fwd-secrets-" })
      const missingEnv = yield* Effect.flip(thingsBoardTokens(tb({ devices: [{ device: "d", tokenEnv: "BRAMBLE_TEST_NOT_SET" }] }), 2))
      assert.match(missingEnv.message, /forward target tb: environment variable BRAMBLE_TEST_NOT_SET \(named by forward\[2\]\.devices\[0\]\.tokenEnv\) is not set/)
      const missingFile = yield* Effect.flip(webhookSecrets(hook({ secretFile: join(dir, "nope") }), 1))
      assert.match(missingFile.message, /named by forward\[1\]\.secretFile/)
      const broken = join(dir, "broken.json")
      writeFileSync(broken, `{"dev-a": "s3cret-token",`)
      const notJson = yield* Effect.flip(thingsBoardTokens(tb({ tokensFile: broken }), 0))
      assert.match(notJson.message, /is not JSON/)
      assert.notInclude(notJson.message, "s3cret-token")
      const badDevice = join(dir, "bad-device.json")
      writeFileSync(badDevice, JSON.stringify({ "dev a": "t" }))
      assert.match((yield* Effect.flip(thingsBoardTokens(tb({ tokensFile: badDevice }), 0))).message, /"dev a" is not a device id/)
    }).pipe(Effect.scoped))

  it.effect("a webhook's signing secret and secret headers are read; plain headers pass through", () =>
    Effect.gen(function*() {
      process.env["BRAMBLE_TEST_HOOK_SECRET"] = "sign-me"
      process.env["BRAMBLE_TEST_HOOK_AUTH"] = "Bearer xyz"
      const { secret, headers } = yield* webhookSecrets(hook({
        secretEnv: "BRAMBLE_TEST_HOOK_SECRET",
        headers: { "X-Team": "ops" },
        headersEnv: { Authorization: "BRAMBLE_TEST_HOOK_AUTH" }
      }), 0)
      assert.strictEqual(secret === undefined ? undefined : Redacted.value(secret), "sign-me")
      assert.strictEqual(headers["X-Team"], "ops")
      const auth = headers["Authorization"]
      assert.isTrue(auth !== undefined && Redacted.isRedacted(auth) && Redacted.value(auth) === "Bearer xyz")
      assert.isUndefined((yield* webhookSecrets(hook({}), 0)).secret)
      delete process.env["BRAMBLE_TEST_HOOK_SECRET"]
      delete process.env["BRAMBLE_TEST_HOOK_AUTH"]
    }))
})
