/**
 * A bramble of Pis on a lab network (./NetworkLab.ts): one host per node, each running the
 * `bramble-node.service` that `bramble deploy`'s renderer writes for it (./SystemdService.ts)
 * — so each node starts its own nats-server from the rendered config, on the node's own
 * address and the default ports, exactly as on a Pi. The database (VictoriaMetrics, InfluxDB
 * v2 write API) listens on the lab's gateway, reachable from every host.
 *
 * Hosts can be powered off (every process in the namespace SIGKILLed, the service not
 * restarted: a machine that is off restarts nothing) and on again (the service starts as at
 * boot), in any order.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { type LocalVictoriaMetrics, renderNodeEnvFile, renderNodeUnit, startVictoriaMetrics } from "@bramble/deploy"
import { parseClusterConfig } from "@bramble/config"
import { Effect, Result, Scope } from "effect"
import { BRAMBLE_CLI } from "../BrambleNode.js"
import type { LabHost, NetworkLab } from "./NetworkLab.js"
import { runService, type RunningService } from "./SystemdService.js"

export interface PiClusterOptions {
  readonly lab: NetworkLab
  readonly dir: string
  readonly partitions?: number
  readonly windows: ReadonlyArray<{ readonly name: string; readonly size: number }>
  readonly processing?: Readonly<Record<string, string | number>>
  /** Extra `bramble node` arguments, through the env file's BRAMBLE_NODE_ARGS (the unit's hook). */
  readonly nodeArgs?: (node: string) => ReadonlyArray<string>
}

export interface PiNode {
  readonly name: string
  readonly host: LabHost
  readonly natsUrl: string
  readonly mqttUrl: string
  readonly logFile: string
  readonly unitFile: string
}

export interface PiCluster {
  readonly dir: string
  readonly partitions: number
  readonly db: LocalVictoriaMetrics
  readonly nodes: ReadonlyArray<PiNode>
  readonly natsUrls: ReadonlyArray<string>
  readonly mqttUrls: ReadonlyArray<string>
  readonly nodeInfos: ReadonlyArray<{ readonly name: string; readonly logFile: string }>
  /** Boot a host: start its service (does nothing while it runs). */
  readonly powerOn: (node: string) => Effect.Effect<void>
  /** Cut a host's power: SIGKILL everything on it; nothing restarts until `powerOn`. */
  readonly powerOff: (node: string) => Effect.Effect<void>
  /** Times systemd would have restarted the node's service after it exited on its own. */
  readonly restarts: (node: string) => Effect.Effect<number>
  readonly running: (node: string) => boolean
}

/** Where everything lives, per node, as on a Pi (`/etc/bramble`, `/var/lib/bramble`). */
const layout = (dir: string, node: string) => ({
  etc: join(dir, "hosts", node, "etc", "bramble"),
  unit: join(dir, "hosts", node, "etc", "systemd", "bramble-node.service"),
  journal: join(dir, "hosts", node, "journal.log")
})

export const startPiCluster = (options: PiClusterOptions): Effect.Effect<PiCluster, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const { lab, dir } = options
    const partitions = options.partitions ?? 8
    mkdirSync(dir, { recursive: true })
    const db = yield* startVictoriaMetrics({ dir: join(dir, "db"), host: lab.gateway })

    // The `bramble` on every Pi's PATH: the CLI this checkout built.
    const bin = join(dir, "bin", "bramble")
    mkdirSync(join(dir, "bin"), { recursive: true })
    writeFileSync(bin, `#!/bin/sh\nexec "${process.execPath}" "${BRAMBLE_CLI}" "$@"\n`)
    chmodSync(bin, 0o755)

    const dataDir = join(dir, "var", "lib", "bramble")
    const clusterYaml = JSON.stringify({
      cluster: { name: "lab", partitions, dataDir },
      nodes: lab.hosts.map((h) => ({ name: h.name, host: h.ip })),
      windows: options.windows.map((w) => ({ name: w.name, size: `${w.size}ms` })),
      processing: options.processing ?? {},
      sink: { kind: "influx-v2", url: db.url, tokenEnv: "INFLUX_TOKEN" }
    }, null, 2)
    const parsed = parseClusterConfig(clusterYaml, "cluster.yaml")
    if (Result.isFailure(parsed)) return yield* Effect.die(new Error(`the lab's cluster file is invalid: ${parsed.failure.message}`))
    const config = parsed.success

    const nodes: Array<PiNode> = lab.hosts.map((host) => {
      const paths = layout(dir, host.name)
      mkdirSync(paths.etc, { recursive: true })
      mkdirSync(join(dir, "hosts", host.name, "etc", "systemd"), { recursive: true })
      const configPath = join(paths.etc, "cluster.yaml")
      const envPath = join(paths.etc, "bramble.env")
      writeFileSync(configPath, clusterYaml)
      // The rendered env file, with what the person installing the Pi fills in.
      const extra = options.nodeArgs?.(host.name) ?? []
      const env = renderNodeEnvFile(config, host.name, { configPath, envPath })
        .replace(/^INFLUX_TOKEN=.*$/m, "INFLUX_TOKEN=lab-token")
        .concat(extra.length > 0 ? `BRAMBLE_NODE_ARGS=${extra.join(" ")}\n` : "")
      writeFileSync(envPath, env)
      writeFileSync(paths.unit, renderNodeUnit({ node: host.name, binPath: bin, configPath, envPath, dataDir, heapLimit: config.nodes.find((n) => n.name === host.name)!.heapLimit }))
      return {
        name: host.name,
        host,
        natsUrl: `nats://${host.ip}:4222`,
        mqttUrl: `mqtt://${host.ip}:1883`,
        logFile: paths.journal,
        unitFile: paths.unit
      }
    })
    // systemd creates StateDirectory= and WorkingDirectory before the service starts.
    mkdirSync(dataDir, { recursive: true })

    const scope = yield* Effect.scope
    const services = new Map<string, RunningService>()
    const nodeOf = (name: string) => {
      const node = nodes.find((n) => n.name === name)
      if (node === undefined) throw new Error(`no node ${name}`)
      return node
    }

    const powerOn = (name: string) =>
      Effect.gen(function*() {
        const node = nodeOf(name)
        const running = services.get(name)
        if (running !== undefined) {
          yield* Effect.orDie(running.process.start)
          return
        }
        const service = yield* runService({ name: `bramble-node@${name}`, unitFile: node.unitFile, prefix: lab.exec(name), logFile: node.logFile }).pipe(
          Scope.provide(scope),
          Effect.orDie
        )
        services.set(name, service)
      })

    const powerOff = (name: string) =>
      Effect.gen(function*() {
        const service = services.get(name)
        // Everything on the host dies at once; then the supervisor is told the machine is
        // off (its restart is not systemd's: a powered-off Pi restarts nothing).
        yield* lab.powerOff(name)
        if (service !== undefined) yield* service.process.stop
      })

    return {
      dir,
      partitions,
      db,
      nodes,
      natsUrls: nodes.map((n) => n.natsUrl),
      mqttUrls: nodes.map((n) => n.mqttUrl),
      nodeInfos: nodes.map((n) => ({ name: n.name, logFile: n.logFile })),
      powerOn,
      powerOff,
      restarts: (name) => services.get(name)?.process.restarts ?? Effect.succeed(0),
      running: (name) => services.has(name)
    }
  })
