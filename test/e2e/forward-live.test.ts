/**
 * Forward targets changed on a running `bramble node` (docs/live-config.md): `bramble config
 * apply` of a version that adds a webhook target makes the node start forwarding to it
 * without a restart — readings published afterwards reach the real HTTP receiver — and a
 * version that removes it stops it: readings published after the node runs that version
 * reach the target that stays, and none of them the removed one. The same version changes the
 * sink's batching, which the storage actor takes at its next write, writing on. The node
 * reports the version it runs and its forwarders in its status. Nothing depends on timing: every step
 * waits for what the node reports or the receivers got.
 */
import { assert, describe, it } from "@effect/vitest"
import { startVictoriaMetrics } from "@bramble/deploy"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { BRAMBLE_CLI } from "../support/BrambleNode.js"
import { makeReadings, publishNats, type TestReading, waitFor } from "../support/index.js"
import { promise, testDir, WAIT_MS, withNodeLog } from "../support/SystemTest.js"
import { forwarderStatus, makeWebhookReceiver, startForwardingNode, type WebhookItem } from "./forward-harness.js"

const DEVICES = ["dev-0000", "dev-0001"]

const cli = (args: ReadonlyArray<string>) =>
  promisify(execFile)(process.execPath, [BRAMBLE_CLI, ...args], { env: { ...process.env, NO_COLOR: "1" } })
    .then((r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }))
    .catch((error: { stdout: string; stderr: string; code: number }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }))

const keyOf = (r: { readonly device: string; readonly ts: number }) => `${r.device}@${r.ts}`
const readingKeys = (items: ReadonlyArray<WebhookItem>) =>
  new Set(items.filter((i) => i.kind === "reading").map((i) => keyOf(i.data as unknown as { device: string; ts: number })))

describe("forward targets changed on a running node", () => {
  it.live("a target added by `config apply` receives readings; once removed, it receives none of the later ones; new sink batching is taken", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-forward-live-")
      const vm = yield* startVictoriaMetrics({ dir: join(dir, "db") })
      const stay = yield* makeWebhookReceiver({})
      yield* stay.receiver.listen
      const added = yield* makeWebhookReceiver({})
      yield* added.receiver.listen
      const stayTarget = { kind: "webhook", name: "stay", url: stay.receiver.url, batchSize: 50 }
      const addedTarget = { kind: "webhook", name: "added", url: added.receiver.url, batchSize: 50 }
      const node = yield* startForwardingNode({ dir: join(dir, "node"), sinkUrl: vm.url, env: {}, forward: [stayTarget] })

      yield* withNodeLog(node, Effect.gen(function*() {
        const file = JSON.parse(readFileSync(node.configFile, "utf8")) as Record<string, unknown>
        // Version 2 and after also batch the database writes differently (sink.batchSize, gzip).
        const batching = { ...(file["sink"] as Record<string, unknown>), batchSize: 500, gzip: true }
        const apply = (name: string, forward: ReadonlyArray<Record<string, unknown>>) =>
          Effect.gen(function*() {
            const path = join(dir, name)
            writeFileSync(path, JSON.stringify({ ...file, sink: batching, forward }, null, 2))
            const out = yield* promise(() => cli(["config", "apply", path]))
            assert.strictEqual(out.code, 0, `${out.stdout}\n${out.stderr}`)
            return out.stdout
          })
        const runs = (version: number, names: ReadonlyArray<string>) =>
          promise(() =>
            waitFor(async () => ({ status: await node.status(), forwarders: (await forwarderStatus(node)).map((f) => f.name) }), {
              until: (s) => s.status.config?.version === version && s.forwarders.join() === names.join(),
              timeoutMs: WAIT_MS,
              intervalMs: 250,
              show: (s) => `config ${JSON.stringify(s.status.config)}, forwarders ${s.forwarders.join(", ")}`,
              label: `node runs version ${version} with forwarders ${names.join(", ")}`
            })
          )
        let chunk = 0
        const publish = Effect.gen(function*() {
          chunk += 1
          const readings = makeReadings({ devices: DEVICES, perDevice: 5, startMs: Date.now(), stepMs: 20, seqStart: chunk * 5, seed: chunk })
          const report = yield* promise(() => publishNats(node.natsUrl, readings))
          assert.strictEqual(report.failed.length, 0, JSON.stringify(report.failed.slice(0, 3)))
          return readings
        })
        const received = (receiver: { readonly accepted: ReadonlyArray<WebhookItem> }, readings: ReadonlyArray<TestReading>, label: string) =>
          promise(() =>
            waitFor(() => readings.filter((r) => !readingKeys(receiver.accepted).has(keyOf(r))).map(keyOf), {
              until: (missing) => missing.length === 0,
              timeoutMs: WAIT_MS,
              intervalMs: 250,
              show: (missing) => `${missing.length} missing, e.g. ${missing.slice(0, 5).join(", ")}`,
              label
            })
          )

        yield* runs(1, ["stay"])
        yield* received(stay, yield* publish, "stay gets readings under version 1")

        // Version 2 adds `added`: the node starts its forwarder, no restart.
        const out = yield* apply("v2.yaml", [stayTarget, addedTarget])
        assert.include(out, "Published version 2")
        yield* runs(2, ["stay", "added"])
        const underV2 = yield* publish
        yield* received(added, underV2, "the added target gets readings published after it started")
        yield* received(stay, underV2, "stay goes on")
        // The storage actor took the new batching at its next write, and writes on through it.
        yield* promise(() =>
          waitFor(() => readFileSync(node.logFile, "utf8").includes("500 points per write"), {
            timeoutMs: WAIT_MS,
            label: "the node's log says the storage writes with the new batch size"
          })
        )
        yield* promise(() =>
          waitFor(() => node.status(), {
            until: (s) => s.storage.readingsWritten >= 20,
            timeoutMs: WAIT_MS,
            show: (s) => JSON.stringify(s.storage),
            label: "every reading so far in the database"
          })
        )

        // Version 3 removes it: readings published once the node runs version 3 never reach it.
        yield* apply("v3.yaml", [stayTarget])
        yield* runs(3, ["stay"])
        const underV3 = yield* publish
        yield* received(stay, underV3, "stay gets readings under version 3")
        const late = underV3.filter((r) => readingKeys(added.accepted).has(keyOf(r))).map(keyOf)
        assert.deepStrictEqual(late, [], "nothing published after the target was removed reached it")
        assert.notInclude(readFileSync(node.logFile, "utf8"), "forward added failed")
      }))
    }).pipe(Effect.scoped), 180_000)
})
