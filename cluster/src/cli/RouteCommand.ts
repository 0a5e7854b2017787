/**
 * `bramble route test --config FILE TOPIC PAYLOAD`: which ingest route a topic takes and what
 * it makes of a payload — the readings (device, sensor, time, values) or each refusal with
 * its reason — without a running node. The same code the router runs (../ingest).
 */
import { loadClusterConfig } from "@bramble/config"
import { Console, Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { makeRouteTable } from "../ingest/RouteTable.js"
import { ExitCode } from "./ExitCode.js"

const config = Flag.String("config").pipe(Flag.withAlias("c"), Flag.withDescription("The cluster file"), Flag.withDefault("bramble.yaml"))
const topic = Argument.String("topic").pipe(Argument.withDescription("An MQTT topic (home/kitchen/temperature) or NATS subject (home.kitchen.temperature)"))
const payload = Argument.String("payload").pipe(Argument.withDescription("The payload, as the device sends it (quote it for the shell)"))

const BRAMBLE_TOPIC = /^ingest\/[^/]+\/[^/]+$/

const test = Command.make("test", { config, topic, payload }, ({ config, topic, payload }) =>
  Effect.gen(function*() {
    const loaded = yield* loadClusterConfig(config)
    const table = makeRouteTable(loaded.config)
    const mqttTopic = topic.includes("/") ? topic : topic.replaceAll(".", "/")
    if (BRAMBLE_TOPIC.test(mqttTopic)) {
      return yield* Console.log(`${mqttTopic}: Bramble's own dialect (ingest/<device>/<sensor>, {"values": {...}}), partitioned by nats-server; no route involved`)
    }
    const now = Date.now()
    const routed = table.take(mqttTopic.replaceAll("/", "."), new TextEncoder().encode(payload), now)
    if (routed._tag === "NoRoute") {
      yield* Console.log(`${mqttTopic}: NoRoute — ${routed.message}`)
      return yield* ExitCode.fail(1)
    }
    const { route, decoded } = routed
    const lines = [`${mqttTopic}: route ${route.route.name} (${route.route.topic}, dialect ${route.route.dialect})`]
    for (const r of decoded.readings) {
      lines.push(`  reading  device ${r.device}  sensor ${r.sensor}  ${r.ts === undefined ? "time: when stored" : new Date(r.ts).toISOString()}  ${JSON.stringify(r.values)}${r.tags === undefined ? "" : `  tags ${JSON.stringify(r.tags)}`}`)
    }
    for (const r of decoded.refusals) lines.push(`  refused  ${r.reason}: ${r.message}`)
    yield* Console.log(lines.join("\n"))
    if (decoded.readings.length === 0) return yield* ExitCode.fail(1)
  }).pipe(
    Effect.catchTag("ConfigError", (error) => Console.error(error.message).pipe(Effect.andThen(ExitCode.fail(1))))
  )).pipe(
  Command.withDescription("Show which ingest route a topic takes and the readings (or refusals) a payload gives; exit 1 when none"),
  Command.withExamples([
    { command: `bramble route test -c bramble.yaml sensors/lab '{"sensor_id": 1, "temperature": 25.5}'`, description: "A JSON device" },
    { command: "bramble route test home/livingroom/temperature 21.5", description: "A plain number" }
  ])
)

export const routeCommand = Command.make("route").pipe(
  Command.withDescription("Work with the cluster file's ingest routes (docs/ingest-routes.md)"),
  Command.withSubcommands([test])
)
