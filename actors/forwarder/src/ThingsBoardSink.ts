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
 *
 * A token ThingsBoard refuses (401, 403, or 404: no such device) is a wrong setting, not a
 * bad reading: that device's items are held and retried (`Misconfigured`), the target is
 * reported unavailable with the setting to check, and the tokens are read again before the
 * next attempt, so fixing a token file (or the device's credentials in ThingsBoard) resumes
 * delivery without a restart. Only what ThingsBoard says about the telemetry itself (400,
 * 413…) is dead-lettered.
 */
import { BatchWriteError } from "@bramble/actor-storage"
import { Effect, Redacted } from "effect"
import type { ForwardItem } from "./ForwardItem.js"
import type { ForwardSink } from "./ForwardSink.js"
import { httpPost, isCredentialRefusal } from "./HttpPost.js"

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
  /** Where the cluster file sets a device's token (`forward[0].devices[1].tokenEnv (VAR)`),
   * for the message that tells the operator what to fix. */
  readonly tokenSetting?: (device: string) => string
  /** Where the cluster file sets the URL (`forward[0].url`). */
  readonly urlSetting?: string
  /**
   * Reads the tokens again (`thingsBoardTokens`). Called after ThingsBoard refused a token,
   * so a corrected token file is used from the next attempt on, without a restart.
   */
  readonly reloadTokens?: Effect.Effect<ReadonlyMap<string, Redacted.Redacted<string>>, { readonly message: string }>
}

/**
 * What ThingsBoard answers about a device token rather than its telemetry: 401 and 403 (an
 * invalid token), and 404 (`/api/v1/<token>/…` with a token that names no device — or a
 * URL that is not ThingsBoard's base). Retrying is what fixes these, once the token is.
 */
export const THINGSBOARD_TOKEN_STATUSES: ReadonlySet<number> = new Set([401, 403, 404])

/** A token ThingsBoard refused in one write. */
interface TokenRefusal {
  readonly device: string
  readonly status: number | undefined
  readonly answer: string
}

/** The operator's message for refused tokens: which device, which setting to check, and that nothing is lost. */
export const tokenRefusalMessage = (
  options: Pick<ThingsBoardSinkOptions, "name" | "tokenSetting" | "urlSetting">,
  refusals: ReadonlyArray<TokenRefusal>
): string => {
  const first = refusals[0]!
  const setting = options.tokenSetting?.(first.device) ?? `the token of ${first.device}`
  const why = first.status === 404
    ? `ThingsBoard answered 404 for the telemetry of device ${first.device} (forward target ${options.name}): ` +
      `its access token names no device there, or ${options.urlSetting ?? "the URL"} is not ThingsBoard's base URL; check ${setting}`
    : `ThingsBoard refused the access token of device ${first.device} (forward target ${options.name}, HTTP ${first.status}): check ${setting}`
  const others = refusals.length > 1 ? ` (and the token(s) of ${refusals.slice(1).map((r) => r.device).join(", ")})` : ""
  return `${why}${others}. Its items are held, not dead-lettered, and retried until ThingsBoard accepts the token; ThingsBoard said: ${first.answer}`
}

/** The ThingsBoard sink of one forward target. */
export const makeThingsBoardSink = (options: ThingsBoardSinkOptions): ForwardSink => {
  let tokens = options.tokens
  const describe = `thingsboard ${new URL(options.url).origin} (${options.source}, ${tokens.size} device token(s))`
  // Every token ever read stays a secret to scrub (an old one may still be quoted back).
  const secrets = new Set([...tokens.values()].map(Redacted.value))

  const reload = Effect.suspend(() =>
    options.reloadTokens === undefined ? Effect.void : Effect.ignore(Effect.map(options.reloadTokens, (fresh) => {
      // A file half-written while the operator edits it fails to read: keep the old tokens then.
      for (const t of fresh.values()) secrets.add(Redacted.value(t))
      tokens = fresh
    }))
  )

  const write = (batch: ReadonlyArray<ForwardItem>) =>
    Effect.gen(function*() {
      const done = new Set<number>()
      // A refused token holds its device's items, but the other devices' requests of the
      // batch still go out: what lands is never sent again while the operator fixes it.
      const refusals: Array<TokenRefusal> = []
      for (const request of thingsBoardRequests(batch)) {
        const token = tokens.get(request.device)
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
          secrets: [...secrets],
          credentialStatuses: THINGSBOARD_TOKEN_STATUSES
        }))
        if (sent._tag === "Failure") {
          if (isCredentialRefusal(sent.failure)) {
            refusals.push({ device: request.device, status: sent.failure.status, answer: sent.failure.detail })
            continue
          }
          return yield* Effect.fail(failure(batch.length, done, sent.failure, sent.failure.reason === "Rejected" ? request.indices : []))
        }
        for (const i of request.indices) done.add(i)
      }
      if (refusals.length > 0) {
        yield* reload
        return yield* Effect.fail(failure(batch.length, done, {
          reason: "Misconfigured",
          status: refusals[0]!.status,
          detail: tokenRefusalMessage(options, refusals)
        }, []))
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
    skip: (item) => tokens.has(item.device) ? undefined : `no ThingsBoard access token for device ${item.device}`
  }
}
