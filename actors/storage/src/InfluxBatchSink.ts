/**
 * The InfluxDB sinks (@bramble/influx, v2 and v1) as a `BatchSink`: the first of the
 * implementations. Only the error changes shape. A refused credential (401/403) or a missing
 * database or bucket (404) is the operator's to fix, not the points' fault, so it becomes
 * `Misconfigured` — held and retried — rather than `Rejected`, which would dead-letter
 * every point while the token is wrong.
 */
import type { InfluxSink, SinkPoint, SinkWriteError } from "@bramble/influx"
import { Effect } from "effect"
import { type BatchSink, BatchWriteError, type BatchWriteReason } from "./BatchSink.js"

const reasonOf = (error: SinkWriteError): BatchWriteReason => {
  if (error.reason !== "Rejected") return error.reason
  return error.status === 401 || error.status === 403 || error.status === 404 ? "Misconfigured" : "Rejected"
}

/** The batch-sink view of an InfluxDB sink. */
export const influxBatchSink = (sink: InfluxSink["Service"], name = "influx"): BatchSink<SinkPoint> => ({
  name,
  describe: sink.describe,
  write: (points) =>
    Effect.mapError(sink.write(points), (error) =>
      new BatchWriteError({
        reason: reasonOf(error),
        sink: error.sink,
        detail: error.detail,
        status: error.status,
        rejected: error.rejected.map((r) => ({ index: r.index, message: r.message })),
        acknowledged: error.acknowledged,
        cause: error
      }))
})
