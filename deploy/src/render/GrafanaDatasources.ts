/**
 * Grafana provisioning for Bramble's database: one data source per query language, and the
 * dashboard provider. Nothing secret is written: Grafana expands `${VAR}` in provisioning
 * files from its own environment at startup, so URLs, tokens and passwords come from there
 * (the compose file's `environment:`, or `/etc/default/grafana-server` for an apt install).
 */
import { lines } from "./internal/text.js"

/** The two query languages Bramble ships dashboards for. */
export type GrafanaQueryLanguage = "flux" | "influxql"

/** Fixed data source uids; the dashboards reference their data source by uid. */
export const GRAFANA_DATASOURCE_UIDS: Readonly<Record<GrafanaQueryLanguage, string>> = {
  flux: "bramble-influx-flux",
  influxql: "bramble-influx-influxql"
}

/** Where the dashboard provider looks for dashboard JSON (apt installs and the compose file). */
export const GRAFANA_DASHBOARDS_PATH = "/var/lib/grafana/dashboards/bramble"

/** File names under `deploy/grafana/` (and `grafana/provisioning/` in a rendered deployment). */
export const GRAFANA_DATASOURCE_FILES: Readonly<Record<GrafanaQueryLanguage, string>> = {
  flux: "influxdb-v2.yaml",
  influxql: "influxdb-v1.yaml"
}

/** The environment variables a data source file expects Grafana to have. */
export const GRAFANA_DATASOURCE_ENV: Readonly<Record<GrafanaQueryLanguage, ReadonlyArray<string>>> = {
  flux: ["INFLUX_URL", "INFLUX_ORG", "INFLUX_BUCKET", "INFLUX_TOKEN"],
  influxql: ["INFLUX_URL", "INFLUX_DB", "INFLUX_USER", "INFLUX_PASSWORD"]
}

/** The provisioning file of the data source for `language`. */
export const renderGrafanaDatasource = (language: GrafanaQueryLanguage): string =>
  language === "flux"
    ? lines(
      "# Grafana data source for Bramble: InfluxDB 2.x queried with Flux.",
      "# Rendered by Bramble (@bramble/deploy); copy it to /etc/grafana/provisioning/datasources/.",
      "# Grafana replaces ${...} with variables from its environment when it starts:",
      "#   INFLUX_URL     e.g. http://192.168.1.10:8086 (http://influxdb:8086 in the compose file)",
      "#   INFLUX_ORG     the organization, Bramble's default is bramble",
      "#   INFLUX_BUCKET  the bucket Bramble writes to, default bramble",
      "#   INFLUX_TOKEN   a token that can read that bucket (a read-only token is enough)",
      "# Measurements: reading (raw), window (window results), alarm (alarm events).",
      "apiVersion: 1",
      "",
      "datasources:",
      "  - name: Bramble InfluxDB (Flux)",
      `    uid: ${GRAFANA_DATASOURCE_UIDS.flux}`,
      "    type: influxdb",
      "    access: proxy",
      "    url: ${INFLUX_URL}",
      "    isDefault: true",
      "    editable: false",
      "    jsonData:",
      "      version: Flux",
      "      organization: ${INFLUX_ORG}",
      "      defaultBucket: ${INFLUX_BUCKET}",
      "      # The smallest $__interval / v.windowPeriod: a DHT22 is read every 2 s at most.",
      "      timeInterval: 2s",
      "    secureJsonData:",
      "      token: ${INFLUX_TOKEN}"
    )
    : lines(
      "# Grafana data source for Bramble: InfluxDB 1.x queried with InfluxQL (32-bit Pis, sink",
      "# kind influx-v1). Rendered by Bramble (@bramble/deploy); copy it to",
      "# /etc/grafana/provisioning/datasources/.",
      "# Grafana replaces ${...} with variables from its environment when it starts:",
      "#   INFLUX_URL       e.g. http://192.168.1.10:8086 (http://influxdb:8086 in the compose file)",
      "#   INFLUX_DB        the database Bramble writes to, default bramble",
      "#   INFLUX_USER      a user that can read it (leave empty when auth is off)",
      "#   INFLUX_PASSWORD  that user's password (leave empty when auth is off)",
      "# Measurements: reading (raw), window (window results), alarm (alarm events).",
      "apiVersion: 1",
      "",
      "datasources:",
      "  - name: Bramble InfluxDB (InfluxQL)",
      `    uid: ${GRAFANA_DATASOURCE_UIDS.influxql}`,
      "    type: influxdb",
      "    access: proxy",
      "    url: ${INFLUX_URL}",
      "    isDefault: true",
      "    editable: false",
      "    user: ${INFLUX_USER}",
      "    jsonData:",
      "      dbName: ${INFLUX_DB}",
      "      httpMode: POST",
      "      # The smallest $__interval: a DHT22 is read every 2 s at most.",
      "      timeInterval: 2s",
      "    secureJsonData:",
      "      password: ${INFLUX_PASSWORD}"
    )

/** The dashboard provider: loads every dashboard JSON under `GRAFANA_DASHBOARDS_PATH`. */
export const renderGrafanaDashboardProvider = (): string =>
  lines(
    "# Grafana dashboard provider for Bramble. Rendered by Bramble (@bramble/deploy); copy it to",
    "# /etc/grafana/provisioning/dashboards/ and put the dashboard for your database in",
    `# ${GRAFANA_DASHBOARDS_PATH}/ (bramble-flux.json for InfluxDB 2.x,`,
    "# bramble-influxql.json for InfluxDB 1.x). Each dashboard names its data source by uid.",
    "apiVersion: 1",
    "",
    "providers:",
    "  - name: bramble",
    "    orgId: 1",
    "    folder: Bramble",
    "    folderUid: bramble",
    "    type: file",
    "    disableDeletion: false",
    "    # The JSON files are the source of truth: edits in the UI are not saved back.",
    "    allowUiUpdates: false",
    "    updateIntervalSeconds: 60",
    "    options:",
    `      path: ${GRAFANA_DASHBOARDS_PATH}`,
    "      foldersFromFilesStructure: false"
  )
