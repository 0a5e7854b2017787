/**
 * `bramble config`: work with cluster files.
 *
 * - `apply`, `history`, `show`, `rollback`: the running cluster's versions of its file
 *   (./ConfigVersionsCommand.ts, docs/live-config.md).
 * - `validate FILE [--json]`: check a file and say exactly what is wrong. Exit code 0 when
 *   valid, 1 when not (scripts and CI rely on it).
 * - `init [FILE] [--nodes N] [--sink influx-v2|influx-v1] [--simulate]`: a commented, valid
 *   starting file.
 * - `schema`: the file's JSON Schema, for editors.
 */
import { clusterConfigJsonSchema, clusterFileTemplate, type ConfigError, loadClusterConfig } from "@bramble/config"
import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { existsSync, writeFileSync } from "node:fs"
import { configVersionCommands } from "./ConfigVersionsCommand.js"
import { ExitCode } from "./ExitCode.js"

const file = Argument.String("file").pipe(Argument.withDescription("Path to the cluster file (YAML or JSON)"))

const json = Flag.Boolean("json").pipe(
  Flag.withDescription("Print one JSON object for scripts: { file, valid, summary } or { file, valid: false, reason, problems: [{ path, line, message }] }"),
  Flag.withDefault(false)
)

const failureJson = (error: ConfigError) =>
  JSON.stringify({ file: error.file, valid: false, reason: error.reason, problems: error.problems })

const validate = Command.make("validate", { file, json }, ({ file, json }) =>
  loadClusterConfig(file).pipe(
    Effect.flatMap(({ config, file }) =>
      json
        ? Console.log(JSON.stringify({
          file,
          valid: true,
          summary: {
            cluster: config.cluster.name,
            nodes: config.nodes.map((n) => n.name),
            partitions: config.cluster.partitions,
            sensors: config.sensors.length,
            windows: config.windows.map((w) => w.name),
            rules: config.rules.map((r) => r.name),
            sink: { kind: config.sink.kind, url: config.sink.url }
          }
        }))
        : Console.log(
          `${file} is valid: cluster "${config.cluster.name}", ${config.nodes.length} node(s), ` +
            `${config.cluster.partitions} partitions, ${config.sensors.length} sensor(s), ` +
            `windows ${config.windows.map((w) => w.name).join(", ")}, sink ${config.sink.kind} ${config.sink.url}`
        )
    ),
    Effect.catchTag("ConfigError", (error) =>
      (json ? Console.log(failureJson(error)) : Console.error(error.message)).pipe(Effect.andThen(ExitCode.fail(1))))
  )).pipe(
  Command.withDescription("Check a cluster file: every problem is reported with its path, line and reason (unknown keys included)"),
  Command.withExamples([
    { command: "bramble config validate bramble.yaml", description: "Validate before deploying" },
    { command: "bramble config validate --json bramble.yaml", description: "The same, as JSON for scripts" }
  ])
)

const init = Command.make(
  "init",
  {
    file: Argument.String("file").pipe(
      Argument.withDescription("Where to write it (default: print it); an existing file is not overwritten"),
      Argument.optional
    ),
    nodes: Flag.Int("nodes").pipe(
      Flag.filterMap((n) => (n >= 1 && n <= 64 ? Option.some(n) : Option.none()), (n) => `--nodes is 1 to 64, not ${n}`),
      Flag.withDescription("How many nodes (pi1 … piN), one sensor on each (default 1)"),
      Flag.withDefault(1)
    ),
    sink: Flag.Literals("sink", ["influx-v2", "influx-v1"]).pipe(
      Flag.withDescription("influx-v2: InfluxDB 2.x/3.x, 1.8+, VictoriaMetrics; influx-v1: InfluxDB 1.x (32-bit Pis) (default influx-v2)"),
      Flag.withDefault("influx-v2" as const)
    ),
    simulate: Flag.Boolean("simulate").pipe(
      Flag.withDescription("Simulated DHT22 sensors (no hardware) instead of real ones (default: real DHT22)"),
      Flag.withDefault(false)
    )
  },
  ({ file, nodes, sink, simulate }) =>
    Effect.gen(function*() {
      const text = clusterFileTemplate({ nodes, sink, simulate })
      if (Option.isNone(file)) return yield* Console.log(text)
      if (existsSync(file.value)) {
        yield* Console.error(`${file.value} already exists; not overwriting it (choose another name or remove it first)`)
        return yield* ExitCode.fail(1)
      }
      writeFileSync(file.value, text)
      yield* Console.log(`wrote ${file.value}; edit it, then: bramble config validate ${file.value}`)
    })
).pipe(
  Command.withDescription("Write a commented, valid starting cluster file"),
  Command.withExamples([
    { command: "bramble config init bramble.yaml --nodes 3", description: "Three Pis with DHT22 sensors, InfluxDB 2" },
    { command: "bramble config init --simulate --sink influx-v1", description: "Print a one-node file with simulated sensors and InfluxDB 1.x" }
  ])
)

const schema = Command.make("schema", {}, () => Console.log(JSON.stringify(clusterConfigJsonSchema(), null, 2))).pipe(
  Command.withDescription(
    "Print the cluster file's JSON Schema, for editors: save it and put `# yaml-language-server: $schema=./bramble.schema.json` at the top of the file"
  ),
  Command.withExamples([{ command: "bramble config schema > bramble.schema.json", description: "Completion and checks in VS Code, Neovim, …" }])
)

export const configCommand = Command.make("config").pipe(
  Command.withDescription("Work with cluster files, and change the running cluster's (apply, history, show, rollback)"),
  Command.withSubcommands([validate, init, schema, ...configVersionCommands])
)
