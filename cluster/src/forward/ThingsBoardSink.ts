/**
 * ThingsBoard's HTTP device API as a forward sink: telemetry `[{ts, values}, …]` POSTed to
 * `<url>/api/v1/<device access token>/telemetry`, one request per device per batch (the
 * token names the device, so a request cannot carry two). What is sent, by source:
 *
 * - raw readings: `{ts, values: {temperature: 21.5, …}}` — the reading's own metric names;
 * - window results: `{ts: start, values: {temperature_1m_mean, _min, _max, _count}}`;
 * - alarms: `{ts: at, values: {alarm_<rule>: 1 (raised) | 0 (cleared), alarm_<rule>_value,
 *   alarm_<rule>_message}}`.
 *
 * Entries of one device with the same `ts` are merged. ThingsBoard keeps one value per key
 * and timestamp, so a batch delivered twice (at-least-once) changes nothing.
 *
 * A device without a configured token is skipped and counted, not dead-lettered: the
 * operator chose which devices ThingsBoard gets, so a dead letter per reading of every other
 * device would fill DEADLETTER with data nobody lost.
 */
import { BatchWriteError } from "@bramble/actor-storage"
import { Effect, Redacted } from "effect"
import type { ForwardItem } from "./ForwardItem.js"
import type { ForwardSink } from "./ForwardSink.js"
import { httpPost } from "./HttpPost.js"

/** One entry of ThingsBoard's telemetry upload format. */
export interface TelemetryEntry {
  readonly ts: number
  readonly values: Readonly<Record<string, number | string>>
}

/** One request: a device's items of the batch (by index) and the body sent for them. */
export interface ThingsBoardRequest {
  readonly device: string
  readonly indices: ReadonlyArray<number>
  readonly body: ReadonlyArray<TelemetryEntry>
}

/** Statistics of a window result that ThingsBoard gets, as `<metric>_<window>_<stat>`. */
export const WINDOW_STATS = ["mean", "min", "max", "count"] as const

/** The telemetry entry of one item. */
export const telemetryOf = (item: ForwardItem): TelemetryEntry => {
  switch (item.kind) {
    case "reading":
      return { ts: item.data.ts, values: item.data.values }
    case "window": {
      const w = item.data
      const values: Record<string, number> = {}
      for (const stat of WINDOW_STATS) values[`${w.metric}_${w.window}_${stat}`] = w[stat]
      return { ts: w.start, values }
    }
    case "alarm": {
      const a = item.data
      const key = `alarm_${a.rule}`
      return {
        ts: a.at,
        values: {
          [key]: a.state === "raised" ? 1 : 0,
          ...(a.value === undefined ? {} : { [`${key}_value`]: a.value }),
          [`${key}_message`]: a.message
        }
      }
    }
  }
}

/**
 * The requests for a batch: one per device, devices in the order they first appear, each
 * device's entries in batch order with equal timestamps merged (a later value of the same
 * key wins, as it would in ThingsBoard).
 */
export const thingsBoardRequests = (batch: ReadonlyArray<ForwardItem>): Array<ThingsBoardRequest> => {
  const byDevice = new Map<string, { indices: Array<number>; entries: Map<number, Record<string, number | string>> }>()
  batch.forEach((item, index) => {
    let group = byDevice.get(item.device)
    if (group === undefined) {
      group = { indices: [], entries: new Map() }
      byDevice.set(item.device, group)
    }
    group.indices.push(index)
    const entry = telemetryOf(item)
    const values = group.entries.get(entry.ts)
    if (values === undefined) group.entries.set(entry.ts, { ...entry.values })
    else Object.assign(values, entry.values)
  })
  return [...byDevice].map(([device, group]) => ({
    device,
    indices: group.indices,
    body: [...group.entries].map(([ts, values]) => ({ ts, values }))
  }))
}

/** `<base>/api/v1/<token>/telemetry`; the base may carry a path prefix (a reverse proxy). */
export const telemetryUrl = (base: string, token: string): string =>
  new URL(`api/v1/${encodeURIComponent(token)}/telemetry`, base.endsWith("/") ? base : `${base}/`).toString()

export interface ThingsBoardSinkOptions {
  /** The forward target's name. */
  readonly name: string
  /** ThingsBoard's base URL, e.g. `http://thingsboard.local:8080`. */
  readonly url: string
  readonly timeoutMs: number
  /** Access token per device; devices not in it are skipped. */
  readonly tokens: ReadonlyMap<string, Redacted.Redacted<string>>
  readonly source: string
}

/** The ThingsBoard sink of one forward target. */
export const makeThingsBoardSink = (options: ThingsBoardSinkOptions): ForwardSink => {
  const describe = `thingsboard ${new URL(options.url).origin} (${options.source}, ${options.tokens.size} device token(s))`
  const secrets = [...options.tokens.values()].map(Redacted.value)

  const write = (batch: ReadonlyArray<ForwardItem>) =>
    Effect.gen(function*() {
      const done = new Set<number>()
      for (const request of thingsBoardRequests(batch)) {
        const token = options.tokens.get(request.device)
        if (token === undefined) {
          // The forwarder filters these out with `skip`; a direct caller gets them refused.
          return yield* Effect.fail(failure(batch.length, done, {
            reason: "Rejected",
            status: undefined,
            detail: `no ThingsBoard access token for device ${request.device}`
          }, request.indices))
        }
        const sent = yield* Effect.result(httpPost({
          url: telemetryUrl(options.url, Redacted.value(token)),
          body: JSON.stringify(request.body),
          headers: { "content-type": "application/json" },
          timeoutMs: options.timeoutMs,
          secrets
        }))
        if (sent._tag === "Failure") {
          return yield* Effect.fail(failure(batch.length, done, sent.failure, sent.failure.reason === "Rejected" ? request.indices : []))
        }
        for (const i of request.indices) done.add(i)
      }
    })

  /** The contract's error: what landed (whole devices) and, for a refusal, that device's items. */
  const failure = (
    size: number,
    done: ReadonlySet<number>,
    f: { readonly reason: BatchWriteError["reason"]; readonly status: number | undefined; readonly detail: string },
    refused: ReadonlyArray<number>
  ) => {
    let acknowledged = 0
    while (acknowledged < size && done.has(acknowledged)) acknowledged++
    return new BatchWriteError({
      reason: f.reason,
      sink: describe,
      detail: f.detail,
      status: f.status,
      rejected: refused.map((index) => ({ index, message: f.detail })),
      acknowledged,
      alsoAcknowledged: [...done].filter((i) => i >= acknowledged)
    })
  }

  return {
    name: options.name,
    describe,
    write,
    skip: (item) => options.tokens.has(item.device) ? undefined : `no ThingsBoard access token for device ${item.device}`
  }
}
