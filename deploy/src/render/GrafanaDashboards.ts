/**
 * Bramble's Grafana dashboards, built from one layout so the Flux (InfluxDB 2.x) and InfluxQL
 * (InfluxDB 1.x) dashboards always have the same panels; only the queries differ
 * (`GrafanaQueries.ts`). The JSON in `deploy/grafana/dashboards/` is this module's output,
 * checked in so Grafana can load it without Bramble, and a test keeps the two identical.
 *
 * Panels: raw temperature and humidity per device; the chosen window's mean with a min–max
 * band, one panel per device; temperature against humidity (XY chart); active alarms
 * (latest state 1); alarm events over time. Written for Grafana 10.4+ (schemaVersion 39);
 * the XY chart uses the pre-11 option layout with no `pluginVersion`, which Grafana 11
 * migrates on load.
 */
import { GRAFANA_DATASOURCE_UIDS, type GrafanaQueryLanguage } from "./GrafanaDatasources.js"
import { type DashboardQuery, dashboardQueries } from "./GrafanaQueries.js"

/** Fixed dashboard uids (links and bookmarks survive re-provisioning). */
export const GRAFANA_DASHBOARD_UIDS: Readonly<Record<GrafanaQueryLanguage, string>> = {
  flux: "bramble-flux",
  influxql: "bramble-influxql"
}

/** Dashboard file names under `deploy/grafana/dashboards/`. */
export const GRAFANA_DASHBOARD_FILES: Readonly<Record<GrafanaQueryLanguage, string>> = {
  flux: "bramble-flux.json",
  influxql: "bramble-influxql.json"
}

/** The Grafana dashboard schema version the JSON is written in. */
export const GRAFANA_SCHEMA_VERSION = 39

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }
type JsonObject = { readonly [key: string]: Json }

interface GridPos extends JsonObject {
  readonly x: number
  readonly y: number
  readonly w: number
  readonly h: number
}

const SERIES_NAME = "${__field.labels.device}/${__field.labels.sensor}"

const byRefId = (refId: string, properties: ReadonlyArray<JsonObject>): JsonObject => ({
  matcher: { id: "byFrameRefID", options: refId },
  properties
})

const target = (language: GrafanaQueryLanguage, datasource: JsonObject, query: DashboardQuery): JsonObject =>
  language === "flux"
    ? { datasource, refId: query.refId, query: query.query }
    : {
      datasource,
      refId: query.refId,
      query: query.query,
      rawQuery: true,
      resultFormat: query.resultFormat ?? "time_series"
    }

const legend = (placement: "bottom" | "right" = "bottom"): JsonObject => ({
  calcs: [],
  displayMode: "list",
  placement,
  showLegend: true
})

const timeseriesDefaults = (unit: string, extra: JsonObject = {}): JsonObject => ({
  color: { mode: "palette-classic" },
  custom: {
    axisPlacement: "auto",
    drawStyle: "line",
    fillOpacity: 0,
    lineInterpolation: "linear",
    lineWidth: 1,
    pointSize: 4,
    showPoints: "never",
    spanNulls: false
  },
  unit,
  ...extra
})

/** The dashboard for `language`, as a JSON value (what Grafana stores). */
export const grafanaDashboard = (language: GrafanaQueryLanguage): JsonObject => {
  const queries = dashboardQueries(language)
  const datasource: JsonObject = { type: "influxdb", uid: GRAFANA_DATASOURCE_UIDS[language] }
  const targets = (list: ReadonlyArray<DashboardQuery>) => list.map((q) => target(language, datasource, q))
  const panel = (id: number, type: string, title: string, gridPos: GridPos, body: JsonObject): JsonObject => ({
    id,
    type,
    title,
    datasource,
    gridPos,
    ...body
  })

  const raw = (id: number, field: "temperature" | "humidity", unit: string, x: number) =>
    panel(id, "timeseries", `${field === "temperature" ? "Temperature" : "Humidity"} (raw readings)`, { x, y: 0, w: 12, h: 8 }, {
      description: `Field ${field} of measurement reading, per device and sensor, averaged over the panel's interval.`,
      targets: targets(queries.raw(field)),
      fieldConfig: { defaults: timeseriesDefaults(unit, { displayName: SERIES_NAME }), overrides: [] },
      options: { legend: legend(), tooltip: { mode: "multi", sort: "desc" } }
    })

  const bandColor = { mode: "fixed", fixedColor: "blue" }
  const windowBand = panel(3, "timeseries", "$metric, $window windows: mean, min–max band ($device)", { x: 0, y: 8, w: 12, h: 8 }, {
    description:
      "Window results (measurement window) of the chosen window and metric: the mean as a line, the band from the smallest min to the largest max in each interval. One panel per device.",
    repeat: "device",
    repeatDirection: "h",
    maxPerRow: 2,
    targets: targets(queries.windowBand),
    fieldConfig: {
      defaults: timeseriesDefaults("none", { color: bandColor }),
      overrides: [
        byRefId("A", [{ id: "displayName", value: "mean" }, { id: "custom.lineWidth", value: 2 }]),
        byRefId("B", [{ id: "displayName", value: "min" }, { id: "custom.lineWidth", value: 0 }]),
        byRefId("C", [
          { id: "displayName", value: "max" },
          { id: "custom.lineWidth", value: 0 },
          { id: "custom.fillBelowTo", value: "min" },
          { id: "custom.fillOpacity", value: 20 }
        ])
      ]
    },
    options: { legend: legend(), tooltip: { mode: "multi", sort: "none" } }
  })

  const scatter = panel(4, "xychart", "Temperature against humidity", { x: 0, y: 16, w: 12, h: 9 }, {
    description: "Raw readings of the selected devices, averaged per interval: humidity on x, temperature on y.",
    targets: targets(queries.temperatureVsHumidity),
    fieldConfig: {
      defaults: {
        color: { mode: "palette-classic" },
        custom: {
          axisPlacement: "auto",
          hideFrom: { legend: false, tooltip: false, viz: false },
          pointSize: { fixed: 4 },
          show: "points"
        },
        unit: "none"
      },
      overrides: [
        { matcher: { id: "byName", options: "humidity" }, properties: [{ id: "unit", value: "humidity" }] },
        { matcher: { id: "byName", options: "temperature" }, properties: [{ id: "unit", value: "celsius" }] }
      ]
    },
    options: {
      seriesMapping: "auto",
      dims: { frame: 0, x: "humidity", exclude: [] },
      series: [],
      legend: legend(),
      tooltip: { mode: "single", sort: "none" }
    }
  })

  const activeAlarms = panel(5, "table", "Active alarms", { x: 12, y: 16, w: 12, h: 9 }, {
    description: "Every (device, rule) whose latest alarm state is 1 (raised), with the value that raised it.",
    targets: targets(queries.activeAlarms),
    transformations: [
      { id: "merge", options: {} },
      {
        id: "organize",
        options: {
          excludeByName: { state: true },
          indexByName: { Time: 0, _time: 0, device: 1, rule: 2, value: 3 },
          renameByName: { Time: "Raised", _time: "Raised", device: "Device", rule: "Rule", value: "Value" }
        }
      }
    ],
    fieldConfig: {
      defaults: { custom: { align: "auto", cellOptions: { type: "auto" } }, color: { mode: "thresholds" } },
      overrides: [
        {
          matcher: { id: "byName", options: "Rule" },
          properties: [{ id: "custom.cellOptions", value: { type: "color-text" } }, { id: "color", value: { mode: "fixed", fixedColor: "red" } }]
        }
      ]
    },
    options: { showHeader: true, cellHeight: "sm", footer: { show: false, reducer: ["count"], countRows: false, fields: "" } }
  })

  const alarmEvents = panel(6, "state-timeline", "Alarm events", { x: 0, y: 25, w: 24, h: 8 }, {
    description: "Alarm state over time per device and rule: raised (1) or cleared (0).",
    targets: targets(queries.alarmEvents),
    fieldConfig: {
      defaults: {
        color: { mode: "thresholds" },
        custom: { fillOpacity: 80, lineWidth: 0 },
        displayName: "${__field.labels.device} ${__field.labels.rule}",
        mappings: [{
          type: "value",
          options: { "0": { index: 0, text: "cleared", color: "green" }, "1": { index: 1, text: "raised", color: "red" } }
        }],
        thresholds: { mode: "absolute", steps: [{ color: "green", value: null }, { color: "red", value: 1 }] }
      },
      overrides: []
    },
    options: {
      mergeValues: true,
      showValue: "auto",
      alignValue: "left",
      rowHeight: 0.9,
      legend: legend(),
      tooltip: { mode: "single", sort: "none" }
    }
  })

  const variable = (name: string, label: string, query: string, extra: JsonObject): JsonObject => ({
    name,
    label,
    type: "query",
    datasource,
    query,
    definition: query,
    refresh: 2,
    regex: "",
    sort: 1,
    hide: 0,
    skipUrlSync: false,
    options: [],
    ...extra
  })

  return {
    annotations: {
      list: [{
        builtIn: 1,
        datasource: { type: "grafana", uid: "-- Grafana --" },
        enable: true,
        hide: true,
        iconColor: "rgba(0, 211, 255, 1)",
        name: "Annotations & Alerts",
        type: "dashboard"
      }]
    },
    description: `Bramble sensors, window results and alarms (${language === "flux" ? "InfluxDB 2.x, Flux" : "InfluxDB 1.x, InfluxQL"}).`,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: [],
    panels: [
      raw(1, "temperature", "celsius", 0),
      raw(2, "humidity", "humidity", 12),
      windowBand,
      scatter,
      activeAlarms,
      alarmEvents
    ],
    refresh: "30s",
    schemaVersion: GRAFANA_SCHEMA_VERSION,
    tags: ["bramble", language],
    templating: {
      list: [
        variable("device", "Device", queries.variables.device, {
          multi: true,
          includeAll: true,
          current: { selected: true, text: ["All"], value: ["$__all"] }
        }),
        variable("window", "Window", queries.variables.window, {
          multi: false,
          includeAll: false,
          current: { selected: true, text: "1m", value: "1m" }
        }),
        variable("metric", "Metric", queries.variables.metric, {
          multi: false,
          includeAll: false,
          current: { selected: true, text: "temperature", value: "temperature" }
        })
      ]
    },
    time: { from: "now-6h", to: "now" },
    timepicker: {},
    timezone: "browser",
    title: language === "flux" ? "Bramble (Flux)" : "Bramble (InfluxQL)",
    uid: GRAFANA_DASHBOARD_UIDS[language],
    version: 1,
    weekStart: ""
  }
}

/** The dashboard for `language` as the JSON text of `deploy/grafana/dashboards/`. */
export const renderGrafanaDashboard = (language: GrafanaQueryLanguage): string =>
  `${JSON.stringify(grafanaDashboard(language), null, 2)}\n`
