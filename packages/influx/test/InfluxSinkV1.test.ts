/**
 * The InfluxDB 1.x `/write` path against a real influxd 1.6.7 (what 32-bit Pis run), and
 * its basic auth against victoria-metrics, which also serves `/write` and can require it.
 */
import { inspect } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { InfluxSink, type SinkWriteError } from "@bramble/influx"
import { hostilePoints, influxDb1, manyPoints, sinkFrom, victoriaMetrics } from "./fixtures.js"
import { canonical, readInfluxDb1, readVictoriaMetrics } from "./readBack.js"
import { recordingProxy } from "./recordingProxy.js"

const database = "bramble"
const failure = <A>(effect: Effect.Effect<A, SinkWriteError>) => Effect.flip(effect)

describe("InfluxSink v1 → influxd 1.6.7", () => {
  it.live("write - 12,000 points go in three batches and read back exactly; rewriting overwrites, never duplicates", () =>
    Effect.gen(function*() {
      const influx = yield* influxDb1(database)
      const proxy = yield* recordingProxy(influx.url)
      const sink = yield* sinkFrom(InfluxSink.layerV1({ url: proxy.url, database }))
      const points = manyPoints(12_000)

      yield* sink.write(points)
      assert.deepStrictEqual(proxy.requests.map((r) => [r.path, r.lines, r.status]), [
        ["/write", 5_000, 204],
        ["/write", 5_000, 204],
        ["/write", 2_000, 204]
      ])
      const stored = yield* readInfluxDb1(influx.url, database)
      assert.strictEqual(stored.length, 12_000)
      assert.deepStrictEqual(canonical(stored), canonical(points))

      yield* sink.write(points)
      assert.deepStrictEqual(canonical(yield* readInfluxDb1(influx.url, database)), canonical(points))

      const corrected = points.map((p) => ({ ...p, fields: { ...p.fields, humidity: 42.5 } }))
      yield* sink.write(corrected)
      assert.deepStrictEqual(canonical(yield* readInfluxDb1(influx.url, database)), canonical(corrected))
    }))

  it.live("write - gzip, a small batch size and an explicit retention policy carry the same points", () =>
    Effect.gen(function*() {
      const influx = yield* influxDb1(database)
      const proxy = yield* recordingProxy(influx.url)
      const sink = yield* sinkFrom(
        InfluxSink.layerV1({ url: proxy.url, database, retentionPolicy: "autogen", gzip: true, batchSize: 1_000 })
      )
      const points = manyPoints(2_500)
      yield* sink.write(points)
      assert.deepStrictEqual(proxy.requests.map((r) => [r.lines, r.contentEncoding, r.status]), [
        [1_000, "gzip", 204],
        [1_000, "gzip", 204],
        [500, "gzip", 204]
      ])
      assert.deepStrictEqual(canonical(yield* readInfluxDb1(influx.url, database)), canonical(points))
      assert.strictEqual(sink.describe, `influx-v1 ${proxy.url} db=bramble rp=autogen`)
    }))

  it.live("escaping - hostile measurement names, tag keys, tag values and field keys round-trip exactly", () =>
    Effect.gen(function*() {
      const influx = yield* influxDb1(database)
      const sink = yield* sinkFrom(InfluxSink.layerV1({ url: influx.url, database }))
      const points = hostilePoints()
      yield* sink.write(points)
      assert.deepStrictEqual(canonical(yield* readInfluxDb1(influx.url, database)), canonical(points))
    }))

  it.live("rejection - invalid points are refused before sending; the server's refusals are Rejected with its message", () =>
    Effect.gen(function*() {
      const influx = yield* influxDb1(database)
      const sink = yield* sinkFrom(InfluxSink.layerV1({ url: influx.url, database }))
      const [good, other] = manyPoints(2)

      const invalid = yield* failure(sink.write([good!, { ...other!, fields: { temperature: Number.POSITIVE_INFINITY } }]))
      assert.strictEqual(invalid.reason, "Rejected")
      assert.deepStrictEqual(invalid.rejected.map((r) => r.index), [1])
      assert.deepStrictEqual(yield* readInfluxDb1(influx.url, database), [], "nothing was sent")

      // influxd refuses a field named "time"; line protocol itself has no objection.
      const refused = yield* failure(sink.write([good!, { ...other!, fields: { time: 1 } }]))
      assert.strictEqual(refused.reason, "Rejected")
      assert.strictEqual(refused.status, 400)
      assert.match(refused.detail, /partial write: invalid field name: input field "time" on measurement "power" is invalid dropped=1/)

      // A refusal in the second batch: the first is durable and says so.
      const batched = yield* sinkFrom(InfluxSink.layerV1({ url: influx.url, database, batchSize: 100 }))
      const batch = manyPoints(300)
      batch[150] = { ...batch[150]!, fields: { time: 2 } }
      const second = yield* failure(batched.write(batch))
      assert.deepStrictEqual([second.reason, second.acknowledged], ["Rejected", 100])

      const noDatabase = yield* sinkFrom(InfluxSink.layerV1({ url: influx.url, database: "missing" }))
      const missing = yield* failure(noDatabase.write([good!]))
      assert.deepStrictEqual([missing.reason, missing.status, missing.detail], ["Rejected", 404, "database not found: \"missing\""])

      const noPolicy = yield* sinkFrom(InfluxSink.layerV1({ url: influx.url, database, retentionPolicy: "nope" }))
      const policy = yield* failure(noPolicy.write([good!]))
      assert.deepStrictEqual([policy.reason, policy.status], ["Rejected", 500])
      assert.match(policy.detail, /retention policy not found: nope/)
    }))

  it.live("outage - a stopped server is Unavailable at once, and writes succeed again after restart", () =>
    Effect.gen(function*() {
      const influx = yield* influxDb1(database)
      const sink = yield* sinkFrom(InfluxSink.layerV1({ url: influx.url, database, timeout: "5 seconds" }))
      const [first, second] = [manyPoints(600).slice(0, 300), manyPoints(600).slice(300)]
      yield* sink.write(first)
      yield* sink.ping

      yield* influx.process.stop
      const error = yield* failure(sink.write(second))
      assert.strictEqual(error.reason, "Unavailable")
      assert.match(error.detail, /ECONNREFUSED/)
      assert.strictEqual((yield* failure(sink.ping)).reason, "Unavailable")

      yield* influx.process.start
      yield* sink.ping
      yield* sink.write(second)
      assert.deepStrictEqual(canonical(yield* readInfluxDb1(influx.url, database)), canonical([...first, ...second]))
    }))

  it.live("outage - a server that accepts but never answers is a Timeout, and the write succeeds once it answers", () =>
    Effect.gen(function*() {
      const influx = yield* influxDb1(database)
      const sink = yield* sinkFrom(InfluxSink.layerV1({ url: influx.url, database, timeout: "1 second", batchSize: 100 }))
      const points = manyPoints(300)
      yield* influx.process.signal("SIGSTOP")
      const error = yield* failure(sink.write(points)).pipe(Effect.ensuring(Effect.orDie(influx.process.signal("SIGCONT"))))
      assert.strictEqual(error.reason, "Timeout")
      assert.isTrue(error.retryable)
      yield* sink.write(points)
      assert.deepStrictEqual(canonical(yield* readInfluxDb1(influx.url, database)), canonical(points))
    }))
})

describe("InfluxSink v1 → victoria-metrics /write with basic auth", () => {
  it.live("auth - the right password writes, a wrong one is Rejected and appears nowhere", () =>
    Effect.gen(function*() {
      const vm = yield* victoriaMetrics(["-httpAuth.username=bramble", "-httpAuth.password=right-pass"])
      const points = manyPoints(30)
      const right = yield* sinkFrom(
        InfluxSink.layerV1({ url: vm.url, database, username: "bramble", password: Redacted.make("right-pass") })
      )
      yield* right.write(points)
      assert.deepStrictEqual(canonical(yield* readVictoriaMetrics(vm.url, ["environment", "power"], "bramble:right-pass")), canonical(points))

      const wrong = yield* sinkFrom(
        InfluxSink.layerV1({ url: vm.url, database, username: "bramble", password: Redacted.make("wr0ng-pass") })
      )
      const error = yield* failure(wrong.write(points))
      assert.deepStrictEqual([error.reason, error.status], ["Rejected", 401])
      for (const text of [error.message, String(error), inspect(error, { depth: 10 }), JSON.stringify(error), wrong.describe]) {
        assert.notInclude(text, "wr0ng-pass")
        assert.notInclude(text, Buffer.from("bramble:wr0ng-pass").toString("base64"))
      }
    }))
})
