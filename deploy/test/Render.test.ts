import { execFile } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { type ClusterConfig, parseClusterConfig } from "@bramble/config"
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { afterAll } from "vitest"
import { parse as parseYaml, parseDocument } from "yaml"
import { COMPOSE_IMAGES, type RenderedFile, renderDeployment, renderNodeUnit } from "../src/index.js"
import { assertGolden } from "./support/Golden.js"

const run = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))
const NATS_SERVER = "/usr/sbin/nats-server"
const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"

const scratch = mkdtempSync(join(tmpdir(), "bramble-render-test-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const clusterFile = join(here, "golden/three-node.cluster.yaml")
const parse = (text: string): ClusterConfig => Result.getOrThrow(parseClusterConfig(text, "cluster.yaml"))
const threeNode = parse(readFileSync(clusterFile, "utf8"))

const byPath = (files: ReadonlyArray<RenderedFile>) => new Map(files.map((f) => [f.path, f.content]))
const file = (files: ReadonlyArray<RenderedFile>, path: string): string => {
  const content = byPath(files).get(path)
  assert.isDefined(content, `${path} is rendered (have: ${files.map((f) => f.path).join(", ")})`)
  return content!
}

/** Writes rendered files under a fresh directory and returns it. */
const writeOut = (name: string, files: ReadonlyArray<RenderedFile>): string => {
  const dir = join(scratch, name)
  for (const f of files) {
    mkdirSync(dirname(join(dir, f.path)), { recursive: true })
    writeFileSync(join(dir, f.path), f.content)
  }
  return dir
}

const runTool = async (command: string, args: ReadonlyArray<string>) => {
  try {
    const { stdout, stderr } = await run(command, [...args])
    return { ok: true, output: stdout + stderr }
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string }
    return { ok: false, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}${failed.message}` }
  }
}

interface ComposeFile {
  readonly name: string
  readonly services: Record<string, {
    readonly image: string
    readonly profiles?: ReadonlyArray<string>
    readonly network_mode?: string
    readonly command?: ReadonlyArray<string>
    readonly environment?: Record<string, string>
    readonly volumes?: ReadonlyArray<string>
  }>
  readonly volumes: Record<string, unknown>
}

const yamlOf = (text: string): unknown => {
  const doc = parseDocument(text)
  assert.deepStrictEqual(doc.errors.map((e) => e.message), [])
  return parseYaml(text)
}

describe("renderDeployment", () => {
  it("golden - a three-node cluster file renders to the checked-in files", () => {
    assertGolden(join(here, "golden/three-node"), renderDeployment(threeNode))
  })

  it("golden - deploy/systemd/bramble-node.service is the generic unit (node = host name)", () => {
    const unit = renderNodeUnit()
    assert.include(unit, "Environment=BRAMBLE_NODE=%H\n")
    assertGolden(join(here, "../systemd"), [{ path: "bramble-node.service", content: unit }])
  })

  it("is deterministic: the same cluster file renders to identical files, in path order", () => {
    const first = renderDeployment(threeNode)
    const again = renderDeployment(parse(readFileSync(clusterFile, "utf8")))
    const cloned = renderDeployment(structuredClone(threeNode))
    assert.deepStrictEqual(again, first)
    assert.deepStrictEqual(cloned, first)
    const paths = first.map((f) => f.path)
    assert.deepStrictEqual(paths, [...paths].sort())
    assert.strictEqual(new Set(paths).size, paths.length)
  })

  it("renders four files per node, the compose file and one database's Grafana provisioning", () => {
    const paths = renderDeployment(threeNode).map((f) => f.path)
    assert.deepStrictEqual(paths, [
      "docker-compose.yml",
      "grafana/dashboards/bramble-flux.json",
      "grafana/provisioning/dashboards/dashboards.yaml",
      "grafana/provisioning/datasources/influxdb-v2.yaml",
      ...["pi-1", "pi-2", "pi-3"].flatMap((n) => [`${n}/README.md`, `${n}/bramble-node.service`, `${n}/bramble.env`, `${n}/nats-server.conf`])
    ])
  })

  it("puts each node's JetStream store under /var/lib/bramble/<node>/jetstream, routes to its peers", () => {
    const files = renderDeployment(threeNode)
    const conf = file(files, "pi-2/nats-server.conf")
    assert.include(conf, "server_name: \"pi-2\"\nhost: \"10.0.0.12\"\n")
    assert.include(conf, "store_dir: \"/var/lib/bramble/pi-2/jetstream\"")
    assert.include(conf, "    \"nats-route://10.0.0.11:6222\"\n    \"nats-route://10.0.0.13:6222\"\n")
    assert.include(conf, "readings.{{partition(6,1)}}")
    const other = file(renderDeployment(threeNode, { dataDir: "/srv/bramble" }), "pi-2/nats-server.conf")
    assert.include(other, "store_dir: \"/srv/bramble/pi-2/jetstream\"")
  })

  it("nats-server 2.9.10 accepts every rendered nats-server.conf (nats-server -t)", async () => {
    const dataDir = join(scratch, "nats-data")
    const files = renderDeployment(threeNode, { dataDir })
    const confs = files.filter((f) => f.path.endsWith("/nats-server.conf"))
    assert.strictEqual(confs.length, 3)
    const out = writeOut("nats-check", confs)
    for (const conf of confs) {
      assert.include(conf.content, `store_dir: "${dataDir}/${conf.path.split("/")[0]}/jetstream"`)
      const result = await runTool(NATS_SERVER, ["-t", "-c", join(out, conf.path)])
      assert.isTrue(result.ok, `${conf.path}: ${result.output}`)
    }
    // The check can fail: a broken file is refused.
    const broken = join(out, "broken.conf")
    writeFileSync(broken, `${confs[0]!.content}\njetstream {\n  max_file_store: "lots"\n}\n`)
    assert.isFalse((await runTool(NATS_SERVER, ["-t", "-c", broken])).ok)
  })

  it("units - fill in the node, the paths and the hardening that leaves GPIO working", () => {
    const unit = file(renderDeployment(threeNode), "pi-3/bramble-node.service")
    for (
      const line of [
        "User=bramble",
        "Group=gpio",
        "Environment=BRAMBLE_NODE=pi-3",
        "Environment=BRAMBLE_CONFIG=/etc/bramble/cluster.yaml",
        "EnvironmentFile=/etc/bramble/bramble.env",
        "ExecStart=/usr/local/bin/bramble node --config ${BRAMBLE_CONFIG} --node ${BRAMBLE_NODE} $BRAMBLE_NODE_ARGS",
        "Restart=on-failure",
        "RestartSec=2s",
        "KillMode=mixed",
        "TimeoutStopSec=90s",
        "LimitNOFILE=65536",
        "StateDirectory=bramble",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes"
      ]
    ) assert.include(unit, `\n${line}\n`)
    // These would break GPIO (or Node.js): they may only appear in comments.
    for (const setting of ["PrivateDevices", "ProtectKernelTunables", "ProtectClock", "DevicePolicy", "DeviceAllow", "MemoryDenyWriteExecute", "PrivateUsers"]) {
      assert.notMatch(unit, new RegExp(`^${setting}=`, "m"), setting)
    }
    assert.notInclude(unit, "%H")

    const custom = file(renderDeployment(threeNode, { binPath: "/opt/bramble/bin/bramble", dataDir: "/srv/bramble" }), "pi-1/bramble-node.service")
    assert.include(custom, "\nExecStart=/opt/bramble/bin/bramble node ")
    assert.include(custom, "\nReadWritePaths=/srv/bramble\n")
    assert.include(custom, "\nWorkingDirectory=/srv/bramble\n")
    assert.notMatch(custom, /^StateDirectory=/m)
  })

  it("units - give the node its heapLimit as NODE_OPTIONS, 768 MiB unless the cluster file says otherwise", () => {
    const files = renderDeployment(threeNode)
    assert.include(file(files, "pi-1/bramble-node.service"), "\nEnvironment=\"NODE_OPTIONS=--max-old-space-size=768 --max-semi-space-size=4\"\n")
    assert.include(file(files, "pi-3/bramble-node.service"), "\nEnvironment=\"NODE_OPTIONS=--max-old-space-size=384 --max-semi-space-size=4\"\n")
    assert.include(renderNodeUnit(), "\nEnvironment=\"NODE_OPTIONS=--max-old-space-size=768 --max-semi-space-size=4\"\n")
    assert.include(renderNodeUnit({ heapLimit: 192 * 1024 * 1024 }), "\nEnvironment=\"NODE_OPTIONS=--max-old-space-size=192 --max-semi-space-size=4\"\n")
    // The environment file names the value and leaves it to the unit (it would override it).
    const env = file(files, "pi-3/bramble.env")
    assert.include(env, "\n#   NODE_OPTIONS=--max-old-space-size=384 --max-semi-space-size=4\n")
    assert.notMatch(env, /^NODE_OPTIONS=/m)
  })

  it.skipIf(!existsSync(SYSTEMD_ANALYZE))("units - systemd-analyze verify finds nothing wrong but the keys systemd < 254 does not know", async () => {
    const files = renderDeployment(threeNode, { binPath: "/bin/true" })
    const units = [...files.filter((f) => f.path.endsWith(".service")), { path: "generic/bramble-node.service", content: renderNodeUnit({ binPath: "/bin/true" }) }]
    const out = writeOut("units", units)
    const tolerated = /Unknown key( name)? '(RestartSteps|RestartMaxDelaySec)'/
    for (const unit of units) {
      const result = await runTool(SYSTEMD_ANALYZE, ["verify", join(out, unit.path)])
      const problems = result.output.split("\n").filter((l) => l.trim() !== "" && !tolerated.test(l))
      assert.isTrue(result.ok, `${unit.path}: ${result.output}`)
      assert.deepStrictEqual(problems, [], unit.path)
    }
    // The check can fail: a bad value is reported.
    const bad = join(out, "bad.service")
    writeFileSync(bad, file(files, "pi-1/bramble-node.service").replace("KillMode=mixed", "KillMode=sometimes"))
    const result = await runTool(SYSTEMD_ANALYZE, ["verify", bad])
    assert.match(result.output, /kill mode/i)
  })

  it("env files - name the node and the cluster file, leave the token empty, hold no secret", () => {
    const files = renderDeployment(threeNode)
    for (const node of ["pi-1", "pi-2", "pi-3"]) {
      const env = file(files, `${node}/bramble.env`)
      const settings = env.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"))
      assert.deepStrictEqual(settings, [`BRAMBLE_NODE=${node}`, "BRAMBLE_CONFIG=/etc/bramble/cluster.yaml", "INFLUX_TOKEN="])
    }
  })

  it("compose - influxdb 2.7, grafana with the provisioning, and the first node's nats-server behind a profile", () => {
    const files = renderDeployment(threeNode)
    const compose = yamlOf(file(files, "docker-compose.yml")) as ComposeFile
    assert.deepStrictEqual(Object.keys(compose.services).sort(), ["grafana", "influxdb", "nats"])
    const { grafana, influxdb, nats } = compose.services as Required<ComposeFile["services"]>
    assert.strictEqual(influxdb!.image, COMPOSE_IMAGES.influxdb2)
    assert.strictEqual(influxdb!.environment!.DOCKER_INFLUXDB_INIT_ORG, "bramble")
    assert.strictEqual(influxdb!.environment!.DOCKER_INFLUXDB_INIT_BUCKET, "bramble")
    assert.match(grafana!.image, /^grafana\/grafana-oss:/)
    assert.strictEqual(nats!.image, "nats:2.10")
    assert.deepStrictEqual(nats!.profiles, ["nats"])
    assert.strictEqual(nats!.network_mode, "host")
    assert.deepStrictEqual(nats!.volumes, [
      "./pi-1/nats-server.conf:/etc/nats/nats-server.conf:ro",
      "/var/lib/bramble/pi-1/jetstream:/var/lib/bramble/pi-1/jetstream"
    ])
    // Every secret comes from .env; compose refuses to start without it.
    const env = { ...influxdb!.environment, ...grafana!.environment }
    for (const [key, value] of Object.entries(env)) {
      if (/PASSWORD|TOKEN/.test(key)) assert.match(value, /^\$\{[A-Z_]+:\?set [A-Z_]+ in \.env\}$/, key)
    }
    assert.strictEqual(grafana!.environment!.INFLUX_URL, "http://influxdb:8086")
    // Every relative bind mount points at something rendered.
    const paths = files.map((f) => f.path)
    for (const service of Object.values(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(":")[0]!
        if (!source.startsWith("./")) continue
        const rel = source.slice(2)
        assert.isTrue(paths.some((p) => p === rel || p.startsWith(`${rel}/`)), `${volume} mounts a rendered path`)
      }
    }
    assert.deepStrictEqual(Object.keys(compose.volumes).sort(), ["grafana-data", "influxdb-config", "influxdb-data"])
  })

  it("influx-v1 sink - InfluxDB 1.8, the InfluxQL dashboard, a password placeholder", () => {
    const config = parse(
      readFileSync(clusterFile, "utf8").replace(
        /sink:[\s\S]*$/,
        "sink:\n  kind: influx-v1\n  url: http://10.0.0.11:8086\n  database: farm\n  username: bramble\n  passwordEnv: FARM_PASSWORD\n"
      )
    )
    const files = renderDeployment(config)
    const paths = files.map((f) => f.path)
    assert.include(paths, "grafana/provisioning/datasources/influxdb-v1.yaml")
    assert.include(paths, "grafana/dashboards/bramble-influxql.json")
    assert.notInclude(paths, "grafana/dashboards/bramble-flux.json")
    const compose = yamlOf(file(files, "docker-compose.yml")) as ComposeFile
    const { grafana, influxdb } = compose.services
    assert.strictEqual(influxdb!.image, COMPOSE_IMAGES.influxdb1)
    assert.strictEqual(influxdb!.environment!.INFLUXDB_DB, "farm")
    assert.strictEqual(influxdb!.environment!.INFLUXDB_USER, "bramble")
    assert.strictEqual(influxdb!.environment!.INFLUXDB_USER_PASSWORD, "${FARM_PASSWORD:?set FARM_PASSWORD in .env}")
    assert.strictEqual(grafana!.environment!.INFLUX_DB, "farm")
    assert.strictEqual(grafana!.environment!.INFLUX_PASSWORD, "${FARM_PASSWORD:?set FARM_PASSWORD in .env}")
    assert.include(file(files, "pi-2/bramble.env"), "\nFARM_PASSWORD=\n")

    const open = parse(readFileSync(clusterFile, "utf8").replace(/sink:[\s\S]*$/, "sink:\n  kind: influx-v1\n  url: http://10.0.0.11:8086\n"))
    const openCompose = yamlOf(file(renderDeployment(open), "docker-compose.yml")) as ComposeFile
    assert.isUndefined(openCompose.services.influxdb!.environment!.INFLUXDB_HTTP_AUTH_ENABLED)
    assert.strictEqual(openCompose.services.grafana!.environment!.INFLUX_USER, "")
  })

  it("a node on an existing NATS server gets no nats-server.conf, and no nats service when it is first", () => {
    const config = parse(
      readFileSync(clusterFile, "utf8").replace("    host: 10.0.0.11\n", "    host: 10.0.0.11\n    nats:\n      url: nats://10.0.0.5:4222\n")
    )
    const files = renderDeployment(config)
    const paths = files.map((f) => f.path)
    assert.notInclude(paths, "pi-1/nats-server.conf")
    assert.include(paths, "pi-2/nats-server.conf")
    assert.include(file(files, "pi-1/README.md"), "existing NATS server at `nats://10.0.0.5:4222`")
    const compose = yamlOf(file(files, "docker-compose.yml")) as ComposeFile
    assert.deepStrictEqual(Object.keys(compose.services).sort(), ["grafana", "influxdb"])
    // pi-1 starts no server, so the others do not route to it.
    assert.notInclude(file(files, "pi-2/nats-server.conf"), "10.0.0.11")
  })

  it("READMEs - warn about loopback hosts, a local sink and a dataDir the unit cannot write", () => {
    const config = parse(
      readFileSync(clusterFile, "utf8")
        .replace("  dataDir: /var/lib/bramble\n", "")
        .replace("host: 10.0.0.13", "host: 127.0.0.1")
        .replace("url: http://10.0.0.11:8086", "url: http://localhost:8086")
    )
    const readme = file(renderDeployment(config), "pi-2/README.md")
    assert.include(readme, "## Fix these first")
    assert.include(readme, "`cluster.dataDir: .bramble`")
    assert.include(readme, "`nodes[2].host` (pi-3) is `127.0.0.1`")
    assert.include(readme, "`sink.url` is `http://localhost:8086`")
    assert.notInclude(file(renderDeployment(threeNode), "pi-2/README.md"), "Fix these first")
  })

  it("refuses relative or unsafe paths and a sink variable that is not a variable name", () => {
    assert.throws(() => renderDeployment(threeNode, { binPath: "bramble" }), RangeError)
    assert.throws(() => renderDeployment(threeNode, { dataDir: "/srv/my data" }), RangeError)
    assert.throws(() => renderDeployment(threeNode, { configPath: "/etc/$HOME/cluster.yaml" }), RangeError)
    const config = parse(readFileSync(clusterFile, "utf8").replace("tokenEnv: INFLUX_TOKEN", "tokenEnv: influx-token"))
    assert.throws(() => renderDeployment(config), /tokenEnv must be an environment variable name/)
  })
})
