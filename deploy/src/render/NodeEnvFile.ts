/**
 * A node's environment file (`/etc/bramble/bramble.env`): which node this Pi is, where the
 * cluster file is, and a placeholder for the database secret the cluster file names. It is
 * rendered with the secret left empty — a rendered deployment never contains a secret — and
 * the person installing it pastes the value in on the Pi.
 */
import type { ClusterConfig } from "@bramble/config"
import { nodeMemoryOptions } from "./HeapLimit.js"
import { checkInstallPath, lines } from "./internal/text.js"
import { sinkSecret } from "./SinkSecret.js"
import { NODE_INSTALL_DEFAULTS } from "./SystemdUnit.js"

export interface NodeEnvFileOptions {
  /** Default `/etc/bramble/cluster.yaml`. */
  readonly configPath?: string
  /** Default `/etc/bramble/bramble.env` (only named in the comments). */
  readonly envPath?: string
}

const secretLines = (config: ClusterConfig): ReadonlyArray<string> => {
  const secret = sinkSecret(config.sink)
  const database = config.sink.kind === "influx-v2" ? "InfluxDB 2.x token" : "InfluxDB 1.x password"
  switch (secret.from) {
    case "env":
      return [
        `# The ${database} the node writes with (the cluster file names this variable in`,
        `# sink.${secret.what}Env). Paste it after the = on the Pi; never commit it.`,
        `${secret.name}=`
      ]
    case "file":
      return [
        `# The ${database} is read from ${secret.file} (sink.${secret.what}File in the cluster file).`,
        "# Make that file readable by the service only:",
        `#   sudo install -m 0400 -o bramble -g gpio /dev/stdin ${secret.file}   (paste, then Ctrl-D)`
      ]
    case "none":
      return [
        `# The cluster file names no ${database} (sink.${secret.what}Env / ${secret.what}File), so the`,
        `# node sends none. To use one, add \`${secret.what}Env: ${config.sink.kind === "influx-v2" ? "INFLUX_TOKEN" : "INFLUX_PASSWORD"}\` under sink: and set it here:`,
        `# ${config.sink.kind === "influx-v2" ? "INFLUX_TOKEN" : "INFLUX_PASSWORD"}=`
      ]
  }
}

/** Renders `bramble.env` for `node`. Throws if `node` is not in the cluster file. */
export const renderNodeEnvFile = (config: ClusterConfig, node: string, options: NodeEnvFileOptions = {}): string => {
  const self = config.nodes.find((n) => n.name === node)
  if (self === undefined) throw new RangeError(`no node named "${node}" in the cluster file`)
  const configPath = checkInstallPath("configPath", options.configPath ?? NODE_INSTALL_DEFAULTS.configPath)
  const envPath = checkInstallPath("envPath", options.envPath ?? NODE_INSTALL_DEFAULTS.envPath)
  return lines(
    `# ${envPath}: environment of bramble-node.service on node ${node}.`,
    "# Rendered by Bramble (@bramble/deploy). systemd reads it as root before it starts the",
    "# node, so it can stay readable by root only:",
    `#   sudo install -m 0600 -o root -g root bramble.env ${envPath}`,
    "# One NAME=value per line; nothing is expanded, quotes are optional.",
    "",
    "# This Pi's node in the cluster file (passed as --node).",
    `BRAMBLE_NODE=${node}`,
    "# The cluster file (passed as --config).",
    `BRAMBLE_CONFIG=${configPath}`,
    "",
    secretLines(config),
    "",
    "# More arguments for `bramble node`. On a Pi whose nats-server runs in the compose file's",
    "# container instead of under the node, point the node at that server:",
    `# BRAMBLE_NODE_ARGS=--nats-url nats://${self.host}:${self.nats.port}`,
    "",
    "# The unit gives the node the V8 heap limit of heapLimit in the cluster file:",
    `#   NODE_OPTIONS=${nodeMemoryOptions(self.heapLimit)}`,
    "# Change heapLimit there and render again; or, on this Pi alone, set NODE_OPTIONS here",
    "# (it replaces the unit's). Boards with 512 MB (Pi Zero 2 W, Pi 3 A+): heapLimit 192MiB, and",
    "# give nats-server (a child of the node, so it inherits this) a soft memory limit:",
    "# GOMEMLIMIT=128MiB"
  )
}
