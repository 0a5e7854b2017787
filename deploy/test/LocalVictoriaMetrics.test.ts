import { existsSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { isProcessAlive, scopedTempDir, startVictoriaMetrics } from "../src/index.js"

const request = (url: string, init: RequestInit = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    return { status: response.status, body: await response.text() }
  })

interface ExportedSeries {
  readonly metric: Record<string, string>
  readonly values: ReadonlyArray<number>
  readonly timestamps: ReadonlyArray<number>
}

/** `/api/v1/export` answers one JSON object per series per line. */
const exportSeries = (url: string, match: string) =>
  request(`${url}/api/v1/export?${new URLSearchParams({ "match[]": match })}`).pipe(
    Effect.map(({ body }) =>
      body.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line) as ExportedSeries)
    )
  )

const T0 = 1_700_000_000_000

describe("startVictoriaMetrics", () => {
  it.live("line protocol in via /api/v2/write, back out via /api/v1/export; a rewritten point stays one sample", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const vm = yield* startVictoriaMetrics({ dir })
      const write = (lines: string) =>
        request(`${vm.url}/api/v2/write?precision=ms`, { method: "POST", body: lines }).pipe(
          Effect.tap(({ status, body }) => Effect.sync(() => assert.strictEqual(status, 204, body)))
        )

      yield* write(`env,device=dev1 temperature=21.5 ${T0}\nenv,device=dev1 temperature=22 ${T0 + 1000}`)
      yield* vm.forceFlush
      const first = yield* exportSeries(vm.url, "env_temperature")
      assert.strictEqual(first.length, 1)
      assert.deepStrictEqual(first[0]!.metric, { __name__: "env_temperature", device: "dev1" })
      assert.deepStrictEqual(first[0]!.timestamps, [T0, T0 + 1000])
      assert.deepStrictEqual(first[0]!.values, [21.5, 22])

      // An at-least-once replay writes the same point again: it must not add a sample.
      yield* write(`env,device=dev1 temperature=21.5 ${T0}`)
      yield* write(`env,device=dev1 temperature=21.5 ${T0}`)
      yield* vm.forceFlush
      const replayed = yield* exportSeries(vm.url, "env_temperature")
      assert.deepStrictEqual(replayed[0]!.timestamps, [T0, T0 + 1000])
      assert.deepStrictEqual(replayed[0]!.values, [21.5, 22])
    }))

  it.live("control: without -dedup.minScrapeInterval the rewrite is a duplicate sample (why the flag is set)", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const vm = yield* startVictoriaMetrics({ dir, extraArgs: ["-dedup.minScrapeInterval=0s"] })
      for (let i = 0; i < 2; i++) {
        const { status } = yield* request(`${vm.url}/api/v2/write?precision=ms`, {
          method: "POST",
          body: `env,device=dev1 temperature=21.5 ${T0}`
        })
        assert.strictEqual(status, 204)
      }
      yield* vm.forceFlush
      const series = yield* exportSeries(vm.url, "env_temperature")
      assert.deepStrictEqual(series[0]!.timestamps, [T0, T0])
    }))

  it.live("scope - closing it stops the server and keeps its data", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const { pid, dataDir } = yield* Effect.scoped(Effect.gen(function*() {
        const vm = yield* startVictoriaMetrics({ dir })
        return { pid: (yield* vm.process.pid)!, dataDir: vm.dataDir }
      }))
      assert.isFalse(isProcessAlive(pid))
      assert.isTrue(existsSync(dataDir))
    }))
})
