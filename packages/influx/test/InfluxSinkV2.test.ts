/**
 * The v2 write API path (`@influxdata/influxdb-client`) against a real victoria-metrics
 * 1.79, which accepts `/api/v2/write` (there is no InfluxDB 2.x binary on Debian 12).
 */
import { inspect } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { InfluxSink, type SinkWriteError } from "@bramble/influx"
import { hostilePoints, manyPoints, measurements, sinkFrom, victoriaMetrics } from "./fixtures.js"
import { canonical, readVictoriaMetrics } from "./readBack.js"
import { recordingProxy } from "./recordingProxy.js"

const options = (url: string) => ({ url, org: "bramble", bucket: "bramble" })

const failure = <A>(effect: Effect.Effect<A, SinkWriteError>) => Effect.flip(effect)

describe("InfluxSink v2 → victoria-metrics", () => {
  it.live("write - 12,000 points go in three batches and read back exactly; rewriting them adds nothing", () =>
    Effect.gen(function*() {
      const vm = yield* victoriaMetrics()
      const proxy = yield* recordingProxy(vm.url)
      const sink = yield* sinkFrom(InfluxSink.layerV2(options(proxy.url)))
      const points = manyPoints(12_000)

      yield* sink.write(points)
      assert.deepStrictEqual(
        proxy.requests.map((r) => [r.path, r.lines, r.contentEncoding, r.status]),
        [
          ["/api/v2/write", 5_000, undefined, 204],
          ["/api/v2/write", 5_000, undefined, 204],
          ["/api/v2/write", 2_000, undefined, 204]
        ]
      )

      const stored = yield* readVictoriaMetrics(vm.url, measurements)
      assert.strictEqual(stored.length, 12_000)
      assert.deepStrictEqual(canonical(stored), canonical(points))

      yield* sink.write(points)
      const rewritten = yield* readVictoriaMetrics(vm.url, measurements)
      assert.deepStrictEqual(canonical(rewritten), canonical(points))
    }))

  it.live("write - gzip and a small batch size carry the same points", () =>
    Effect.gen(function*() {
      const vm = yield* victoriaMetrics()
      const proxy = yield* recordingProxy(vm.url)
      const sink = yield* sinkFrom(InfluxSink.layerV2({ ...options(proxy.url), gzip: true, batchSize: 700 }))
      const points = manyPoints(3_000)
      yield* sink.write(points)
      assert.deepStrictEqual(proxy.requests.map((r) => [r.lines, r.contentEncoding]), [
        [700, "gzip"],
        [700, "gzip"],
        [700, "gzip"],
        [700, "gzip"],
        [200, "gzip"]
      ])
      assert.deepStrictEqual(canonical(yield* readVictoriaMetrics(vm.url, measurements)), canonical(points))
    }))

  it.live("escaping - hostile measurement names, tag keys, tag values and field keys round-trip exactly", () =>
    Effect.gen(function*() {
      const vm = yield* victoriaMetrics()
      const sink = yield* sinkFrom(InfluxSink.layerV2(options(vm.url)))
      const points = hostilePoints()
      yield* sink.write(points)
      const stored = yield* readVictoriaMetrics(vm.url, ["hostile", "hostile measure,ment"])
      assert.deepStrictEqual(canonical(stored), canonical(points))
    }))

  it.live("escaping - a point line protocol cannot carry is Rejected before anything is sent", () =>
    Effect.gen(function*() {
      const vm = yield* victoriaMetrics()
      const sink = yield* sinkFrom(InfluxSink.layerV2(options(vm.url)))
      const [good, other] = manyPoints(2)
      const bad = [
        good!,
        { ...other!, fields: { temperature: Number.NaN } },
        { ...other!, tags: { device: "evil\nenvironment,device=dev-0 temperature=99" } }
      ]
      const error = yield* failure(sink.write(bad))
      assert.strictEqual(error.reason, "Rejected")
      assert.isFalse(error.retryable)
      assert.deepStrictEqual(error.rejected.map((r) => r.index), [1, 2])
      assert.strictEqual(error.acknowledged, 0)
      assert.deepStrictEqual(yield* readVictoriaMetrics(vm.url, measurements), [], "nothing was sent")
    }))

  it.live("outage - a stopped server is Unavailable at once, and writes succeed again after restart", () =>
    Effect.gen(function*() {
      const vm = yield* victoriaMetrics()
      const sink = yield* sinkFrom(InfluxSink.layerV2({ ...options(vm.url), timeout: "5 seconds" }))
      const [first, second] = [manyPoints(600).slice(0, 300), manyPoints(600).slice(300)]
      yield* sink.write(first)
      yield* sink.ping

      yield* vm.process.stop
      const error = yield* failure(sink.write(second))
      assert.strictEqual(error.reason, "Unavailable")
      assert.isTrue(error.retryable)
      assert.match(error.detail, /ECONNREFUSED/)
      assert.strictEqual((yield* failure(sink.ping)).reason, "Unavailable")

      yield* vm.process.start
      yield* sink.ping
      yield* sink.write(second)
      assert.deepStrictEqual(
        canonical(yield* readVictoriaMetrics(vm.url, measurements)),
        canonical([...first, ...second])
      )
    }))

  it.live("outage - a server that accepts but never answers is a Timeout, and the write succeeds once it answers", () =>
    Effect.gen(function*() {
      const vm = yield* victoriaMetrics()
      const sink = yield* sinkFrom(InfluxSink.layerV2({ ...options(vm.url), timeout: "1 second" }))
      const points = manyPoints(100)
      yield* vm.process.signal("SIGSTOP")
      const error = yield* failure(sink.write(points)).pipe(Effect.ensuring(Effect.orDie(vm.process.signal("SIGCONT"))))
      assert.strictEqual(error.reason, "Timeout")
      assert.isTrue(error.retryable)
      yield* sink.write(points)
      assert.deepStrictEqual(canonical(yield* readVictoriaMetrics(vm.url, measurements)), canonical(points))
    }))

  it.live("auth - a refused token is Rejected with the status, and the token appears nowhere", () =>
    Effect.gen(function*() {
      const vm = yield* victoriaMetrics(["-httpAuth.username=bramble", "-httpAuth.password=right"])
      const sink = yield* sinkFrom(
        InfluxSink.layerV2({ ...options(vm.url), token: Redacted.make("s3cr3t-t0ken") })
      )
      const error = yield* failure(sink.write(manyPoints(10)))
      assert.strictEqual(error.reason, "Rejected")
      assert.strictEqual(error.status, 401)
      for (const text of [error.message, String(error), inspect(error, { depth: 10 }), JSON.stringify(error), sink.describe]) {
        assert.notInclude(text, "s3cr3t-t0ken")
      }
      assert.strictEqual(sink.describe, `influx-v2 ${vm.url} org=bramble bucket=bramble`)
    }))

  it.live("config - a URL with credentials or a bad batch size fails the layer", () =>
    Effect.gen(function*() {
      const withCredentials = yield* Effect.flip(sinkFrom(InfluxSink.layerV2(options("http://u:p@127.0.0.1:1"))))
      assert.strictEqual(withCredentials._tag, "SinkConfigError")
      assert.notInclude(withCredentials.message, "u:p")
      const badBatch = yield* Effect.flip(sinkFrom(InfluxSink.layerV2({ ...options("http://127.0.0.1:1"), batchSize: 0 })))
      assert.match(badBatch.message, /batchSize/)
    }))
})
