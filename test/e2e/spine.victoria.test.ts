/**
 * The single-node spine over the InfluxDB v2 write API (`@influxdata/influxdb-client`),
 * against a real victoria-metrics, with `bramble node` running as a real child process.
 */
import { describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { startVictoriaMetrics } from "@bramble/deploy"
import { spineScenario } from "./spine.js"

describe("spine - victoria-metrics (influx-v2 sink)", () => {
  it.live(
    "MQTT QoS 1: K readings from D devices become exactly K raw points and the expected windows (v2 client path, victoria-metrics)",
    () =>
      spineScenario((dir) =>
        Effect.map(startVictoriaMetrics({ dir }), (vm) => ({
          db: { kind: "victoria-metrics" as const, url: vm.url },
          sink: { kind: "influx-v2" as const, url: vm.url }
        }))
      )
  )
})
