/**
 * Live updates for the dashboard, as Server-Sent Events.
 *
 * While at least one browser is connected, the node subscribes (core NATS, no consumer
 * state) to every stored reading, window result and alarm event in the cluster, decodes
 * them, and sends them to the browsers in batches twice a second; every few seconds it
 * sends the cluster overview. With no browser connected it subscribes to nothing, so a
 * dashboard nobody looks at costs a Pi nothing.
 *
 * The feed is for display: a browser too slow to keep up misses batches rather than making
 * the node buffer for it.
 */
import { type Admin, decodeReadings, type Forecast, readForecast, readWindowResult, Subjects, type WindowResult } from "@bramble/protocol"
import type { NatsConnection, Subscription } from "@nats-io/transport-node"
import type { ServerResponse } from "node:http"
import { storedAlarm } from "../../admin/DeviceQueries.js"

/** A reading as the dashboard gets it. */
export interface LiveReading {
  readonly device: string
  readonly sensor: string
  readonly partition: number
  readonly ts: number
  readonly values: Readonly<Record<string, number>>
}

export interface LiveFeedOptions {
  readonly nc: NatsConnection
  /** The cluster overview sent every `overviewIntervalMs`. */
  readonly overview: () => Promise<unknown>
  readonly flushIntervalMs?: number
  readonly overviewIntervalMs?: number
}

/** The SSE hub of one node. */
export interface LiveFeed {
  /** Turn `response` into an event stream until the browser goes away. */
  readonly attach: (response: ServerResponse) => void
  /** Browsers connected now. */
  readonly clients: () => number
  /** Disconnect everyone and unsubscribe. */
  readonly close: () => void
}

/** Most readings sent in one batch (a browser plots a few per device per second at most). */
const MAX_BATCH = 5_000
const LIMITS = { maxPayloadBytes: 1024 * 1024, maxFutureSkewMs: Number.MAX_SAFE_INTEGER }

export const makeLiveFeed = (options: LiveFeedOptions): LiveFeed => {
  const clients = new Set<ServerResponse>()
  let subs: Array<Subscription> = []
  let timers: Array<ReturnType<typeof setInterval>> = []
  let readings: Array<LiveReading> = []
  let windows: Array<WindowResult> = []
  let forecasts: Array<Forecast> = []
  let alarms: Array<Admin.AlarmEvent> = []

  const send = (event: string, data: unknown) => {
    if (clients.size === 0) return
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
    for (const client of clients) {
      // Still flushing the previous frames: this one is dropped for that browser.
      if (client.writableNeedDrain) continue
      client.write(frame)
    }
  }

  const flush = () => {
    if (readings.length > 0) {
      send("readings", readings.length > MAX_BATCH ? readings.slice(-MAX_BATCH) : readings)
      readings = []
    }
    if (windows.length > 0) {
      send("windows", windows.slice(-MAX_BATCH))
      windows = []
    }
    if (forecasts.length > 0) {
      send("forecasts", forecasts.slice(-MAX_BATCH))
      forecasts = []
    }
    if (alarms.length > 0) {
      send("alarms", alarms)
      alarms = []
    }
  }

  const sendOverview = () => {
    options.overview().then((overview) => send("cluster", overview), () => undefined)
  }

  const start = () => {
    const nc = options.nc
    subs = [
      nc.subscribe(Subjects.READINGS_SUBJECTS[0]!, {
        callback: (error, msg) => {
          if (error !== null) return
          const where = Subjects.parseReadingsSubject(msg.subject)
          if (where === undefined) return
          for (const reading of decodeReadings(msg.data, where.device, where.sensor, Date.now(), LIMITS).readings) {
            readings.push({ device: where.device, sensor: where.sensor, partition: where.partition, ts: reading.ts, values: reading.values })
          }
          if (readings.length > MAX_BATCH * 2) readings = readings.slice(-MAX_BATCH)
        }
      }),
      nc.subscribe(Subjects.AGGREGATES_SUBJECTS[0]!, {
        callback: (error, msg) => {
          if (error !== null) return
          try {
            if (msg.subject.endsWith(".forecast")) {
              forecasts.push(readForecast(msg.data))
              if (forecasts.length > MAX_BATCH * 2) forecasts = forecasts.slice(-MAX_BATCH)
            } else {
              windows.push(readWindowResult(msg.data))
              if (windows.length > MAX_BATCH * 2) windows = windows.slice(-MAX_BATCH)
            }
          } catch {
            // not a window result or forecast: nothing to show
          }
        }
      }),
      nc.subscribe(Subjects.ALARMS_SUBJECTS[0]!, {
        callback: (error, msg) => {
          if (error !== null) return
          const alarm = storedAlarm({ data: msg.data, seq: 0, storedAt: Date.now() })
          if (alarm === undefined) return
          alarms.push(alarm)
          if (alarms.length > 1_000) alarms = alarms.slice(-1_000)
        }
      })
    ]
    timers = [
      setInterval(flush, options.flushIntervalMs ?? 500),
      setInterval(sendOverview, options.overviewIntervalMs ?? 3_000),
      // Proxies and browsers drop idle connections; a comment line keeps this one open.
      setInterval(() => {
        for (const client of clients) client.write(": keep-alive\n\n")
      }, 15_000)
    ]
  }

  const stop = () => {
    for (const s of subs) s.unsubscribe()
    for (const t of timers) clearInterval(t)
    subs = []
    timers = []
    readings = []
    windows = []
    forecasts = []
    alarms = []
  }

  const attach = (response: ServerResponse) => {
    response.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no"
    })
    // Reconnect after 2 s if the node restarts.
    response.write("retry: 2000\n\n")
    clients.add(response)
    if (clients.size === 1) start()
    response.on("close", () => {
      clients.delete(response)
      if (clients.size === 0) stop()
    })
    // The new browser gets the overview now rather than in a few seconds.
    options.overview().then((overview) => {
      if (clients.has(response)) response.write(`event: cluster\ndata: ${JSON.stringify(overview)}\n\n`)
    }, () => undefined)
  }

  return {
    attach,
    clients: () => clients.size,
    close: () => {
      for (const client of clients) client.end()
      clients.clear()
      stop()
    }
  }
}
