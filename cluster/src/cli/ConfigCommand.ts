/**
 * `bramble config validate FILE`: check a cluster file and say exactly what is wrong.
 * Exit code 0 when valid, 1 when not (scripts and CI rely on it).
 */
import { loadClusterConfig } from "@bramble/config"
import { Console, Effect } from "effect"
import { Argument, Command } from "effect/cli"
import { ExitCode } from "./ExitCode.js"

const file = Argument.String("file").pipe(Argument.withDescription("Path to the cluster file (YAML or JSON)"))

const validate = Command.make("validate", { file }, ({ file }) =>
  loadClusterConfig(file).pipe(
    Effect.flatMap(({ config, file }) =>
      Console.log(
        `${file} is valid: cluster "${config.cluster.name}", ${config.nodes.length} node(s), ` +
          `${config.cluster.partitions} partitions, ${config.sensors.length} sensor(s), ` +
          `windows ${config.windows.map((w) => w.name).join(", ")}, sink ${config.sink.kind} ${config.sink.url}`
      )
    ),
    Effect.catchTag("ConfigError", (error) => Console.error(error.message).pipe(Effect.andThen(ExitCode.fail(1))))
  )).pipe(
  Command.withDescription("Check a cluster file: every problem is reported with its path, line and reason"),
  Command.withExamples([{ command: "bramble config validate bramble.yaml", description: "Validate before deploying" }])
)

export const configCommand = Command.make("config").pipe(
  Command.withDescription("Work with cluster files"),
  Command.withSubcommands([validate])
)
