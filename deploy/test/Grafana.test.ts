import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { parse as parseYaml, parseDocument } from "yaml"
import {
  BRAMBLE_MEASUREMENTS,
  dashboardQueries,
  GRAFANA_DASHBOARD_FILES,
  GRAFANA_DASHBOARD_UIDS,
  GRAFANA_DASHBOARDS_PATH,
  GRAFANA_DATASOURCE_ENV,
  GRAFANA_DATASOURCE_FILES,
  GRAFANA_DATASOURCE_UIDS,
  type GrafanaQueryLanguage,
  grafanaProvisioningFiles,
  scopedTempDir,
  startInfluxDb1
} from "../src/index.js"
import { assertGolden, listFiles } from "./support/Golden.js"

const here = dirname(fileURLToPath(import.meta.url))
const grafanaDir = join(here, "../grafana")
const read = (path: string) => readFileSync(join(grafanaDir, path), "utf8")
const LANGUAGES: ReadonlyArray<GrafanaQueryLanguage> = ["flux", "influxql"]
const count = (text: string, char: string) => text.split(char).length - 1

interface Target {
  readonly refId: string
  readonly query: string
  readonly datasource: { readonly type: string; readonly uid: string }
  readonly resultFormat?: string
  readonly rawQuery?: boolean
}
interface Panel {
  readonly id: number
  readonly type: string
  readonly title: string
  readonly repeat?: string
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number }
  readonly datasource: { readonly type: string; readonly uid: string }
  readonly targets: ReadonlyArray<Target>
  readonly fieldConfig: { readonly overrides: ReadonlyArray<{ readonly matcher: { readonly id: string; readonly options: unknown }; readonly properties: ReadonlyArray<{ readonly id: string; readonly value: unknown }> }> }
  readonly options: Record<string, unknown>
}
interface Dashboard {
  readonly uid: string
  readonly title: string
  readonly schemaVersion: number
  readonly panels: ReadonlyArray<Panel>
  readonly templating: { readonly list: ReadonlyArray<{ readonly name: string; readonly query: string; readonly multi: boolean; readonly includeAll: boolean; readonly datasource: { readonly uid: string } }> }
}
interface DatasourceFile {
  readonly apiVersion: number
  readonly datasources: ReadonlyArray<{ readonly name: string; readonly uid: string; readonly type: string; readonly url: string; readonly jsonData: Record<string, unknown>; readonly secureJsonData: Record<string, string> }>
}

const dashboard = (language: GrafanaQueryLanguage): Dashboard => JSON.parse(read(`dashboards/${GRAFANA_DASHBOARD_FILES[language]}`)) as Dashboard
const datasourceFile = (language: GrafanaQueryLanguage): DatasourceFile =>
  parseYaml(read(`datasources/${GRAFANA_DATASOURCE_FILES[language]}`)) as DatasourceFile

/** Every `datasource.uid` anywhere in a JSON value. */
const datasourceUids = (value: unknown, out = new Set<string>()): Set<string> => {
  if (Array.isArray(value)) for (const item of value) datasourceUids(item, out)
  else if (value !== null && typeof value === "object") {
    for (const [key, child] of Object.entries(value)) {
      if (key === "datasource" && child !== null && typeof child === "object" && "uid" in child) out.add(String(child.uid))
      else datasourceUids(child, out)
    }
  }
  return out
}

const panelOfType = (d: Dashboard, type: string, title?: RegExp): Panel => {
  const found = d.panels.filter((p) => p.type === type && (title === undefined || title.test(p.title)))
  assert.strictEqual(found.length, 1, `one ${type} panel ${title ?? ""} in ${d.uid}`)
  return found[0]!
}

describe("Grafana provisioning", () => {
  it("golden - deploy/grafana holds exactly what the generators render", () => {
    assertGolden(grafanaDir, grafanaProvisioningFiles())
  })

  it("every JSON file parses, every YAML file parses", () => {
    const files = listFiles(grafanaDir)
    assert.deepStrictEqual(files, [
      "dashboards/bramble-flux.json",
      "dashboards/bramble-influxql.json",
      "dashboards/dashboards.yaml",
      "datasources/influxdb-v1.yaml",
      "datasources/influxdb-v2.yaml"
    ])
    for (const path of files) {
      if (path.endsWith(".json")) assert.doesNotThrow(() => JSON.parse(read(path)), path)
      else assert.deepStrictEqual(parseDocument(read(path)).errors.map((e) => e.message), [], path)
    }
  })

  it("data sources - fixed uids, Flux for 2.x, InfluxQL for 1.x, every value from the environment", () => {
    for (const language of LANGUAGES) {
      const file = datasourceFile(language)
      assert.strictEqual(file.apiVersion, 1)
      assert.strictEqual(file.datasources.length, 1)
      const ds = file.datasources[0]!
      assert.strictEqual(ds.uid, GRAFANA_DATASOURCE_UIDS[language])
      assert.strictEqual(ds.type, "influxdb")
      assert.strictEqual(ds.url, "${INFLUX_URL}")
      if (language === "flux") {
        assert.strictEqual(ds.jsonData.version, "Flux")
        assert.strictEqual(ds.jsonData.organization, "${INFLUX_ORG}")
        assert.strictEqual(ds.jsonData.defaultBucket, "${INFLUX_BUCKET}")
        assert.deepStrictEqual(ds.secureJsonData, { token: "${INFLUX_TOKEN}" })
      } else {
        assert.isUndefined(ds.jsonData.version)
        assert.strictEqual(ds.jsonData.dbName, "${INFLUX_DB}")
        assert.deepStrictEqual(ds.secureJsonData, { password: "${INFLUX_PASSWORD}" })
      }
      // Every ${VAR} in the file is one the docs (GRAFANA_DATASOURCE_ENV) tell people to set.
      const used = new Set([...read(`datasources/${GRAFANA_DATASOURCE_FILES[language]}`).matchAll(/^[^#]*?\$\{([A-Z_]+)\}/gm)].map((m) => m[1]))
      assert.deepStrictEqual([...used].sort(), [...GRAFANA_DATASOURCE_ENV[language]].sort())
    }
  })

  it("the dashboard provider loads dashboards from where the compose file and the README put them", () => {
    const provider = parseYaml(read("dashboards/dashboards.yaml")) as { providers: ReadonlyArray<{ type: string; options: { path: string } }> }
    assert.strictEqual(provider.providers.length, 1)
    assert.strictEqual(provider.providers[0]!.type, "file")
    assert.strictEqual(provider.providers[0]!.options.path, GRAFANA_DASHBOARDS_PATH)
  })

  it("dashboards - reference only their own data source, by a uid the provisioning defines", () => {
    const defined = new Map(LANGUAGES.map((l) => [l, datasourceFile(l).datasources.map((d) => d.uid)]))
    for (const language of LANGUAGES) {
      const uids = datasourceUids(dashboard(language))
      uids.delete("-- Grafana --")
      assert.deepStrictEqual([...uids], defined.get(language), language)
    }
  })

  it("dashboards - fixed uids, schemaVersion 39, unique panel ids, a 24-column grid without overlaps", () => {
    const uids = LANGUAGES.map((l) => dashboard(l).uid)
    assert.deepStrictEqual(uids, [GRAFANA_DASHBOARD_UIDS.flux, GRAFANA_DASHBOARD_UIDS.influxql])
    for (const language of LANGUAGES) {
      const d = dashboard(language)
      assert.strictEqual(d.schemaVersion, 39)
      const ids = d.panels.map((p) => p.id)
      assert.strictEqual(new Set(ids).size, ids.length)
      for (const p of d.panels) assert.isAtMost(p.gridPos.x + p.gridPos.w, 24, p.title)
      for (const a of d.panels) {
        for (const b of d.panels) {
          if (a === b) continue
          const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w &&
            a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h
          assert.isFalse(overlap, `${a.title} overlaps ${b.title}`)
        }
      }
    }
  })

  it("dashboards - have the expected panels, and each queries the right measurement", () => {
    const { alarms, readings, windows } = BRAMBLE_MEASUREMENTS
    for (const language of LANGUAGES) {
      const d = dashboard(language)
      const queries = (p: Panel) => p.targets.map((t) => t.query)
      const mentions = (p: Panel, ...words: ReadonlyArray<string>) => {
        assert.isAbove(p.targets.length, 0, p.title)
        for (const q of queries(p)) for (const w of words) assert.include(q, w, `${language} ${p.title}`)
      }
      // Flux compares `r._measurement == "reading"`, InfluxQL selects `FROM "reading"`.
      const quoted = (name: string) => `"${name}"`

      mentions(panelOfType(d, "timeseries", /^Temperature/), quoted(readings), "temperature")
      mentions(panelOfType(d, "timeseries", /^Humidity/), quoted(readings), "humidity")

      const band = d.panels.find((p) => p.repeat === "device")!
      assert.isDefined(band, "a window panel repeated per device")
      assert.strictEqual(band.type, "timeseries")
      mentions(band, quoted(windows), language === "flux" ? "${window}" : "$window", language === "flux" ? "${metric}" : "$metric")
      assert.deepStrictEqual(band.targets.map((t) => t.refId), ["A", "B", "C"])
      assert.deepStrictEqual(band.targets.map((t) => /(mean|min|max)\(/.exec(t.query)?.[1] ?? /fn: (mean|min|max)/.exec(t.query)?.[1]), ["mean", "min", "max"])
      const fill = band.fieldConfig.overrides.flatMap((o) => o.properties).find((p) => p.id === "custom.fillBelowTo")
      assert.strictEqual(fill?.value, "min", "the max series fills down to the min series")

      const xy = panelOfType(d, "xychart")
      mentions(xy, quoted(readings), "temperature", "humidity")
      assert.deepStrictEqual((xy.options.dims as { x: string }).x, "humidity")

      const active = panelOfType(d, "table", /Active alarms/)
      mentions(active, quoted(alarms), "state")
      const events = panelOfType(d, "state-timeline", /Alarm events/)
      mentions(events, quoted(alarms), "state")

      assert.strictEqual(d.panels.length, 6)
      for (const p of d.panels) {
        for (const t of p.targets) {
          if (language === "influxql") {
            assert.isTrue(t.rawQuery, p.title)
            assert.include(["time_series", "table"], t.resultFormat)
          } else {
            assert.match(t.query, /from\(bucket: v\.defaultBucket\)\n {2}\|> range\(start: /, p.title)
            assert.strictEqual(count(t.query, "("), count(t.query, ")"), `${p.title}: balanced parentheses`)
          }
        }
      }
    }
  })

  it("dashboards - template variables device (multi, All), window and metric, each used by the queries", () => {
    for (const language of LANGUAGES) {
      const d = dashboard(language)
      const vars = d.templating.list
      assert.deepStrictEqual(vars.map((v) => v.name), ["device", "window", "metric"])
      assert.isTrue(vars[0]!.multi && vars[0]!.includeAll)
      assert.isFalse(vars[1]!.multi)
      for (const v of vars) assert.strictEqual(v.datasource.uid, GRAFANA_DATASOURCE_UIDS[language])
      const text = d.panels.flatMap((p) => p.targets.map((t) => t.query)).join("\n")
      for (const v of vars) assert.match(text, new RegExp(`\\$\\{?${v.name}[}:]?`), v.name)
      // Nothing refers to a variable that does not exist.
      const referenced = new Set([...text.matchAll(/\$\{?([a-z]\w*)/g)].map((m) => m[1]!))
      for (const name of referenced) assert.include([...vars.map((v) => v.name), "timeFilter"], name)
    }
  })

  it.live("influxql - every panel's query returns what it should from a real InfluxDB 1.x", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const influx = yield* startInfluxDb1({ dir, database: "bramble" })
      const T0 = 1_700_000_040_000 // on a minute boundary
      const m = (i: number) => T0 + i * 60_000
      const lines = [
        ...[0, 1, 2, 3, 4].flatMap((i) => [
          `reading,device=d1,sensor=env temperature=${20 + i},humidity=${40 + i} ${m(i)}`,
          `reading,device=d2,sensor=env temperature=${10 + i},humidity=${50 + i} ${m(i)}`,
          `window,device=d1,sensor=env,metric=temperature,window=1m count=3i,mean=${20 + i},min=${19 + i},max=${21 + i},first=0,last=0,stddev=1 ${m(i)}`,
          `window,device=d1,sensor=env,metric=humidity,window=1m count=3i,mean=99,min=99,max=99,first=0,last=0,stddev=0 ${m(i)}`
        ]),
        `window,device=d1,sensor=env,metric=temperature,window=30m count=90i,mean=77,min=77,max=77,first=0,last=0,stddev=0 ${m(0)}`,
        `alarm,device=d1,rule=hot state=1,value=31 ${T0 + 10_000}`,
        `alarm,device=d1,rule=hot state=0,value=25 ${T0 + 70_000}`,
        `alarm,device=d2,rule=dry state=1,value=10 ${T0 + 30_000}`,
        `alarm,device=d2,rule=dry state=0,value=20 ${T0 + 60_000}`,
        `alarm,device=d2,rule=dry state=1,value=11 ${T0 + 90_000}`,
        `alarm,device=d2,rule=hot state=1,value=35 ${T0 + 120_000}`
      ]
      const written = yield* Effect.promise(() =>
        fetch(`${influx.url}/write?db=bramble&precision=ms`, { method: "POST", body: lines.join("\n") })
      )
      assert.strictEqual(written.status, 204)

      const query = (text: string, vars: { device: string }) =>
        Effect.promise(async () => {
          const q = text
            .replaceAll("$timeFilter", `time >= ${T0 - 3_600_000}ms and time <= ${T0 + 3_600_000}ms`)
            .replaceAll("$__interval", "1m")
            .replaceAll("$device", vars.device)
            .replaceAll("$window", "1m")
            .replaceAll("$metric", "temperature")
          const response = await fetch(`${influx.url}/query?${new URLSearchParams({ db: "bramble", epoch: "ms", q })}`)
          const body = (await response.json()) as {
            results: ReadonlyArray<{ error?: string; series?: ReadonlyArray<{ tags?: Record<string, string>; columns: Array<string>; values: Array<Array<number | string>> }> }>
          }
          assert.isUndefined(body.results[0]?.error, `${q}: ${body.results[0]?.error}`)
          return body.results[0]?.series ?? []
        })
      const q = dashboardQueries("influxql")
      const all = { device: "(d1|d2)" }
      const one = { device: "d1" }

      const temperature = yield* query(q.raw("temperature")[0]!.query, all)
      assert.deepStrictEqual(temperature.map((s) => s.tags), [{ device: "d1", sensor: "env" }, { device: "d2", sensor: "env" }])
      assert.deepStrictEqual(temperature[0]!.values, [0, 1, 2, 3, 4].map((i) => [m(i), 20 + i]))
      const humidity = yield* query(q.raw("humidity")[0]!.query, one)
      assert.deepStrictEqual(humidity.map((s) => s.values), [[0, 1, 2, 3, 4].map((i) => [m(i), 40 + i])])

      const band = yield* Effect.forEach(q.windowBand, (t) => query(t.query, one))
      assert.deepStrictEqual(band.map((series) => series.map((s) => s.values)), [
        [[0, 1, 2, 3, 4].map((i) => [m(i), 20 + i])],
        [[0, 1, 2, 3, 4].map((i) => [m(i), 19 + i])],
        [[0, 1, 2, 3, 4].map((i) => [m(i), 21 + i])]
      ])

      const xy = yield* query(q.temperatureVsHumidity[0]!.query, all)
      assert.strictEqual(xy.length, 1)
      assert.deepStrictEqual(xy[0]!.columns, ["time", "humidity", "temperature"])
      assert.deepStrictEqual(xy[0]!.values, [0, 1, 2, 3, 4].map((i) => [m(i), 45 + i, 15 + i]))

      const active = yield* query(q.activeAlarms[0]!.query, all)
      assert.deepStrictEqual(
        active.map((s) => ({ tags: s.tags, values: s.values })),
        [
          { tags: { device: "d2", rule: "dry" }, values: [[T0 + 90_000, 1, 11]] },
          { tags: { device: "d2", rule: "hot" }, values: [[T0 + 120_000, 1, 35]] }
        ]
      )

      const events = yield* query(q.alarmEvents[0]!.query, one)
      assert.deepStrictEqual(events.map((s) => ({ tags: s.tags, values: s.values })), [
        { tags: { device: "d1", rule: "hot" }, values: [[T0 + 10_000, 1], [T0 + 70_000, 0]] }
      ])

      const values = (series: ReadonlyArray<{ values: Array<Array<number | string>> }>) => series.flatMap((s) => s.values.map((v) => v[1]))
      assert.deepStrictEqual(values(yield* query(q.variables.device, all)), ["d1", "d2"])
      assert.deepStrictEqual(values(yield* query(q.variables.window, all)), ["1m", "30m"])
      assert.deepStrictEqual(values(yield* query(q.variables.metric, all)), ["humidity", "temperature"])
    }))
})
