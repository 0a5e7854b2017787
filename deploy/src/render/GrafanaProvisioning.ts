/**
 * The set of Grafana provisioning files: what `deploy/grafana/` holds (both languages), and
 * the subset a rendered deployment ships for its database (one data source, one dashboard),
 * laid out the way the compose file mounts it.
 */
import { GRAFANA_DASHBOARD_FILES, renderGrafanaDashboard } from "./GrafanaDashboards.js"
import {
  GRAFANA_DATASOURCE_FILES,
  type GrafanaQueryLanguage,
  renderGrafanaDashboardProvider,
  renderGrafanaDatasource
} from "./GrafanaDatasources.js"
import { type RenderedFile, sortRenderedFiles } from "./RenderedFile.js"

const LANGUAGES: ReadonlyArray<GrafanaQueryLanguage> = ["flux", "influxql"]

/**
 * Everything under `deploy/grafana/`, paths relative to it: `datasources/influxdb-v2.yaml`,
 * `datasources/influxdb-v1.yaml`, `dashboards/dashboards.yaml`, `dashboards/bramble-flux.json`,
 * `dashboards/bramble-influxql.json`.
 */
export const grafanaProvisioningFiles = (): ReadonlyArray<RenderedFile> =>
  sortRenderedFiles([
    ...LANGUAGES.map((language) => ({
      path: `datasources/${GRAFANA_DATASOURCE_FILES[language]}`,
      content: renderGrafanaDatasource(language)
    })),
    { path: "dashboards/dashboards.yaml", content: renderGrafanaDashboardProvider() },
    ...LANGUAGES.map((language) => ({
      path: `dashboards/${GRAFANA_DASHBOARD_FILES[language]}`,
      content: renderGrafanaDashboard(language)
    }))
  ])

/**
 * The files for one database, relative to a `grafana/` directory: `provisioning/datasources/…`
 * and `provisioning/dashboards/dashboards.yaml` (mount on `/etc/grafana/provisioning`), and
 * `dashboards/…json` (mount on `/var/lib/grafana/dashboards/bramble`).
 */
export const grafanaFilesFor = (language: GrafanaQueryLanguage): ReadonlyArray<RenderedFile> =>
  sortRenderedFiles([
    { path: `provisioning/datasources/${GRAFANA_DATASOURCE_FILES[language]}`, content: renderGrafanaDatasource(language) },
    { path: "provisioning/dashboards/dashboards.yaml", content: renderGrafanaDashboardProvider() },
    { path: `dashboards/${GRAFANA_DASHBOARD_FILES[language]}`, content: renderGrafanaDashboard(language) }
  ])
