/**
 * Where a partition's device aggregators send what they produce: closed windows, alarms and
 * forecasts are published (AGGREGATES, ALARMS: pipelined, awaited before the next
 * checkpoint, ./Publishes.ts) and handed to the storage actor, which turns them into database
 * points; a reading too late for every window is dead-lettered (its raw point was stored).
 * Each output is counted in the partition's stats.
 */
import type { DeviceAggregatorsOptions } from "@bramble/actor-aggregator"
import { clockSkewOf, encodeAlarm, encodeForecast, encodeWindowResult, Subjects } from "@bramble/protocol"
import { Effect } from "effect"
import type { PartitionStats } from "./PartitionStats.js"
import type { StoragePort } from "./Ports.js"
import type { Publishes } from "./Publishes.js"

export type Outputs = Pick<DeviceAggregatorsOptions, "emit" | "alarm" | "forecast" | "tooLate" | "duplicates">

export const makeOutputs = (options: {
  readonly partition: number
  readonly publishes: Publishes
  readonly storage: StoragePort
  readonly stats: PartitionStats
}): Outputs => {
  const { partition, publishes, storage, stats } = options
  return {
    emit: (results) =>
      Effect.suspend(() => {
        for (const r of results) {
          // The id includes the count, so a corrected re-emission is not de-duplicated away.
          publishes.publish(Subjects.aggregatesSubject(r.device, r.sensor, r.metric, r.window), encodeWindowResult(r), `${r.device}.${r.sensor}.${r.metric}.${r.window}.${r.start}.${r.count}`)
        }
        stats.windowsEmitted += results.length
        return storage.writeWindows(results)
      }),
    alarm: (events) =>
      Effect.suspend(() => {
        for (const a of events) {
          publishes.publish(Subjects.alarmsSubject(a.device, a.rule), encodeAlarm(a), `alarm.${a.device}.${a.rule}.${a.state}.${a.at}`)
        }
        stats.alarms += events.length
        return storage.writeAlarms(events)
      }),
    forecast: (forecasts) =>
      Effect.suspend(() => {
        for (const f of forecasts) {
          publishes.publish(Subjects.forecastSubject(f.device, f.sensor, f.metric, f.window), encodeForecast(f), `forecast.${f.device}.${f.sensor}.${f.metric}.${f.window}.${f.start}`)
        }
        return storage.writeForecasts(forecasts)
      }),
    tooLate: (reading, seq, wm, storedAt) =>
      Effect.sync(() => {
        stats.tooLate += 1
        const skew = storedAt === undefined ? "" : `; it was stored ${Math.round(clockSkewOf(storedAt, reading.ts) / 100) / 10} s after it (a clock that runs behind, or a long delay)`
        publishes.deadLetter("TooLate", `event time ${new Date(reading.ts).toISOString()} is older than the watermark ${new Date(wm).toISOString()} allows${skew}; the raw reading was stored but no window includes it`, Subjects.readingsSubject(partition, reading.device, reading.sensor), seq, new Uint8Array())
        if (storedAt !== undefined) stats.clocks.refused(reading.device, "TooLate", storedAt, reading.ts, Date.now())
      }),
    duplicates: (count) =>
      Effect.sync(() => {
        stats.duplicates += count
      })
  }
}
