/**
 * The queries behind Bramble's Grafana dashboards, in Flux (InfluxDB 2.x) and InfluxQL
 * (InfluxDB 1.x). Both dashboards have the same panels; only these texts differ. They
 * read what the storage actor writes:
 *
 * - `reading`: tags `device`, `sensor`; one float field per metric; time = event time.
 * - `window`: tags `device`, `sensor`, `metric`, `window`; fields `count, mean, min, max,
 *   first, last, stddev`; time = window start.
 * - `alarm`: tags `device`, `rule`; fields `state` (1 raised, 0 cleared) and `value`.
 *
 * Template variables: `device` (multi, All), `window` (a window name such as "1m") and
 * `metric` (e.g. "temperature"). The InfluxQL texts are run against a real influxd in the
 * tests, with Grafana's macros substituted.
 */
import type { GrafanaQueryLanguage } from "./GrafanaDatasources.js"

/** Measurement names, as the storage actor writes them. */
export const BRAMBLE_MEASUREMENTS = { readings: "reading", windows: "window", alarms: "alarm" } as const

/** One query of a panel: its text, and for InfluxQL how Grafana should read the result. */
export interface DashboardQuery {
  readonly refId: string
  readonly query: string
  /** InfluxQL only: `table` for the table and XY panels, `time_series` otherwise. */
  readonly resultFormat?: "time_series" | "table"
}

/** The queries of every panel and variable, for one language. */
export interface DashboardQueries {
  readonly variables: { readonly device: string; readonly window: string; readonly metric: string }
  readonly raw: (field: "temperature" | "humidity") => ReadonlyArray<DashboardQuery>
  /** Refs A, B, C are the aggregated mean, min and max of the chosen window's results. */
  readonly windowBand: ReadonlyArray<DashboardQuery>
  readonly temperatureVsHumidity: ReadonlyArray<DashboardQuery>
  readonly activeAlarms: ReadonlyArray<DashboardQuery>
  readonly alarmEvents: ReadonlyArray<DashboardQuery>
}

const { alarms, readings, windows } = BRAMBLE_MEASUREMENTS

const FLUX_RANGE = "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)"
const FLUX_DEVICE = "r.device =~ /^${device:regex}$/"

const fluxTagValues = (measurement: string, tag: string) =>
  [
    "import \"influxdata/influxdb/schema\"",
    "",
    `schema.tagValues(bucket: v.defaultBucket, tag: "${tag}", predicate: (r) => r._measurement == "${measurement}", start: v.timeRangeStart)`
  ].join("\n")

const fluxWindowField = (field: "mean" | "min" | "max") =>
  [
    "from(bucket: v.defaultBucket)",
    FLUX_RANGE,
    `  |> filter(fn: (r) => r._measurement == "${windows}" and r._field == "${field}")`,
    `  |> filter(fn: (r) => r.window == "\${window}" and r.metric == "\${metric}" and ${FLUX_DEVICE})`,
    // One series per field even when a device has several sensors, so the band overrides
    // can name it.
    "  |> group(columns: [\"_field\"])",
    `  |> aggregateWindow(every: v.windowPeriod, fn: ${field}, createEmpty: false)`,
    "  |> keep(columns: [\"_time\", \"_value\", \"_field\"])"
  ].join("\n")

const flux: DashboardQueries = {
  variables: {
    device: fluxTagValues(readings, "device"),
    window: fluxTagValues(windows, "window"),
    metric: fluxTagValues(windows, "metric")
  },
  raw: (field) => [{
    refId: "A",
    query: [
      "from(bucket: v.defaultBucket)",
      FLUX_RANGE,
      `  |> filter(fn: (r) => r._measurement == "${readings}" and r._field == "${field}" and ${FLUX_DEVICE})`,
      "  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)",
      "  |> keep(columns: [\"_time\", \"_value\", \"device\", \"sensor\"])"
    ].join("\n")
  }],
  windowBand: [
    { refId: "A", query: fluxWindowField("mean") },
    { refId: "B", query: fluxWindowField("min") },
    { refId: "C", query: fluxWindowField("max") }
  ],
  temperatureVsHumidity: [{
    refId: "A",
    query: [
      "from(bucket: v.defaultBucket)",
      FLUX_RANGE,
      `  |> filter(fn: (r) => r._measurement == "${readings}" and (r._field == "temperature" or r._field == "humidity") and ${FLUX_DEVICE})`,
      "  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)",
      "  |> pivot(rowKey: [\"_time\"], columnKey: [\"_field\"], valueColumn: \"_value\")",
      "  |> filter(fn: (r) => exists r.temperature and exists r.humidity)",
      "  |> group()",
      "  |> keep(columns: [\"_time\", \"humidity\", \"temperature\"])"
    ].join("\n")
  }],
  activeAlarms: [{
    refId: "A",
    query: [
      "// An alarm is active when its latest state is 1, however long ago it was raised,",
      "// so this looks at all of the alarm history, not only the dashboard's time range.",
      "from(bucket: v.defaultBucket)",
      "  |> range(start: 0)",
      `  |> filter(fn: (r) => r._measurement == "${alarms}" and (r._field == "state" or r._field == "value"))`,
      "  |> pivot(rowKey: [\"_time\"], columnKey: [\"_field\"], valueColumn: \"_value\")",
      "  |> group(columns: [\"device\", \"rule\"])",
      "  |> sort(columns: [\"_time\"])",
      "  |> last(column: \"_time\")",
      "  |> filter(fn: (r) => exists r.state and float(v: r.state) == 1.0)",
      "  |> group()",
      "  |> keep(columns: [\"_time\", \"device\", \"rule\", \"value\"])"
    ].join("\n")
  }],
  alarmEvents: [{
    refId: "A",
    query: [
      "from(bucket: v.defaultBucket)",
      FLUX_RANGE,
      `  |> filter(fn: (r) => r._measurement == "${alarms}" and r._field == "state" and ${FLUX_DEVICE})`,
      "  |> map(fn: (r) => ({r with _value: float(v: r._value)}))",
      "  |> keep(columns: [\"_time\", \"_value\", \"device\", \"rule\"])"
    ].join("\n")
  }]
}

const INFLUXQL_DEVICE = "\"device\" =~ /^$device$/"

const influxqlWindowField = (field: "mean" | "min" | "max") =>
  `SELECT ${field}("${field}") AS "${field}" FROM "${windows}" WHERE ${INFLUXQL_DEVICE} AND "window" = '$window' AND "metric" = '$metric' AND $timeFilter GROUP BY time($__interval) fill(none)`

const influxql: DashboardQueries = {
  variables: {
    device: `SHOW TAG VALUES FROM "${readings}" WITH KEY = "device"`,
    window: `SHOW TAG VALUES FROM "${windows}" WITH KEY = "window"`,
    metric: `SHOW TAG VALUES FROM "${windows}" WITH KEY = "metric"`
  },
  raw: (field) => [{
    refId: "A",
    resultFormat: "time_series",
    query:
      `SELECT mean("${field}") AS "${field}" FROM "${readings}" WHERE ${INFLUXQL_DEVICE} AND $timeFilter GROUP BY time($__interval), "device", "sensor" fill(none)`
  }],
  windowBand: [
    { refId: "A", resultFormat: "time_series", query: influxqlWindowField("mean") },
    { refId: "B", resultFormat: "time_series", query: influxqlWindowField("min") },
    { refId: "C", resultFormat: "time_series", query: influxqlWindowField("max") }
  ],
  temperatureVsHumidity: [{
    refId: "A",
    resultFormat: "table",
    query:
      `SELECT mean("humidity") AS "humidity", mean("temperature") AS "temperature" FROM "${readings}" WHERE ${INFLUXQL_DEVICE} AND $timeFilter GROUP BY time($__interval) fill(none)`
  }],
  activeAlarms: [{
    refId: "A",
    resultFormat: "table",
    // The inner query takes each (device, rule)'s latest state with the value written beside
    // it; the outer keeps the raised ones. No time filter: an alarm raised long ago is still active.
    query:
      `SELECT "state", "value" FROM (SELECT last("state") AS "state", "value" FROM "${alarms}" GROUP BY "device", "rule") WHERE "state" = 1 GROUP BY "device", "rule"`
  }],
  alarmEvents: [{
    refId: "A",
    resultFormat: "time_series",
    query: `SELECT "state" FROM "${alarms}" WHERE ${INFLUXQL_DEVICE} AND $timeFilter GROUP BY "device", "rule"`
  }]
}

/** The dashboard queries for `language`. */
export const dashboardQueries = (language: GrafanaQueryLanguage): DashboardQueries =>
  language === "flux" ? flux : influxql
