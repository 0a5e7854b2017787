/**
 * A node's install notes (`<node>/README.md` of a rendered deployment): where each rendered
 * file goes on that Pi, the one-time preparation, the commands to start it, and how to see
 * that it works — filled in with that node's name, address and ports.
 */
import type { ClusterConfig } from "@bramble/config"
import type { NatsServerConfSpec } from "../nats/NatsServerConf.js"
import { credentialPaths, tlsFilesFor, UserNames } from "../security/CredentialLayout.js"
import { lines } from "./internal/text.js"
import { sinkSecret } from "./SinkSecret.js"

/** What a node's README is rendered from. */
export interface NodeReadmeInput {
  readonly config: ClusterConfig
  readonly node: string
  /** The node's nats-server, or undefined when it uses an existing server (`nats.url`). */
  readonly spec: NatsServerConfSpec | undefined
  readonly binPath: string
  readonly configPath: string
  readonly envPath: string
  readonly dataDir: string
  readonly warnings: ReadonlyArray<string>
  /** True for the node whose Pi gets the compose file (the first node). */
  readonly master: boolean
}

const secretStep = (config: ClusterConfig, envPath: string): ReadonlyArray<string> => {
  const secret = sinkSecret(config.sink)
  switch (secret.from) {
    case "env":
      return [`sudoedit ${envPath}                       # paste the database ${secret.what} after ${secret.name}=`]
    case "file":
      return [`# the database ${secret.what} is read from ${secret.file}: see the comment in bramble.env`]
    case "none":
      return []
  }
}

/** Which credential files this Pi needs, and how to install them (secured cluster files only). */
const credentialsSection = (config: ClusterConfig, node: string, spec: NatsServerConfSpec | undefined): ReadonlyArray<string> => {
  const security = config.security
  if (security === undefined) return []
  const self = config.nodes.find((n) => n.name === node)!
  const installed = credentialPaths(security.credentials)
  const generated = credentialPaths("credentials")
  const tls = tlsFilesFor(security, node)
  const copies: Array<[from: string, to: string]> = [
    [generated.users, installed.users],
    [generated.nodePassword(node), installed.nodePassword(node)],
    ...(tls === undefined
      ? []
      : [
        [generated.caCert, tls.caFile] as [string, string],
        ...(spec === undefined ? [] : [[generated.nodeCert(node), tls.certFile], [generated.nodeKey(node), tls.keyFile]] as Array<[string, string]>)
      ])
  ]
  const dirs = [...new Set(copies.map(([, to]) => to.replace(/\/[^/]+$/, "")))].sort()
  const mqtt = spec?.mqttPort === undefined ? undefined : `${tls === undefined ? "mqtt" : "mqtts"}://${self.host}:${spec.mqttPort}`
  return [
    "",
    "## Credentials",
    "",
    "The cluster file has a `security:` section: every NATS and MQTT connection needs a user and",
    `password${tls === undefined ? "" : ", and client, MQTT and route connections use TLS (routes prove who they are with certificates)"}.`,
    "Copy these files from the directory `bramble deploy creds` wrote (`credentials/` below), and no",
    "others: other nodes' keys, the devices' passwords and the CA key (`tls/ca.key`) stay off this Pi.",
    "",
    "```sh",
    ...dirs.map((dir) => `sudo install -d -m 0700 -o bramble -g gpio ${dir}`),
    ...copies.map(([from, to]) => `sudo install -m 0600 -o bramble -g gpio ${from} ${to}`),
    "```",
    "",
    `The node logs in as \`${UserNames.node(node)}\`. Its server checks every user against the hashes in`,
    `\`${installed.users}\`: after \`bramble deploy creds\` adds a device, copy that file to every node and restart them.`,
    ...(mqtt === undefined
      ? []
      : [
        `Each device logs in to \`${mqtt}\` as \`device:<id>\` with the password in \`devices/<id>.password\`${tls === undefined ? "" : ", trusting `tls/ca.crt`"};`,
        "it may publish only to `ingest/<id>/<sensor>` and subscribe only to `alarms/<id>/#` and `commands/<id>/#`."
      ]),
    "The operator commands (`bramble status`, `devices`, `tail`, …) log in as `admin` when given the cluster file",
    `(\`--config FILE\` or \`BRAMBLE_CONFIG\`), with the password in \`${installed.adminPassword}\`${tls === undefined ? "" : " and the CA certificate"}:`,
    "that password belongs only on the machine you run them from (`--credentials DIR` if it is elsewhere there), not on the Pis."
  ]
}

/** Renders `<node>/README.md`. */
export const renderNodeReadme = (input: NodeReadmeInput): string => {
  const { config, node, spec, binPath, configPath, envPath, dataDir } = input
  const self = config.nodes.find((n) => n.name === node)
  if (self === undefined) throw new RangeError(`no node named "${node}" in the cluster file`)
  const nodeDir = `${dataDir}/${node}`
  const peers = config.nodes.filter((n) => n.name !== node && n.nats.url === undefined).length
  const sensors = config.sensors.filter((s) => s.node === node)
  const monitor = spec?.httpPort === undefined ? undefined : `http://${spec.httpHost ?? self.host}:${spec.httpPort}`

  const files = [
    "| file | install as | what it is |",
    "|---|---|---|",
    "| `bramble-node.service` | `/etc/systemd/system/bramble-node.service` | the systemd unit |",
    `| \`bramble.env\` | \`${envPath}\` (mode 0600) | node name, cluster file path, database secret (empty until you fill it in) |`,
    spec === undefined
      ? undefined
      : `| \`nats-server.conf\` | nothing to install | the configuration the node writes to \`${nodeDir}/nats-server.conf\` at every start, here to review and test |`
  ].filter((line): line is string => line !== undefined)

  const warnings = input.warnings.length === 0
    ? []
    : ["", "## Fix these first", "", ...input.warnings.map((w) => `- ${w}`)]

  const natsNote = spec === undefined
    ? [
      "",
      `This node uses the existing NATS server at \`${self.nats.url ?? ""}\` (\`nats.url\` in the cluster file), so`,
      "it starts no nats-server of its own and has no `nats-server.conf` here."
    ]
    : [
      "",
      "The node starts and supervises its own nats-server (client port " +
        `${spec.port}, MQTT ${spec.mqttPort ?? "off"}, monitoring ${spec.httpPort ?? "off"}` +
        `${spec.cluster === undefined ? "" : `, routes on ${spec.cluster.port}`}), so no separate nats unit is needed.`,
      "If your distribution's nats-server package enabled its own service, turn it off: it would",
      "hold the same ports. `sudo systemctl disable --now nats-server`",
      ...(spec.httpPort === undefined || spec.httpHost === undefined
        ? []
        : [
          "",
          `nats-server's monitoring (port ${spec.httpPort}) listens on ${spec.httpHost} only: nats-server 2.9 has no authentication`,
          "there, and it lists every connection, subscription and user name. Query it on this Pi, or from",
          `your machine through SSH: \`ssh -L ${spec.httpPort}:${spec.httpHost}:${spec.httpPort} ${self.host}\`, then \`curl http://${spec.httpHost}:${spec.httpPort}/varz\`.`
        ])
    ]

  const checks = [
    "systemctl status bramble-node",
    "journalctl -u bramble-node -f                    # the node's log",
    `${binPath} config validate ${configPath}`,
    ...(monitor === undefined
      ? []
      : [
        `curl -s '${monitor}/healthz?js-enabled-only=true'   # {"status":"ok"}`,
        ...(peers > 0 ? [`curl -s ${monitor}/routez | grep num_routes     # ${peers} once every node is up`] : []),
        `nats-server -t -c ${nodeDir}/nats-server.conf   # the configuration the node wrote`,
        `tail ${nodeDir}/nats-server.log`
      ])
  ]

  return lines(
    `# Bramble node \`${node}\` (cluster \`${config.cluster.name}\`)`,
    "",
    `Rendered by Bramble (@bramble/deploy) for the Pi that runs node \`${node}\` at \`${self.host}\`.`,
    "Commands below run from the directory that holds this one.",
    "",
    files,
    warnings,
    natsNote,
    "",
    "## Once per Pi",
    "",
    "1. Raspberry Pi OS 64-bit (32-bit works with `sink.kind: influx-v1`, see deploy/README.md).",
    "2. Node.js 20 or newer, and nats-server 2.9.10 or newer (`sudo apt install nats-server`).",
    "3. The service user, in the `gpio` group:",
    "   `sudo useradd --system --no-create-home --shell /usr/sbin/nologin --groups gpio bramble`",
    `4. Bramble built (\`npm ci && npm run build\`) in /opt/bramble, and \`${binPath}\` running it:`,
    `   \`printf '#!/bin/sh\\nexec /usr/bin/node /opt/bramble/cluster/dist/bin/bramble.js "$@"\\n' | sudo tee ${binPath} && sudo chmod 755 ${binPath}\``,
    "5. A clock that is set before the node starts (a Pi has no battery-backed clock):",
    "   `sudo systemctl enable systemd-time-wait-sync`",
    credentialsSection(config, node, spec),
    "",
    "## Install and start",
    "",
    "```sh",
    `sudo install -d -m 0755 ${configPath.replace(/\/[^/]+$/, "") || "/"}`,
    `sudo install -m 0644 cluster.yaml ${configPath}      # your cluster file, the same on every node`,
    `sudo install -m 0600 -o root -g root ${node}/bramble.env ${envPath}`,
    secretStep(config, envPath),
    `sudo install -m 0644 ${node}/bramble-node.service /etc/systemd/system/bramble-node.service`,
    "sudo systemctl daemon-reload",
    "sudo systemctl enable --now bramble-node",
    "```",
    "",
    "## Check it",
    "",
    "```sh",
    checks,
    "```",
    "",
    sensors.length === 0
      ? "No sensors are wired to this node in the cluster file."
      : `Sensors read here: ${sensors.map((s) => `\`${s.device}/${s.sensor}\` (${s.kind}, ${"pin" in s ? `GPIO ${s.pin}` : "unit" in s ? `${"host" in s ? `${s.host}:${s.port}` : s.port} unit ${s.unit}` : "1-wire"})`).join(", ")}.`,
    ...(spec?.mqttPort === undefined
      ? []
      : [`MQTT devices publish to \`mqtt://${self.host}:${spec.mqttPort}\`, topic \`ingest/<device>/<metric>\`.`]),
    ...(input.master
      ? [
        "",
        "## Database and dashboards",
        "",
        "This is the first node: `docker-compose.yml` (one directory up) runs InfluxDB and Grafana",
        `here, and can run this node's nats-server in a container (\`--profile nats\`). Its header says how.`,
        `The nodes write to \`${config.sink.url}\`.`
      ]
      : []),
    "",
    "## Day to day",
    "",
    "- `sudo systemctl restart bramble-node` after changing the cluster file (copy it to every node).",
    "- `sudo systemctl stop bramble-node` stops the node gracefully (up to 90 s); its partitions move to the other nodes.",
    `- Data: \`${nodeDir}/\` (JetStream store, nats-server log). Back it up with the node stopped.`
  )
}
