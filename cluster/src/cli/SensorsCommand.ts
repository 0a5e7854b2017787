/**
 * `bramble sensors probe --config FILE --node NAME [--simulate] [--json]`: reads every sensor
 * configured for the node once and prints what each gave, for the person wiring a Pi. Exit
 * code 0 when every sensor answered completely, 1 otherwise.
 */
import { loadClusterConfig } from "@bramble/config"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { hostname } from "node:os"
import { type ProbeResult, probeSensors } from "../node/Probe.js"
import { ExitCode } from "./ExitCode.js"

const line = (r: ProbeResult): string => {
  const values = Object.entries(r.values).map(([name, value]) => `${name}=${Number.isInteger(value) ? value : Number(value.toPrecision(7))}`).join(" ")
  const head = `${r.device}/${r.sensor} (${r.kind}, ${r.where}):`
  if (r.error === undefined) return `${head} ${values}`
  return values === "" ? `${head} FAILED ${r.error}` : `${head} ${values}\n    PARTLY FAILED ${r.error}`
}

const probe = Command.make(
  "probe",
  {
    config: Flag.String("config").pipe(Flag.withAlias("c"), Flag.withDescription("Cluster file (YAML)")),
    node: Flag.String("node").pipe(Flag.withAlias("n"), Flag.withDescription("The node whose sensors to read (default: the hostname)"), Flag.optional),
    simulate: Flag.Boolean("simulate").pipe(Flag.withDescription("Read the simulated twins instead of the hardware"), Flag.withDefault(false)),
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print one JSON array: [{ device, sensor, kind, where, values, error? }]"), Flag.withDefault(false))
  },
  ({ config, node, simulate, json }) =>
    Effect.gen(function*() {
      const loaded = yield* loadClusterConfig(config).pipe(
        Effect.catchTag("ConfigError", (error) => Console.error(error.message).pipe(Effect.andThen(ExitCode.fail(1))))
      )
      const name = Option.getOrElse(node, () => hostname())
      if (!loaded.config.nodes.some((n) => n.name === name)) {
        yield* Console.error(`no node named "${name}" in ${loaded.file} (nodes: ${loaded.config.nodes.map((n) => n.name).join(", ")})`)
        return yield* ExitCode.fail(1)
      }
      const results = yield* probeSensors({ config: loaded.config, node: name, simulate })
      if (json) yield* Console.log(JSON.stringify(results))
      else if (results.length === 0) yield* Console.log(`node ${name} has no sensors in ${loaded.file}`)
      else for (const r of results) yield* Console.log(line(r))
      if (results.some((r) => r.error !== undefined)) return yield* ExitCode.fail(1)
    })
).pipe(
  Command.withDescription("Read each sensor configured for a node once and print what it gave (nothing is published)"),
  Command.withExamples([
    { command: "bramble sensors probe -c /etc/bramble/cluster.yaml -n pi2", description: "Check the wiring of pi2's sensors, PLCs and meters" },
    { command: "bramble sensors probe -c cluster.yaml -n pi2 --simulate", description: "The same with the simulated twins (no hardware)" }
  ])
)

export const sensorsCommand = Command.make("sensors").pipe(
  Command.withDescription("Work with the sensors of the cluster file"),
  Command.withSubcommands([probe])
)
