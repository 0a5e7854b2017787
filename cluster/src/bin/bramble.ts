#!/usr/bin/env node
/**
 * The `bramble` command line. Every command has `--help`; exit codes: 0 success, 1 the
 * request failed (already explained on stderr), 2 usage error, 130 interrupted.
 */
// Deep imports: the package index loads every module (Redis, cluster, HTTP clients), which
// costs a node ~0.3 s of its cold start.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { didYouMean } from "@bramble/config"
import { Console, Context, Effect, Layer } from "effect"
import { CliOutput, Command, TerminalCapabilities } from "effect/cli"
import { actorsCommand, restartCommand } from "../cli/ActorsCommand.js"
import { alarmsCommand } from "../cli/AlarmsCommand.js"
import { membersCommand, partitionsCommand } from "../cli/ClusterMapCommand.js"
import { configCommand } from "../cli/ConfigCommand.js"
import { demoCommand } from "../cli/DemoCommand.js"
import { deployCommand } from "../cli/DeployCommand.js"
import { devCommand } from "../cli/DevCommand.js"
import { deviceCommand } from "../cli/DeviceCommand.js"
import { devicesCommand } from "../cli/DevicesCommand.js"
import { exportCommand } from "../cli/ExportCommand.js"
import { nodeCommand } from "../cli/NodeCommand.js"
import { replayCommand } from "../cli/ReplayCommand.js"
import { sensorsCommand } from "../cli/SensorsCommand.js"
import { routeCommand } from "../cli/RouteCommand.js"
import { statusCommand } from "../cli/StatusCommand.js"
import { tailCommand } from "../cli/TailCommand.js"
import { ExitCode } from "../cli/ExitCode.js"
import { VERSION } from "@bramble/protocol"

const bramble = Command.make("bramble").pipe(
  Command.withDescription("Bramble: an actor-based runtime for an IoT data centre on a cluster of Raspberry Pis"),
  Command.withSubcommands([
    demoCommand,
    nodeCommand,
    configCommand,
    sensorsCommand,
    routeCommand,
    deployCommand,
    replayCommand,
    exportCommand,
    statusCommand,
    devicesCommand,
    deviceCommand,
    alarmsCommand,
    tailCommand,
    actorsCommand,
    restartCommand,
    devCommand,
    membersCommand,
    partitionsCommand
  ])
)

/**
 * A usage error prints what is wrong and where the help is, not the whole help: the error
 * was scrolled away under it. `--help` itself prints the help, as before.
 */
const presenter = CliOutput.layerPresenter({
  present: (event) =>
    event._tag !== "InvalidInvocation"
      ? CliOutput.defaultPresenter.present(event)
      : Effect.gen(function*() {
        const context = yield* Effect.context<never>()
        const formatter = Context.getOrUndefined(context, CliOutput.Formatter) ??
          CliOutput.defaultFormatter({ colors: Context.get(context, TerminalCapabilities.TerminalCapabilities).canColor })
        yield* Console.error(formatter.formatErrors(event.errors).replace(/^\n+/, ""))
        yield* Console.error(`Run "${event.commandPath.join(" ")} --help" for usage.`)
      })
})

/**
 * `bramble config aply --help` would print the help of `config` and exit 0: the parser
 * reads `--help` before it looks at the unknown subcommand. Find that case first (only the
 * plain form, subcommand names before any flag), and make it the usage error it is.
 */
interface CommandNode {
  readonly name: string
  readonly subcommands: ReadonlyArray<{ readonly commands: ReadonlyArray<CommandNode> }>
}

const unknownSubcommand = (argv: ReadonlyArray<string>): string | undefined => {
  if (!argv.includes("--help") && !argv.includes("-h")) return undefined
  let command: CommandNode = bramble
  const path: Array<string> = [bramble.name]
  for (const token of argv) {
    if (token.startsWith("-")) return undefined
    const children = command.subcommands.flatMap((group) => group.commands)
    if (children.length === 0) return undefined
    const child = children.find((c) => c.name === token)
    if (child === undefined) {
      const near = didYouMean(token, children.map((c) => c.name))
      return [
        `Unknown subcommand "${token}" for "${path.join(" ")}"${near.length > 0 ? `; did you mean ${near.map((n) => `"${n}"`).join(" or ")}?` : ""}`,
        `Run "${path.join(" ")} --help" for its subcommands.`
      ].join("\n")
    }
    command = child
    path.push(token)
  }
  return undefined
}

// Debian installs nats-server in /usr/sbin, which is not on a normal user's PATH: the node
// and the demo start it by name, so a user who is not root would get "nats-server: not found".
const sbin = ["/usr/local/sbin", "/usr/sbin", "/sbin"].filter((dir) => !(process.env["PATH"] ?? "").split(":").includes(dir))
if (sbin.length > 0) process.env["PATH"] = [process.env["PATH"] ?? "", ...sbin].filter((p) => p !== "").join(":")

const unknown = unknownSubcommand(process.argv.slice(2))
if (unknown !== undefined) {
  process.stderr.write(`${unknown}\n`)
  process.exit(2)
}

bramble.pipe(
  Command.run({ version: VERSION }),
  // The help text and the parse errors are already printed: usage errors exit 2.
  Effect.catch((error: unknown) => {
    const help = error as { readonly _tag?: string; readonly errors?: ReadonlyArray<unknown> }
    if (help._tag !== "ShowHelp") return Effect.fail(error)
    return (help.errors?.length ?? 0) > 0 ? ExitCode.fail(2) : Effect.void
  }),
  Effect.provide(Layer.merge(NodeServices.layer, presenter)),
  NodeRuntime.runMain
)
