/**
 * Things in a cluster file that are valid but will not work once the nodes are spread over
 * several Pis: loopback addresses other Pis cannot reach, and a data directory the
 * installed unit cannot write. They go at the top of every node's README, where the person
 * installing will read them before the first `systemctl start`.
 */
import type { ClusterConfig } from "@bramble/config"

const isLoopback = (host: string): boolean => {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase()
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h)
}

const urlHost = (url: string): string | undefined => {
  try {
    return new URL(url).hostname
  } catch {
    return undefined
  }
}

/** Warnings for deploying `config` with nodes keeping their data in `dataDir`. */
export const deploymentWarnings = (config: ClusterConfig, dataDir: string): ReadonlyArray<string> => {
  const warnings: Array<string> = []
  if (config.cluster.dataDir !== dataDir) {
    warnings.push(
      `The cluster file has \`cluster.dataDir: ${config.cluster.dataDir}\`, but these files are for \`${dataDir}\`. ` +
        `Set \`dataDir: ${dataDir}\` under \`cluster:\` in the file you install: the node writes its ` +
        "nats-server.conf and JetStream store there, and the unit lets it write nowhere else."
    )
  }
  if (config.nodes.length > 1) {
    config.nodes.forEach((node, i) => {
      if (isLoopback(node.host)) {
        warnings.push(
          `\`nodes[${i}].host\` (${node.name}) is \`${node.host}\`: the other Pis cannot reach it there. ` +
            "Use the Pi's LAN address or host name."
        )
      }
    })
    const sinkHost = urlHost(config.sink.url)
    if (sinkHost !== undefined && isLoopback(sinkHost)) {
      warnings.push(
        `\`sink.url\` is \`${config.sink.url}\`: every node would write to a database on its own Pi. ` +
          "Use the address of the Pi that runs InfluxDB."
      )
    }
  }
  return warnings
}
