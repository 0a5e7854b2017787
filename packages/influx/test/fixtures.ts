/**
 * What the server tests share: the real databases (started by `@bramble/deploy`'s
 * launchers in temporary directories removed afterwards), many points over several
 * series, a handful of hostile names, and a sink built from its layer for a test's scope.
 */
import { Context, Effect, Layer } from "effect"
import { scopedTempDir, startInfluxDb1, startVictoriaMetrics } from "@bramble/deploy"
import { InfluxSink, type SinkPoint } from "@bramble/influx"

/** victoria-metrics 1.79 (dedup at 1 ms, 100y retention) on a free loopback port. */
export const victoriaMetrics = (extraArgs: ReadonlyArray<string> = []) =>
  Effect.flatMap(scopedTempDir({ prefix: "bramble-influx-vm-" }), (dir) => startVictoriaMetrics({ dir, extraArgs }))

/** influxd 1.6.7 on free loopback ports, with `database` created. */
export const influxDb1 = (database: string) =>
  Effect.flatMap(scopedTempDir({ prefix: "bramble-influx-influxd-" }), (dir) => startInfluxDb1({ dir, database }))

/** The sink a layer provides, alive until the test's scope closes. */
export const sinkFrom = <E>(layer: Layer.Layer<InfluxSink, E>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, InfluxSink))

export const measurements = ["environment", "power"] as const

/**
 * `count` points over 2 measurements × 3 devices, two fields each, one second apart,
 * starting a day ago (victoria-metrics drops samples far in the future). Values have two
 * decimals: victoria-metrics keeps about 15 significant digits, not a full float64.
 */
export const manyPoints = (count: number, startMs = Math.floor(Date.now() / 1000) * 1000 - 86_400_000): Array<SinkPoint> =>
  Array.from({ length: count }, (_, i) => {
    const series = i % 6
    return {
      measurement: measurements[series % 2]!,
      tags: { device: `dev-${series % 3}`, site: "pi-rack" },
      fields: { temperature: Math.round(2_000 + Math.sin(i) * 500) / 100, humidity: (i % 10_000) / 100 },
      timestampMs: startMs + Math.floor(i / 6) * 1_000
    }
  })

/** Names that break naive line-protocol writers, all of which the sinks must carry exactly. */
export const hostilePoints = (startMs = Math.floor(Date.now() / 1000) * 1000 - 3_600_000): Array<SinkPoint> => {
  const values = [
    "plain",
    "with space",
    "comma,separated",
    "key=value",
    "say \"hi\"",
    "it's",
    "C:\\temp\\x",
    "ü温度🌡",
    "#hash",
    "a, b=c \"d\" \\e",
    " leading and trailing "
  ]
  return values.map((value, i) => ({
    measurement: i % 2 === 0 ? "hostile" : "hostile measure,ment",
    tags: { case: `case-${i}`, device: value, "tag key=with, space": value },
    fields: { "field key, with=space": i + 0.25 },
    timestampMs: startMs + i
  }))
}
