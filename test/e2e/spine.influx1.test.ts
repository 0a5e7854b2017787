/**
 * The single-node spine over InfluxDB 1.x's `/write` (the sink for 32-bit Pis), against a
 * real influxd 1.6.7, with `bramble node` running as a real child process.
 */
import { describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { startInfluxDb1 } from "@bramble/deploy"
import { spineScenario } from "./spine.js"

describe("spine - influxd 1.6.7 (influx-v1 sink)", () => {
  it.live(
    "MQTT QoS 1: K readings from D devices become exactly K raw points and the expected windows (v1 /write path, influxd 1.6.7)",
    () =>
      spineScenario((dir) =>
        Effect.map(startInfluxDb1({ dir, database: "bramble_spine" }), (influx) => ({
          db: { kind: "influx-v1" as const, url: influx.url, database: influx.database },
          sink: { kind: "influx-v1" as const, url: influx.url, database: influx.database }
        }))
      )
  )
})
