/**
 * The edge of a node: the sensor and actuator actors of the Pi it runs on.
 *
 * Each sensor of this node (cluster file `sensors`, `node: <this>`) gets a sensor actor
 * (actors/sensor) with its own on-disk outbox in `<dataDir>/<node>/outbox/<device>.<sensor>/`,
 * delivering to JetStream with PubAcks; each actuator gets an actuator actor
 * (actors/actuator) fed from the ALARMS stream. Every actor is supervised on its own: a
 * failure is logged and the actor starts again with capped, jittered backoff; nothing here
 * can stop the node. The `sensor-fault` and `outbox-overflow` alarms the sensors raise go
 * to ALARMS through one alarm sender.
 *
 * Drivers are chosen per sensor: the `simulated-` kinds (or every kind with `--simulate`)
 * use the simulated twins, the others the real drivers (node-dht-sensor, onoff, modbus-serial, the kernel's w1 files, i2c-bus), which fail
 * with a clear `HardwareUnavailable` off a Pi. Simulated inputs are pressed at random
 * (every 20 s on average) so the demo shows door and button readings.
 */
import { type ActuatorStats, alarmFilters, type AlarmMatcher, makeActuatorStats, runActuator } from "@bramble/actor-actuator"
import {
  makeAlarmSender,
  makeSensorStats,
  openOutbox,
  type Publish,
  runDhtSensor,
  runGpioInput,
  runI2cSensor,
  runModbusSensor,
  runOneWireSensor,
  runSyntheticSensor,
  type SensorActorOptions,
  type SensorSpec,
  type SensorStats
} from "@bramble/actor-sensor"
import { type ClusterConfig, isFieldInput, isI2cInput, type Sensor } from "@bramble/config"
import { nodeDataDir } from "@bramble/deploy"
import { DhtDriver, GpioDriver, I2cDriver, layerSimulatedI2c, ModbusDriver, OneWireDriver, type SimulatedChipModel, SimulatedModbus } from "@bramble/hardware"
import { type NatsClient, type NatsError, natsError } from "@bramble/nats"
import { type Alarm, parseAlarm, Subjects } from "@bramble/protocol"
import { Backoff } from "@bramble/runtime"
import { DeliverPolicy } from "@nats-io/jetstream"
import { Context, Effect, Layer, Result, type Scope, Stream } from "effect"
import { join } from "node:path"
import type { ActorRegistry } from "../admin/ActorRegistry.js"
import { fieldInputSpec, i2cModel } from "./FieldInputSpec.js"

/** Drivers that replace the ones the kinds and `simulate` choose (tests inject simulated drivers they control). */
export interface EdgeHardware {
  readonly dht?: Layer.Layer<DhtDriver>
  readonly gpio?: Layer.Layer<GpioDriver>
  readonly modbus?: Layer.Layer<ModbusDriver>
  readonly oneWire?: Layer.Layer<OneWireDriver>
  readonly i2c?: Layer.Layer<I2cDriver>
}

export interface EdgeOptions {
  readonly config: ClusterConfig
  readonly node: string
  /** Simulated drivers for every sensor and actuator, whatever their kind. */
  readonly simulate: boolean
  readonly client: NatsClient["Service"]
  readonly registry: Pick<ActorRegistry, "restartable">
  readonly hardware?: EdgeHardware
}

/** What the node reports about its edge. */
export interface RunningEdge {
  readonly sensors: ReadonlyArray<SensorStats>
  readonly actuators: ReadonlyArray<ActuatorStats>
}

/** Where a sensor's outbox lives. */
export const outboxDir = (config: ClusterConfig, node: string, sensor: Pick<Sensor, "device" | "sensor">): string =>
  join(nodeDataDir(config, node), "outbox", `${sensor.device}.${sensor.sensor}`)

/** The actor's view of a sensor entry of the cluster file. */
export const sensorSpec = (s: Sensor): SensorSpec => {
  const identity = { device: s.device, sensor: s.sensor }
  if (isFieldInput(s)) return fieldInputSpec(s)
  const calibration = s.calibration === undefined ? {} : { calibration: s.calibration }
  switch (s.kind) {
    case "dht11":
    case "simulated-dht11":
    case "dht22":
    case "simulated-dht22":
      return {
        ...identity,
        kind: "dht",
        model: s.kind.endsWith("dht11") ? "dht11" : "dht22",
        pin: s.pin,
        intervalMs: s.interval,
        attempts: s.attempts,
        faultAfter: s.faultAfter,
        ...calibration
      }
    case "gpio-input":
    case "simulated-gpio-input":
      return { ...identity, kind: "gpio-input", pin: s.pin, edge: s.edge, debounceMs: s.debounce, activeLow: s.activeLow }
    case "synthetic":
      return { ...identity, kind: "synthetic", intervalMs: s.interval, ...calibration }
  }
}

/**
 * Alarm events of ALARMS under `filters`: first the latest event of every matching alarm
 * (its current state), then each new one. One ordered consumer per filter (nats-server 2.9
 * takes one filter subject per consumer); it recreates itself after a server restart.
 */
export const alarmFeed = (client: NatsClient["Service"], filters: ReadonlyArray<string>): Stream.Stream<Alarm, NatsError> =>
  Stream.mergeAll(
    filters.map((filter) =>
      Stream.unwrap(Effect.gen(function*() {
        const consumer = yield* Effect.tryPromise({
          try: () => client.js.consumers.get(Subjects.Streams.alarms, { filter_subjects: filter, deliver_policy: DeliverPolicy.LastPerSubject }),
          catch: natsError("JetStream", `cannot follow ${filter} in ${Subjects.Streams.alarms}`)
        })
        const messages = yield* Effect.acquireRelease(
          Effect.tryPromise({ try: () => consumer.consume(), catch: natsError("JetStream", `cannot follow ${filter}`) }),
          (messages) => Effect.promise(() => messages.close()).pipe(Effect.ignore)
        )
        return Stream.fromAsyncIterable(messages, natsError("JetStream", `following ${filter} failed`)).pipe(
          Stream.filterMap((message) => {
            const alarm = parseAlarm(message.data)
            // An unreadable event is not ours to fix; it cannot switch anything.
            return Result.isSuccess(alarm) ? Result.succeed(alarm.success) : Result.fail(undefined)
          })
        )
      }))
    ),
    { concurrency: "unbounded" }
  )

/** The I2C chips the file puts on a node, for the simulated buses to answer as those models. */
export const i2cChipsOf = (sensors: ReadonlyArray<Sensor>): Array<{ bus: number; address: number; model: SimulatedChipModel }> =>
  sensors.flatMap((s) => (isFieldInput(s) && isI2cInput(s) ? [{ bus: s.bus, address: s.address, model: i2cModel(s.kind) }] : []))

/** Starts the sensor and actuator actors of `options.node` for the duration of the scope. */
export const startEdge = Effect.fn("Edge.startEdge")(function*(options: EdgeOptions): Effect.fn.Return<RunningEdge, never, Scope.Scope> {
  const { config, node, client, registry } = options
  const mySensors = config.sensors.filter((s) => s.node === node)
  const myActuators = config.actuators.filter((a) => a.node === node)
  if (mySensors.length === 0 && myActuators.length === 0) return { sensors: [], actuators: [] }

  // Drivers are built once, on first use, and shared: a pin is claimed once per node.
  const built = new Map<string, Context.Context<never>>()
  const driver = <I>(key: string, layer: Layer.Layer<I>) =>
    Effect.gen(function*() {
      const existing = built.get(key)
      if (existing !== undefined) return existing as Context.Context<I>
      const context = yield* Layer.build(layer)
      built.set(key, context as Context.Context<never>)
      return context
    })
  const simulated = (kind: string) => options.simulate || kind.startsWith("simulated-")
  const dhtDriver = (kind: string) =>
    options.hardware?.dht !== undefined
      ? driver("dht-injected", options.hardware.dht)
      : simulated(kind)
      ? driver("dht-simulated", DhtDriver.layerSimulated())
      : driver("dht-real", DhtDriver.layerNodeDht)
  const gpioDriver = (kind: string) =>
    options.hardware?.gpio !== undefined
      ? driver("gpio-injected", options.hardware.gpio)
      : simulated(kind)
      ? driver("gpio-simulated", GpioDriver.layerSimulated({ randomPresses: { meanIntervalMs: 20_000 } }))
      : driver("gpio-real", GpioDriver.layerOnoff)
  const modbusDriver = (kind: string) =>
    options.hardware?.modbus !== undefined
      ? driver("modbus-injected", options.hardware.modbus)
      : simulated(kind)
      ? driver("modbus-simulated", ModbusDriver.layerSimulated)
      : driver("modbus-real", ModbusDriver.layerModbusSerial)
  // The simulated bus has the probes the file lists (or two, when it lists none).
  const listedProbes = [...new Set(mySensors.flatMap((s) => ("probes" in s && s.probes !== undefined ? Object.values(s.probes) : [])))]
  const oneWireDriver = (kind: string) =>
    options.hardware?.oneWire !== undefined
      ? driver("w1-injected", options.hardware.oneWire)
      : simulated(kind)
      ? driver("w1-simulated", OneWireDriver.layerSimulated(listedProbes.length > 0 ? { probes: listedProbes } : {}))
      : driver("w1-real", OneWireDriver.layerSysfs())

  // One I2C driver per node: a bus is opened once and its chips are read in turn.
  const i2cChips = i2cChipsOf(mySensors)
  const i2cDriver = (kind: string) =>
    options.hardware?.i2c !== undefined
      ? driver("i2c-injected", options.hardware.i2c)
      : simulated(kind)
      ? driver("i2c-simulated", layerSimulatedI2c({ chips: i2cChips }))
      : driver("i2c-real", I2cDriver.layerI2cBus)

  const publish: Publish = (subject, data, msgID) =>
    Effect.tryPromise({ try: () => client.js.publish(subject, data, { msgID }), catch: natsError("Publish", `cannot publish to ${subject}`) })
  const alarms = yield* makeAlarmSender({ publish })

  const supervise = <E, R>(name: string, kind: string, actor: Effect.Effect<never, E, R>, processed: () => number) =>
    Effect.forkScoped(
      registry.restartable(name, kind, actor, { processed }).pipe(
        Effect.tapCause((cause) => Effect.logError(`${kind} ${name} failed; restarting`, cause)),
        Effect.retry(Backoff.schedule({ initial: "1 second", max: "30 seconds", factor: 2, jitter: 0.3 }))
      )
    )

  const sensors: Array<SensorStats> = []
  for (const s of mySensors) {
    const stats = makeSensorStats(s.device, s.sensor)
    sensors.push(stats)
    const spec = sensorSpec(s)
    const base: Omit<SensorActorOptions, "spec"> = {
      outbox: openOutbox({ dir: outboxDir(config, node, s), maxReadings: s.outbox.maxReadings }),
      publish,
      raise: alarms.raise,
      stats
    }
    if (spec.kind === "modbus" && simulated(s.kind) && options.hardware?.modbus === undefined) {
      // The simulated twin answers the registers this device's map names, and only those.
      const context = yield* modbusDriver(s.kind)
      yield* Context.get(context as unknown as Context.Context<SimulatedModbus>, SimulatedModbus).define(spec.target, spec.unit, spec.points)
    }
    const actor = spec.kind === "dht"
      ? Effect.provide(Effect.scoped(runDhtSensor({ ...base, spec })), yield* dhtDriver(s.kind))
      : spec.kind === "gpio-input"
      ? Effect.provide(Effect.scoped(runGpioInput({ ...base, spec })), yield* gpioDriver(s.kind))
      : spec.kind === "modbus"
      ? Effect.provide(Effect.scoped(runModbusSensor({ ...base, spec })), yield* modbusDriver(s.kind))
      : spec.kind === "ds18b20"
      ? Effect.provide(Effect.scoped(runOneWireSensor({ ...base, spec })), yield* oneWireDriver(s.kind))
      : spec.kind === "i2c"
      ? Effect.provide(Effect.scoped(runI2cSensor({ ...base, spec })), yield* i2cDriver(s.kind))
      : Effect.scoped(runSyntheticSensor({ ...base, spec }))
    yield* supervise(`sensor-${s.device}-${s.sensor}`, "sensor", actor, () => stats.published)
  }

  const actuators: Array<ActuatorStats> = []
  for (const a of myActuators) {
    const stats = makeActuatorStats(a)
    actuators.push(stats)
    const on: ReadonlyArray<AlarmMatcher> = "rule" in a.on ? [a.on] : a.on
    const actor = runActuator({
      spec: { name: a.name, pin: a.pin, activeLow: a.activeLow, on },
      alarms: alarmFeed(client, alarmFilters(on)),
      stats
    }).pipe(Effect.scoped, Effect.provide(yield* gpioDriver(a.kind)))
    yield* supervise(`actuator-${a.name}`, "actuator", actor, () => stats.events)
  }
  return { sensors, actuators }
})
