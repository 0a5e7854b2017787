/**
 * `docker-compose.yml` for the master Pi (the cluster file's first node), for those who run
 * the database and dashboards in containers: InfluxDB (2.7, or 1.8 for sink kind
 * `influx-v1` on 32-bit Pis), Grafana with Bramble's provisioning mounted, and — opt-in,
 * under the `nats` profile — the first node's nats-server with its rendered configuration.
 *
 * The nats service is opt-in because a Bramble node starts its own nats-server: running both
 * on one Pi would have them fight over the same ports. With the profile on, that Pi's node is
 * started with `--nats-url` (BRAMBLE_NODE_ARGS in its env file) and uses the container.
 * Secrets are never written: compose reads them from `.env` and refuses to start without them.
 */
import type { ClusterConfig } from "@bramble/config"
import type { NatsServerConfSpec } from "../nats/NatsServerConf.js"
import { GRAFANA_DASHBOARDS_PATH, GRAFANA_DATASOURCE_FILES } from "./GrafanaDatasources.js"
import { lines, yamlString } from "./internal/text.js"
import { composeSecretEnv, sinkSecret } from "./SinkSecret.js"

/** Image tags the compose file uses. */
export const COMPOSE_IMAGES = {
  nats: "nats:2.10",
  influxdb2: "influxdb:2.7",
  influxdb1: "influxdb:1.8",
  grafana: "grafana/grafana-oss:11.6.0"
} as const

/** What the compose file is rendered from. */
export interface DockerComposeInput {
  readonly config: ClusterConfig
  /** The first node's nats-server spec (store under the deployment's data dir), if it has one. */
  readonly natsSpec: NatsServerConfSpec | undefined
}

/** A compose value: YAML-quoted, with `$` doubled so compose does not interpolate it. */
const literal = (value: string): string => yamlString(value.replace(/\$/g, () => "$$"))

/** A compose value that compose fills from `.env`, failing with a message when unset. */
const required = (name: string): string => yamlString(`\${${name}:?set ${name} in .env}`)

const influxService = (config: ClusterConfig): ReadonlyArray<string> => {
  const sink = config.sink
  if (sink.kind === "influx-v2") {
    const token = composeSecretEnv(sink)
    return [
      "  influxdb:",
      "    # InfluxDB 2.x needs a 64-bit OS. On 32-bit Raspberry Pi OS use influxdb:1.8 and",
      "    # `kind: influx-v1` under sink: in the cluster file, then render again.",
      `    image: ${COMPOSE_IMAGES.influxdb2}`,
      "    restart: unless-stopped",
      "    ports:",
      "      - \"8086:8086\"",
      "    environment:",
      "      # Used on the first start only: creates the org, the bucket and the admin token.",
      "      DOCKER_INFLUXDB_INIT_MODE: \"setup\"",
      "      DOCKER_INFLUXDB_INIT_USERNAME: \"admin\"",
      `      DOCKER_INFLUXDB_INIT_PASSWORD: ${required("INFLUX_ADMIN_PASSWORD")}`,
      `      DOCKER_INFLUXDB_INIT_ORG: ${literal(sink.org)}`,
      `      DOCKER_INFLUXDB_INIT_BUCKET: ${literal(sink.bucket)}`,
      `      DOCKER_INFLUXDB_INIT_ADMIN_TOKEN: ${required(token)}`,
      "    volumes:",
      "      - \"influxdb-data:/var/lib/influxdb2\"",
      "      - \"influxdb-config:/etc/influxdb2\""
    ]
  }
  const password = composeSecretEnv(sink)
  const auth = sink.username !== undefined
  return [
    "  influxdb:",
    "    # InfluxDB 1.8 runs on 32-bit Raspberry Pi OS, where 2.x does not. On a 64-bit OS,",
    "    # influxdb:2.7 with `kind: influx-v2` under sink: is the better choice.",
    `    image: ${COMPOSE_IMAGES.influxdb1}`,
    "    restart: unless-stopped",
    "    ports:",
    "      - \"8086:8086\"",
    "    environment:",
    "      # Used on the first start only: creates the database (and the user Bramble writes as).",
    `      INFLUXDB_DB: ${literal(sink.database)}`,
    "      INFLUXDB_REPORTING_DISABLED: \"true\"",
    ...(auth
      ? [
        "      INFLUXDB_HTTP_AUTH_ENABLED: \"true\"",
        "      INFLUXDB_ADMIN_USER: \"admin\"",
        `      INFLUXDB_ADMIN_PASSWORD: ${required("INFLUX_ADMIN_PASSWORD")}`,
        `      INFLUXDB_USER: ${literal(sink.username)}`,
        `      INFLUXDB_USER_PASSWORD: ${required(password)}`
      ]
      : ["      # sink.username is not set in the cluster file, so authentication stays off."]),
    "    volumes:",
    "      - \"influxdb-data:/var/lib/influxdb\""
  ]
}

const grafanaEnvironment = (config: ClusterConfig): ReadonlyArray<string> => {
  const sink = config.sink
  if (sink.kind === "influx-v2") {
    return [
      `      # Read by grafana/provisioning/datasources/${GRAFANA_DATASOURCE_FILES.flux}.`,
      "      INFLUX_URL: \"http://influxdb:8086\"",
      `      INFLUX_ORG: ${literal(sink.org)}`,
      `      INFLUX_BUCKET: ${literal(sink.bucket)}`,
      `      INFLUX_TOKEN: ${required(composeSecretEnv(sink))}`
    ]
  }
  const auth = sink.username !== undefined
  return [
    `      # Read by grafana/provisioning/datasources/${GRAFANA_DATASOURCE_FILES.influxql}.`,
    "      INFLUX_URL: \"http://influxdb:8086\"",
    `      INFLUX_DB: ${literal(sink.database)}`,
    `      INFLUX_USER: ${auth ? literal(sink.username) : "\"\""}`,
    `      INFLUX_PASSWORD: ${auth ? required(composeSecretEnv(sink)) : "\"\""}`
  ]
}

const natsService = (config: ClusterConfig, spec: NatsServerConfSpec | undefined): ReadonlyArray<string> => {
  const first = config.nodes[0]!
  if (spec === undefined) {
    return [
      `  # No nats service: node ${first.name} uses the existing server ${first.nats.url ?? ""} (nats.url).`
    ]
  }
  const store = spec.jetstream.storeDir
  return [
    "  nats:",
    `    # ${first.name}'s nats-server, with the configuration its node would render itself.`,
    "    # Opt-in (docker compose --profile nats up -d), and only instead of the node's own",
    `    # server: put \`BRAMBLE_NODE_ARGS=--nats-url nats://${first.host}:${spec.port}\` in ${first.name}'s`,
    "    # bramble.env so the node uses this one. Host networking, because the configuration",
    `    # binds ${first.host} and the other nodes route to it there.`,
    "    profiles: [\"nats\"]",
    `    image: ${COMPOSE_IMAGES.nats}`,
    "    restart: unless-stopped",
    "    network_mode: host",
    "    command: [\"--config\", \"/etc/nats/nats-server.conf\"]",
    "    volumes:",
    `      - ${literal(`./${first.name}/nats-server.conf:/etc/nats/nats-server.conf:ro`)}`,
    `      - ${literal(`${store}:${store}`)}`,
    // The configuration names certificates and keys by their paths on the Pi.
    ...(config.security === undefined ? [] : [`      - ${literal(`${config.security.credentials}:${config.security.credentials}:ro`)}`])
  ]
}

/** Renders `docker-compose.yml` for the first node's Pi. */
export const renderDockerCompose = (input: DockerComposeInput): string => {
  const { config, natsSpec } = input
  const first = config.nodes[0]!
  const sink = config.sink
  const secret = sinkSecret(sink)
  const needsSecret = sink.kind === "influx-v2" || sink.username !== undefined
  const envLines = [
    ...(needsSecret
      ? [
        `#        ${composeSecretEnv(sink)}=...   the database ${secret.what}; the nodes write with it too (their bramble.env)`,
        "#        INFLUX_ADMIN_PASSWORD=...   InfluxDB's admin password, 8 characters or more"
      ]
      : []),
    "#        GRAFANA_ADMIN_PASSWORD=...  Grafana's admin password"
  ]
  return lines(
    `# docker-compose.yml for the master Pi of cluster ${config.cluster.name}: node ${first.name} at ${first.host}.`,
    "# Rendered by Bramble (@bramble/deploy). Run it from the directory that holds it (it mounts",
    `# ./grafana and ./${first.name}/nats-server.conf):`,
    "#   1. Put the secrets in ./.env, which docker compose reads (keep it out of version control):",
    envLines,
    "#   2. docker compose up -d                   InfluxDB on :8086, Grafana on :3000 (user admin)",
    "#   3. Optional: docker compose --profile nats up -d   (see the nats service)",
    `# The nodes write to ${sink.url} (sink.url): that must be this Pi's address.`,
    "name: bramble",
    "",
    "services:",
    influxService(config),
    "",
    "  grafana:",
    `    image: ${COMPOSE_IMAGES.grafana}`,
    "    restart: unless-stopped",
    "    depends_on:",
    "      - influxdb",
    "    ports:",
    "      - \"3000:3000\"",
    "    environment:",
    `      GF_SECURITY_ADMIN_PASSWORD: ${required("GRAFANA_ADMIN_PASSWORD")}`,
    grafanaEnvironment(config),
    "    volumes:",
    "      - \"./grafana/provisioning:/etc/grafana/provisioning:ro\"",
    `      - ${literal(`./grafana/dashboards:${GRAFANA_DASHBOARDS_PATH}:ro`)}`,
    "      - \"grafana-data:/var/lib/grafana\"",
    "",
    natsService(config, natsSpec),
    "",
    "volumes:",
    "  influxdb-data: {}",
    ...(sink.kind === "influx-v2" ? ["  influxdb-config: {}"] : []),
    "  grafana-data: {}"
  )
}
