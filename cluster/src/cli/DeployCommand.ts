/**
 * `bramble deploy`: from a cluster file to what gets installed on the Pis.
 *
 *   bramble deploy creds --config cluster.yaml --out credentials/
 *       passwords for every node, external device, the admin and the dashboard, their bcrypt
 *       hashes, and (for TLS) a CA with a certificate per node. Files 0600; nothing secret is
 *       printed. Running it again keeps what exists and adds what the file now needs.
 *   bramble deploy render cluster.yaml --out deploy-out/ [--credentials credentials/]
 *       per node nats-server.conf, systemd unit, env file and README, plus the master Pi's
 *       docker-compose.yml and Grafana provisioning. A secured cluster file needs the hashes
 *       from the credentials directory (default: `security.credentials`). nats-server.conf
 *       and bramble.env are written 0600 in 0700 node directories.
 *
 * Exit codes: 0 done, 1 the file or the credentials are wrong (said on stderr), 2 usage.
 */
import { type ClusterConfig, loadClusterConfig } from "@bramble/config"
import {
  DEFAULT_BCRYPT_COST,
  generateCredentials,
  readPasswordHashes,
  renderDeployment,
  type RenderDeploymentOptions,
  type SecurityError,
  writeRenderedFiles
} from "@bramble/deploy"
import { resolve } from "node:path"
import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { type CliFailure, ExitCode } from "./ExitCode.js"

const fail = (message: string): Effect.Effect<never, CliFailure> => Console.error(message).pipe(Effect.andThen(ExitCode.fail(1)))

const loadConfig = (file: string) =>
  loadClusterConfig(file).pipe(Effect.catchTag("ConfigError", (error) => fail(error.message)))

const explainSecurity = (error: SecurityError) => fail(`${error.message}`)

const optional = <A>(option: Option.Option<A>, key: string) => (Option.isSome(option) ? { [key]: option.value } : {})

// ---------------------------------------------------------------------------------------
// deploy render

const render = Command.make(
  "render",
  {
    file: Argument.String("cluster-file").pipe(Argument.withDescription("The cluster file (YAML)")),
    out: Flag.String("out").pipe(Flag.withAlias("o"), Flag.withDescription("Directory to write the rendered files to (created)")),
    credentials: Flag.String("credentials").pipe(
      Flag.withDescription("Directory `bramble deploy creds` wrote (secured cluster files; default: security.credentials)"),
      Flag.optional
    ),
    binPath: Flag.String("bin-path").pipe(Flag.withDescription("The bramble executable on the Pis (default /usr/local/bin/bramble)"), Flag.optional),
    dataDir: Flag.String("data-dir").pipe(Flag.withDescription("Data directory on the Pis (default /var/lib/bramble)"), Flag.optional),
    configPath: Flag.String("config-path").pipe(Flag.withDescription("Where the cluster file goes on the Pis (default /etc/bramble/cluster.yaml)"), Flag.optional)
  },
  ({ file, out, credentials, binPath, dataDir, configPath }) =>
    Effect.gen(function*() {
      const { config } = yield* loadConfig(file)
      const hashes = yield* passwordHashesFor(config, credentials)
      const options: RenderDeploymentOptions = {
        ...optional(binPath, "binPath"),
        ...optional(dataDir, "dataDir"),
        ...optional(configPath, "configPath"),
        ...(hashes === undefined ? {} : { passwordHashes: hashes })
      }
      const files = yield* Effect.try({
        try: () => renderDeployment(config, options),
        catch: (error) => (error as Error).message
      }).pipe(Effect.catch(fail))
      const dir = resolve(out)
      // nats-server.conf and bramble.env 0600 in 0700 directories, the rest 0644.
      yield* Effect.try({
        try: () => writeRenderedFiles(dir, files),
        catch: (error) => `cannot write to ${dir}: ${(error as Error).message}`
      }).pipe(Effect.catch(fail))
      yield* Console.log(`${files.length} files rendered from ${file} into ${dir}:`)
      for (const rendered of files) yield* Console.log(`  ${rendered.path}`)
      yield* Console.log(`Each node's README.md says what to install on its Pi.`)
    })
).pipe(
  Command.withDescription("Render every node's nats-server.conf, systemd unit, env file and README, and the master Pi's compose file"),
  Command.withExamples([
    { command: "bramble deploy render cluster.yaml --out deploy-out", description: "Render into deploy-out/" },
    { command: "bramble deploy render cluster.yaml -o out --credentials ./credentials", description: "A secured cluster, credentials generated here" }
  ])
)

const passwordHashesFor = (config: ClusterConfig, credentials: Option.Option<string>) =>
  Effect.gen(function*() {
    if (config.security === undefined) return undefined
    const dir = Option.getOrElse(credentials, () => config.security!.credentials)
    return yield* readPasswordHashes(resolve(dir)).pipe(
      Effect.catchTag("SecurityError", (error) =>
        fail(`${error.message}\nThe cluster file is secured: run \`bramble deploy creds --config FILE --out DIR\` first, and pass --credentials DIR.`))
    )
  })

// ---------------------------------------------------------------------------------------
// deploy creds

const creds = Command.make(
  "creds",
  {
    config: Flag.String("config").pipe(Flag.withAlias("c"), Flag.withDescription("The cluster file (YAML)")),
    out: Flag.String("out").pipe(Flag.withAlias("o"), Flag.withDescription("Credentials directory (created 0700; existing credentials are kept)")),
    cost: Flag.Int("cost").pipe(Flag.withDescription(`bcrypt cost of the password hashes (4-31)`), Flag.withDefault(DEFAULT_BCRYPT_COST)),
    tls: Flag.Boolean("tls").pipe(Flag.withDescription("Make the CA and node certificates even if the cluster file does not enable TLS"), Flag.withDefault(false)),
    rsa: Flag.Boolean("rsa").pipe(Flag.withDescription("RSA 2048 keys instead of ECDSA P-256 (for devices whose TLS stack lacks ECDSA)"), Flag.withDefault(false)),
    rotate: Flag.Boolean("rotate").pipe(Flag.withDescription("Replace every password, the CA and every certificate"), Flag.withDefault(false))
  },
  ({ config: file, out, cost, tls, rsa, rotate }) =>
    Effect.gen(function*() {
      const { config } = yield* loadConfig(file)
      if (!Number.isInteger(cost) || cost < 4 || cost > 31) {
        return yield* Console.error("--cost must be an integer from 4 to 31").pipe(Effect.andThen(ExitCode.fail(2)))
      }
      const dir = resolve(out)
      const report = yield* generateCredentials({ config, out: dir, cost, tls, rotate, keyType: rsa ? "rsa" : "ec" }).pipe(
        Effect.catchTag("SecurityError", explainSecurity)
      )
      yield* Console.log(`Credentials of cluster "${config.cluster.name}" in ${dir} (files 0600, directories 0700):`)
      const list = (title: string, items: ReadonlyArray<string>) =>
        items.length === 0 ? Effect.void : Console.log(`  ${title}: ${items.join(", ")}`)
      yield* list("created", report.created)
      yield* list("kept", report.kept)
      yield* list("kept the hash only (password file not here)", report.hashOnly)
      yield* list("dropped (no longer in the cluster file)", report.dropped)
      if (config.security === undefined) {
        yield* Console.log([
          "",
          "The cluster file has no security section yet. Add one naming where the Pis keep these files:",
          "  security:",
          "    credentials: /etc/bramble/credentials",
          "    devices: [{ id: greenhouse-1 }]        # MQTT devices; { id: x, transport: nats } for NATS",
          "    tls: { enabled: true }"
        ].join("\n"))
      }
      yield* Console.log("\nRender the deployment with `bramble deploy render`: each node's README lists the files its Pi needs.")
    })
).pipe(
  Command.withDescription("Generate passwords for nodes, devices, admin and dashboard, their hashes, and a CA with node certificates"),
  Command.withExamples([
    { command: "bramble deploy creds --config cluster.yaml --out credentials", description: "Generate, or add what is missing" },
    { command: "bramble deploy creds -c cluster.yaml -o credentials --rotate", description: "Replace everything" }
  ])
)

export const deployCommand = Command.make("deploy").pipe(
  Command.withDescription("Render the files to install on the Pis, and generate credentials"),
  Command.withSubcommands([render, creds])
)
