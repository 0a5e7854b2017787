import { existsSync, readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { isProcessAlive, renderInfluxDb1Conf, scopedTempDir, startInfluxDb1 } from "../src/index.js"

const request = (url: string, init: RequestInit = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    return { status: response.status, body: await response.text() }
  })

interface QueryResult {
  readonly results: ReadonlyArray<{
    readonly series?: ReadonlyArray<{ readonly columns: ReadonlyArray<string>; readonly values: ReadonlyArray<ReadonlyArray<unknown>> }>
    readonly error?: string
  }>
}

const T0 = 1_700_000_000_000

describe("startInfluxDb1", () => {
  it("renders every directory under dir and binds both listeners where told", () => {
    const text = renderInfluxDb1Conf({ dir: "/srv/influx", httpBindAddress: "127.0.0.1:1", rpcBindAddress: "127.0.0.1:2" })
    assert.include(text, "bind-address = \"127.0.0.1:2\"\n")
    assert.include(text, "[http]\n  enabled = true\n  bind-address = \"127.0.0.1:1\"")
    for (const sub of ["meta", "data", "wal"]) assert.include(text, `"/srv/influx/${sub}"`)
    assert.include(text, "reporting-disabled = true")
    assert.notInclude(text, ":8088")
  })

  it.live("writes via /write?precision=ms and reads back via /query; a rewritten point stays one point", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const influx = yield* startInfluxDb1({ dir, database: "bramble test" })
      const write = (lines: string) =>
        request(`${influx.url}/write?${new URLSearchParams({ db: influx.database, precision: "ms" })}`, {
          method: "POST",
          body: lines
        }).pipe(Effect.tap(({ status, body }) => Effect.sync(() => assert.strictEqual(status, 204, body))))
      const select = request(
        `${influx.url}/query?${new URLSearchParams({
          db: influx.database,
          epoch: "ms",
          q: "SELECT temperature, device FROM env ORDER BY time"
        })}`
      ).pipe(Effect.map(({ body }) => JSON.parse(body) as QueryResult))

      yield* write(`env,device=dev1 temperature=21.5 ${T0}\nenv,device=dev1 temperature=22 ${T0 + 1000}`)
      const first = yield* select
      assert.deepStrictEqual(first.results[0]?.series?.[0]?.values, [[T0, 21.5, "dev1"], [T0 + 1000, 22, "dev1"]])

      yield* write(`env,device=dev1 temperature=21.5 ${T0}`)
      const replayed = yield* select
      assert.deepStrictEqual(replayed.results[0]?.series?.[0]?.values, [[T0, 21.5, "dev1"], [T0 + 1000, 22, "dev1"]])

      const config = readFileSync(influx.confPath, "utf8")
      assert.notInclude(config, ":8088\"")
    }))

  it.live("scope - closing it stops the server and keeps its data", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const pid = yield* Effect.scoped(Effect.gen(function*() {
        const influx = yield* startInfluxDb1({ dir, database: "db" })
        return (yield* influx.process.pid)!
      }))
      assert.isFalse(isProcessAlive(pid))
      assert.isTrue(existsSync(`${dir}/meta`))
    }))
})
