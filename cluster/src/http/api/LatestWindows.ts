/**
 * A device's latest closed windows, read from the AGGREGATES stream
 * (`aggregates.<device>.<sensor>.<metric>.<window>`), for `/api/v1/devices/<id>/windows`.
 *
 * The log answers this on any node, without asking the partition's owner. Two questions:
 * which series a device has (the last message per subject: also what a bad `window=` is told
 * it may be), and its newest N results. JetStream cannot read a filter backwards, so the
 * newest N are found by reading from a start time far enough back: a window is published
 * after it ends, so every window starting at or after T is stored at or after T; once the
 * read from T holds N results starting at or after T, those are exactly the newest N.
 * Otherwise T moves back (4× each time) until it passes the stream's first message.
 *
 * A window corrected by a late reading is published again with the same key; the later
 * publication wins, as in the database.
 */
import type { NatsError } from "@bramble/nats"
import { natsError } from "@bramble/nats"
import { readWindowResult, Subjects, type WindowResult } from "@bramble/protocol"
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream"
import { Clock, Effect } from "effect"
import { type PeekedMessage, peekStream } from "../../admin/StreamPeek.js"

/** What to read: one device, optionally one sensor, metric and window name. */
export interface WindowQuery {
  readonly device: string
  readonly sensor?: string | undefined
  readonly metric?: string | undefined
  readonly window?: string | undefined
  /** At most this many results, newest first. */
  readonly limit: number
}

/** Most window results of one device read to answer one query. */
const MAX_MESSAGES = 1_000_000
/** Series a device can have (sensors × metrics × windows); the peek's limit. */
const MAX_SERIES = 10_000
const TIMEOUT_MS = 10_000

/** Window results only: a forecast subject has one more token, and the filters have five. */
const seriesFilter = (q: Omit<WindowQuery, "limit">): string =>
  Subjects.aggregatesSubject(q.device, q.sensor ?? "*", q.metric ?? "*", q.window ?? "*")

const decode = (m: PeekedMessage): WindowResult | undefined => {
  try {
    return readWindowResult(m.data)
  } catch {
    return undefined
  }
}

const seriesKey = (r: WindowResult) => `${r.sensor}\u0000${r.metric}\u0000${r.window}`

/** Newest start first; ties in a stable, readable order. */
export const newestFirst = (a: WindowResult, b: WindowResult): number =>
  b.start - a.start || a.sensor.localeCompare(b.sensor) || a.metric.localeCompare(b.metric) || a.window.localeCompare(b.window)

/** One result per key (sensor, metric, window, start): the one stored last. */
export const latestPerKey = (messages: ReadonlyArray<PeekedMessage>): Array<WindowResult> => {
  const byKey = new Map<string, WindowResult>()
  for (const m of messages) {
    const r = decode(m)
    if (r !== undefined) byKey.set(`${seriesKey(r)}\u0000${r.start}`, r)
  }
  return [...byKey.values()]
}

/** The latest result of every series of `device` (empty when it has closed no window yet). */
export const windowSeries = (js: JetStreamClient, jsm: JetStreamManager, device: string): Effect.Effect<ReadonlyArray<WindowResult>, NatsError> =>
  peekStream(js, jsm, {
    stream: Subjects.Streams.aggregates,
    filter: seriesFilter({ device }),
    start: { kind: "lastPerSubject" },
    limit: MAX_SERIES,
    timeoutMs: TIMEOUT_MS
  }).pipe(Effect.map((messages) => latestPerKey(messages).sort(newestFirst)))

const firstStoredAt = (jsm: JetStreamManager) =>
  Effect.tryPromise({
    try: async () => {
      const info = await jsm.streams.info(Subjects.Streams.aggregates)
      return info.state.messages === 0 ? undefined : Date.parse(info.state.first_ts)
    },
    catch: natsError("JetStream", `cannot read the ${Subjects.Streams.aggregates} stream's state`)
  })

/**
 * The newest `limit` results of the query, newest first. `series` is what `windowSeries`
 * found: it tells how many series match and how long their windows are, so the first read
 * usually reaches back far enough.
 */
export const recentWindows = Effect.fn("LatestWindows.recentWindows")(function*(
  js: JetStreamClient,
  jsm: JetStreamManager,
  query: WindowQuery,
  series: ReadonlyArray<WindowResult>
): Effect.fn.Return<ReadonlyArray<WindowResult>, NatsError> {
  const matching = series.filter((r) =>
    (query.sensor === undefined || r.sensor === query.sensor) &&
    (query.metric === undefined || r.metric === query.metric) &&
    (query.window === undefined || r.window === query.window)
  )
  if (matching.length === 0 || query.limit <= 0) return []
  const first = yield* firstStoredAt(jsm)
  if (first === undefined) return []
  const longest = Math.max(...matching.map((r) => r.end - r.start))
  const now = yield* Clock.currentTimeMillis
  // Enough time for `limit` results spread over the series, plus one window and a minute
  // for the publishing delay (watermark, checkpoint).
  let span = (Math.ceil(query.limit / matching.length) + 1) * longest + 60_000
  while (true) {
    const from = now - span
    const messages = yield* peekStream(js, jsm, {
      stream: Subjects.Streams.aggregates,
      filter: seriesFilter(query),
      start: { kind: "since", time: from },
      limit: MAX_MESSAGES,
      timeoutMs: TIMEOUT_MS
    })
    const results = latestPerKey(messages)
    const complete = results.filter((r) => r.start >= from).length >= query.limit
    if (complete || from <= first || messages.length >= MAX_MESSAGES) {
      return results.sort(newestFirst).slice(0, query.limit)
    }
    span *= 4
  }
})
