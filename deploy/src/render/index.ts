/**
 * Deployment rendering: from the cluster file to the files installed on each Pi (systemd
 * unit, env file, nats-server.conf, install notes), the master Pi's compose file, and the
 * Grafana provisioning checked in under `deploy/grafana/`.
 */
export { type RenderDeploymentOptions, renderDeployment } from "./Deployment.js"
export { deploymentWarnings } from "./DeploymentWarnings.js"
export { COMPOSE_IMAGES, type DockerComposeInput, renderDockerCompose } from "./DockerCompose.js"
export {
  GRAFANA_DASHBOARD_FILES,
  GRAFANA_DASHBOARD_UIDS,
  GRAFANA_SCHEMA_VERSION,
  grafanaDashboard,
  renderGrafanaDashboard
} from "./GrafanaDashboards.js"
export {
  GRAFANA_DASHBOARDS_PATH,
  GRAFANA_DATASOURCE_ENV,
  GRAFANA_DATASOURCE_FILES,
  GRAFANA_DATASOURCE_UIDS,
  type GrafanaQueryLanguage,
  renderGrafanaDashboardProvider,
  renderGrafanaDatasource
} from "./GrafanaDatasources.js"
export { grafanaFilesFor, grafanaProvisioningFiles } from "./GrafanaProvisioning.js"
export { BRAMBLE_MEASUREMENTS, type DashboardQueries, type DashboardQuery, dashboardQueries } from "./GrafanaQueries.js"
export { heapLimitOption, nodeMemoryOptions, nodeOptionsWithHeapLimit, SEMI_SPACE_OPTION } from "./HeapLimit.js"
export { type NodeEnvFileOptions, renderNodeEnvFile } from "./NodeEnvFile.js"
export { type NodeReadmeInput, renderNodeReadme } from "./NodeReadme.js"
export { type RenderedFile, renderedFileMode, sortRenderedFiles } from "./RenderedFile.js"
export { composeSecretEnv, type SinkSecret, sinkSecret } from "./SinkSecret.js"
export { NODE_INSTALL_DEFAULTS, type NodeUnitOptions, renderNodeUnit } from "./SystemdUnit.js"
export { writeRenderedFiles } from "./WriteRenderedFiles.js"
