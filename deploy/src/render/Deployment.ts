/**
 * From one cluster file to everything needed to install Bramble on a cluster of Pis: per
 * node, its nats-server.conf, systemd unit, env file and install notes; for the master Pi
 * (the first node), a docker-compose.yml with InfluxDB and Grafana and the Grafana
 * provisioning it mounts. Rendering is pure and deterministic — same input, same bytes, in
 * path order — so the output can be diffed, reviewed and kept in version control.
 */
import type { ClusterConfig } from "@bramble/config"
import { posix } from "node:path"
import { renderNatsServerConf } from "../nats/NatsServerConf.js"
import { natsSpecForNode } from "../nats/NodeNatsSpec.js"
import { serverSecurityFor } from "../security/Credentials.js"
import { deploymentWarnings } from "./DeploymentWarnings.js"
import { renderDockerCompose } from "./DockerCompose.js"
import { grafanaFilesFor } from "./GrafanaProvisioning.js"
import { checkInstallPath } from "./internal/text.js"
import { renderNodeEnvFile } from "./NodeEnvFile.js"
import { renderNodeReadme } from "./NodeReadme.js"
import { type RenderedFile, sortRenderedFiles } from "./RenderedFile.js"
import { NODE_INSTALL_DEFAULTS, renderNodeUnit } from "./SystemdUnit.js"

/** Where things live on the Pis. Every path is absolute, without spaces, quotes, `$` or `%`. */
export interface RenderDeploymentOptions {
  /** The `bramble` executable. Default `/usr/local/bin/bramble`. */
  readonly binPath?: string
  /** Nodes keep their data in `<dataDir>/<node>/` (JetStream in `jetstream/`). Default `/var/lib/bramble`. */
  readonly dataDir?: string
  /** The cluster file on each Pi. Default `/etc/bramble/cluster.yaml`; the env file goes beside it. */
  readonly configPath?: string
  /**
   * User name to bcrypt hash, as `bramble deploy creds` wrote them (`readPasswordHashes`).
   * Required when the cluster file has a security section: the servers' users are rendered
   * with them. Hashes only; a rendered deployment never holds a password or a key.
   */
  readonly passwordHashes?: ReadonlyMap<string, string>
}

/**
 * Renders a deployment of `config`. Paths are relative to the output directory:
 *
 * - `<node>/nats-server.conf` (not for nodes with `nats.url`), `<node>/bramble-node.service`,
 *   `<node>/bramble.env`, `<node>/README.md` for every node;
 * - `docker-compose.yml`, `grafana/provisioning/…` and `grafana/dashboards/…` for the master Pi.
 *
 * Throws a `RangeError` for a relative or unsafe path option, a sink secret variable that
 * is not a valid environment variable name, or a secured cluster file without the hash of
 * every user it implies.
 */
export const renderDeployment = (
  config: ClusterConfig,
  options: RenderDeploymentOptions = {}
): ReadonlyArray<RenderedFile> => {
  const binPath = checkInstallPath("binPath", options.binPath ?? NODE_INSTALL_DEFAULTS.binPath)
  const dataDir = checkInstallPath("dataDir", options.dataDir ?? NODE_INSTALL_DEFAULTS.dataDir)
  const configPath = checkInstallPath("configPath", options.configPath ?? NODE_INSTALL_DEFAULTS.configPath)
  const envPath = posix.join(posix.dirname(configPath), "bramble.env")
  // What the node will render on the Pi once the installed cluster file says this dataDir.
  const installed: ClusterConfig = { ...config, cluster: { ...config.cluster, dataDir } }
  const warnings = deploymentWarnings(config, dataDir)
  const files: Array<RenderedFile> = []
  const specOf = (name: string) => {
    if (installed.security === undefined) return natsSpecForNode(installed, name)
    if (options.passwordHashes === undefined) {
      throw new RangeError("the cluster file has a security section: render with the password hashes `bramble deploy creds` wrote")
    }
    return natsSpecForNode(installed, name, { security: serverSecurityFor(installed, name, options.passwordHashes) })
  }

  config.nodes.forEach((node, index) => {
    const spec = specOf(node.name)
    if (spec !== undefined) files.push({ path: `${node.name}/nats-server.conf`, content: renderNatsServerConf(spec) })
    files.push(
      { path: `${node.name}/bramble-node.service`, content: renderNodeUnit({ node: node.name, binPath, configPath, envPath, dataDir, heapLimit: node.heapLimit }) },
      { path: `${node.name}/bramble.env`, content: renderNodeEnvFile(config, node.name, { configPath, envPath }) },
      {
        path: `${node.name}/README.md`,
        content: renderNodeReadme({ config, node: node.name, spec, binPath, configPath, envPath, dataDir, warnings, master: index === 0 })
      }
    )
  })

  const first = config.nodes[0]
  if (first !== undefined) {
    files.push({ path: "docker-compose.yml", content: renderDockerCompose({ config, natsSpec: specOf(first.name) }) })
    const language = config.sink.kind === "influx-v2" ? "flux" : "influxql"
    for (const file of grafanaFilesFor(language)) files.push({ path: `grafana/${file.path}`, content: file.content })
  }

  return sortRenderedFiles(files)
}
