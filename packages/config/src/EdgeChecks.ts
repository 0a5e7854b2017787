/**
 * Cross-field checks of the edge part of the cluster file (`sensors`, `actuators`): what a
 * per-field Schema cannot say. Each problem names its path, like every other problem of the
 * file, so `bramble config validate` points at the line.
 */
import type { ClusterConfig, SensorKind } from "./ClusterConfig.js"
import { fieldInputProblems, isFieldInput } from "./FieldInputs.js"

type Problem = { path: Array<PropertyKey>; message: string }

/** The fastest a kind may be read, ms (the DHT models' own limits). */
const MIN_INTERVAL_MS: Partial<Record<SensorKind, number>> = {
  "dht11": 1_000,
  "simulated-dht11": 1_000,
  "dht22": 2_000,
  "simulated-dht22": 2_000,
  "synthetic": 10
}

/** The values each kind publishes, which are what `calibration` may name. */
const VALUES: Record<SensorKind, ReadonlyArray<string>> = {
  "dht11": ["temperature", "humidity"],
  "simulated-dht11": ["temperature", "humidity"],
  "dht22": ["temperature", "humidity"],
  "simulated-dht22": ["temperature", "humidity"],
  "gpio-input": [],
  "simulated-gpio-input": [],
  "synthetic": ["value"]
}

const usesPin = (kind: SensorKind) => kind !== "synthetic"
/** Real hardware: two things on one pin is a wiring mistake. (Simulated sensors may share.) */
const isReal = (kind: string) => !kind.startsWith("simulated-") && kind !== "synthetic"

/** Problems of `sensors` and `actuators`. */
export const edgeCrossCheck = (config: ClusterConfig): Array<Problem> => {
  const problems: Array<Problem> = []
  const nodeNames = new Set(config.nodes.map((n) => n.name))
  const noNode = (node: string) => `no node is named "${node}" (nodes: ${[...nodeNames].join(", ")})`
  const seen = new Map<string, number>()
  config.sensors.forEach((s, i) => {
    const key = `${s.device}/${s.sensor}`
    const first = seen.get(key)
    if (first === undefined) seen.set(key, i)
    else problems.push({ path: ["sensors", i, "device"], message: `device/sensor "${key}" is already used at index ${first}` })
    if (!nodeNames.has(s.node)) problems.push({ path: ["sensors", i, "node"], message: noNode(s.node) })
    if (isFieldInput(s)) return
    const minimum = MIN_INTERVAL_MS[s.kind]
    if (minimum !== undefined && s.interval < minimum) {
      problems.push({ path: ["sensors", i, "interval"], message: `a ${s.kind.replace("simulated-", "")} cannot be read more often than every ${minimum} ms` })
    }
    for (const name of Object.keys(s.calibration ?? {})) {
      const values = VALUES[s.kind]
      if (!values.includes(name)) {
        problems.push({
          path: ["sensors", i, "calibration", name],
          message: values.length === 0
            ? `a ${s.kind} publishes { state, count }, which have nothing to calibrate`
            : `a ${s.kind} has no value "${name}" to calibrate (its values: ${values.join(", ")})`
        })
      }
    }
  })

  const actuatorNames = new Map<string, number>()
  config.actuators.forEach((a, i) => {
    const first = actuatorNames.get(a.name)
    if (first === undefined) actuatorNames.set(a.name, i)
    else problems.push({ path: ["actuators", i, "name"], message: `actuator name "${a.name}" is already used at index ${first}` })
    if (!nodeNames.has(a.node)) problems.push({ path: ["actuators", i, "node"], message: noNode(a.node) })
  })

  // One real device per pin on each node.
  const pins = new Map<string, string>()
  const claim = (node: string, pin: number, path: Array<PropertyKey>, what: string) => {
    const key = `${node}:${pin}`
    const owner = pins.get(key)
    if (owner !== undefined) problems.push({ path, message: `GPIO ${pin} on node ${node} is already used by ${owner}` })
    else pins.set(key, what)
  }
  problems.push(...fieldInputProblems(config.sensors))
  config.sensors.forEach((s, i) => {
    if (isFieldInput(s)) return
    if (usesPin(s.kind) && isReal(s.kind)) claim(s.node, s.pin, ["sensors", i, "pin"], `sensors[${i}] (${s.device}/${s.sensor})`)
  })
  config.actuators.forEach((a, i) => {
    if (isReal(a.kind)) claim(a.node, a.pin, ["actuators", i, "pin"], `actuators[${i}] (${a.name})`)
  })
  return problems
}
