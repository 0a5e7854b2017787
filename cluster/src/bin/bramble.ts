#!/usr/bin/env node
/**
 * The `bramble` command line. Every command has `--help`; exit codes: 0 success, 1 the
 * request failed (already explained on stderr), 2 usage error, 130 interrupted.
 */
// Deep imports: the package index loads every module (Redis, cluster, HTTP clients), which
// costs a node ~0.3 s of its cold start.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect } from "effect"
import { Command } from "effect/cli"
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
import { statusCommand } from "../cli/StatusCommand.js"
import { tailCommand } from "../cli/TailCommand.js"
import { ExitCode } from "../cli/ExitCode.js"
import { VERSION } from "../Version.js"

const bramble = Command.make("bramble").pipe(
  Command.withDescription("Bramble: an actor-based runtime for an IoT data centre on a cluster of Raspberry Pis"),
  Command.withSubcommands([
    demoCommand,
    nodeCommand,
    configCommand,
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

bramble.pipe(
  Command.run({ version: VERSION }),
  // The help text and the parse errors are already printed: usage errors exit 2.
  Effect.catch((error: unknown) => {
    const help = error as { readonly _tag?: string; readonly errors?: ReadonlyArray<unknown> }
    if (help._tag !== "ShowHelp") return Effect.fail(error)
    return (help.errors?.length ?? 0) > 0 ? ExitCode.fail(2) : Effect.void
  }),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
