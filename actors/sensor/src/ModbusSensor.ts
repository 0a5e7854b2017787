/**
 * A Modbus device as a sensor: every `intervalMs` its registers are read (contiguous ones in
 * one request, `planReads`), decoded and scaled, filtered by report-by-exception, and the
 * metrics that are due go into the sensor's outbox as one reading.
 *
 * The device's bus is shared with the other devices on it (the driver takes their requests
 * in turn). A failed request (timeout, a Modbus exception, a broken connection) never stops
 * the actor: the cycle counts as failed, the metrics of the blocks that were read are still
 * published, and after `faultAfter` failed cycles in a row `sensor-fault` is raised with the
 * Modbus reason (e.g. `Exception 2 (Illegal Data Address) reading holding registers 10..11`),
 * cleared by the next complete cycle.
 */
import { decodeBlock, type ModbusBlock, type ModbusBus, ModbusDriver, type ModbusPoint, type ModbusTarget, planReads } from "@bramble/hardware"
import { Effect, type Scope } from "effect"
import type { OutboxError } from "./Outbox.js"
import { runPolledSensor, type SensorPoll } from "./PolledSensor.js"
import type { ReportPolicy } from "./ReportByException.js"
import type { SensorActorOptions } from "./SensorActor.js"

/** One Modbus device (a unit on a bus) read as one sensor. */
export interface ModbusSensorSpec {
  readonly kind: "modbus"
  readonly device: string
  readonly sensor: string
  readonly target: ModbusTarget
  /** The unit (slave) id, 0..247 (0 and 255 are what many TCP devices answer to). */
  readonly unit: number
  readonly points: ReadonlyArray<ModbusPoint>
  readonly intervalMs: number
  /** Longest wait for one answer. */
  readonly timeoutMs: number
  /** Failed cycles in a row that raise `sensor-fault`. */
  readonly faultAfter: number
  /** Report-by-exception policy per metric; metrics without one are published every cycle. */
  readonly report?: Readonly<Record<string, ReportPolicy>>
}

/** Reads every block of a device once (used by the actor and by `bramble sensors probe`). */
export const pollModbusDevice = (
  bus: Pick<ModbusBus, "read">,
  unit: number,
  blocks: ReadonlyArray<ModbusBlock>
): Effect.Effect<SensorPoll> =>
  Effect.gen(function*() {
    const values: Record<string, number> = {}
    let failure: string | undefined
    for (const block of blocks) {
      const answer = yield* Effect.result(bus.read(unit, block.table, block.address, block.count))
      if (answer._tag === "Failure") {
        failure ??= `${answer.failure.reason}: ${answer.failure.message}`
        continue
      }
      const decoded = decodeBlock(block, answer.success)
      Object.assign(values, decoded.values)
      if (decoded.invalid.length > 0) failure ??= `BadResponse: ${decoded.invalid.join(", ")} decoded to NaN or infinity`
    }
    return { values, failure }
  })

/** Opens the bus of a device (shared with the other devices on it) for the scope. */
export const modbusBus = (driver: ModbusDriver["Service"], spec: Pick<ModbusSensorSpec, "target" | "timeoutMs">) =>
  driver.open(spec.target, { timeoutMs: spec.timeoutMs })

/** Polls one Modbus device for ever; fails only if its outbox fails. */
export const runModbusSensor = (
  options: SensorActorOptions<ModbusSensorSpec>
): Effect.Effect<never, OutboxError, ModbusDriver | Scope.Scope> => {
  const { spec } = options
  return runPolledSensor(options, {
    report: spec.report ?? {},
    makePoll: Effect.gen(function*() {
      const driver = yield* ModbusDriver
      const blocks = planReads(spec.points)
      let bus: ModbusBus | undefined
      return Effect.gen(function*() {
        // A driver that cannot run here (no serial support built) is retried every cycle, and counts.
        const opened = bus === undefined ? yield* Effect.result(modbusBus(driver, spec)) : undefined
        if (opened?._tag === "Success") bus = opened.success
        return bus === undefined
          ? { values: {}, failure: opened?._tag === "Failure" ? `${opened.failure.reason}: ${opened.failure.message}` : "not open" }
          : yield* pollModbusDevice(bus, spec.unit, blocks)
      })
    })
  })
}
