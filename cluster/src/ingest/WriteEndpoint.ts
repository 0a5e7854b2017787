/**
 * An InfluxDB-compatible write endpoint on every node, so that anything that writes to
 * InfluxDB — Telegraf, Node-RED's influxdb node, the client libraries, Home Assistant —
 * writes into Bramble unchanged:
 *
 *   POST /write?db=…&precision=n|u|ms|s        (InfluxDB 1.x)
 *   POST /api/v2/write?org=…&bucket=…&precision=ns|us|ms|s   (InfluxDB 2.x)
 *   GET|HEAD /ping                              (clients' health check)
 *
 * Body: line protocol, gzip allowed (`Content-Encoding: gzip`). Each point becomes a reading:
 * device = its `device` tag, else its `host` tag; sensor = the measurement; values = its
 * numeric fields (booleans 1/0). The answer is 204 only once every reading is stored in
 * READINGS (JetStream PubAck): nothing is acknowledged that is not durable. The points go out
 * as one batch record per device and sensor (./BatchRecords.ts), each with a de-duplication id
 * hashed from its lines, so a client retrying a batch within the streams' 2-minute window
 * stores every point once (and after it, the same points again: the same (device, sensor,
 * time) in the database, counted once by the windows).
 *
 * Credentials: with a `security:` section, a node's or a device's user and password, as
 * InfluxDB clients send them (./WriteAccess.ts); 401 without them, 403 for a user that may not
 * write (or a device writing another device's points).
 *
 * Bad lines: the good lines of the batch are kept and stored, the bad ones dead-lettered
 * with their reason, and the answer is 400 with InfluxDB's error JSON naming them — as
 * InfluxDB 1.x does ("partial write").
 */
import type { IngestRoute } from "@bramble/config"
import { createHash } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { gunzip } from "node:zlib"
import { batchRecords } from "./BatchRecords.js"
import { compileRoute, type Ingested, readLineProtocol } from "./Dialects.js"
import { type IngestStats, type Publisher, publishDeadLetter } from "./IngestRouter.js"
import type { WriteAccess } from "./WriteAccess.js"
import type { Precision } from "./LineProtocol.js"

/** InfluxDB's own default limit on a write body (25 MB). */
export const MAX_WRITE_BYTES = 25 * 1024 * 1024

/** Lines handled between two turns of the event loop. */
const YIELD_EVERY = 500

const V1_PRECISION: Record<string, Precision> = { n: "ns", ns: "ns", u: "us", us: "us", µ: "us", ms: "ms", s: "s" }
const V2_PRECISION: Record<string, Precision> = { ns: "ns", us: "us", ms: "ms", s: "s" }

/** The route every written point takes: device from a tag, sensor = the measurement. */
const byDeviceTag = (tag: string) => compileRoute({ name: "write", topic: "write", dialect: "line-protocol", deviceTag: tag, ignore: [] } as IngestRoute)
const DEVICE_ROUTE = byDeviceTag("device")
const HOST_ROUTE = byDeviceTag("host")

export interface WriteEndpointOptions {
  readonly partitions: number
  /** The cluster's `processing.maxPayload`: no batch record is bigger. */
  readonly maxRecordBytes: number
  readonly publisher: Publisher
  readonly stats: IngestStats
  /** Who may write what (./WriteAccess.ts): anyone without a security section. */
  readonly access: (request: IncomingMessage, url: URL) => Promise<WriteAccess>
}

/** InfluxDB's error body: `{"error": …}` for 1.x, `{"code", "message"}` for 2.x. */
const errorBody = (v2: boolean, code: string, message: string) => (v2 ? { code, message } : { error: message })

const send = (response: ServerResponse, status: number, body?: unknown) => {
  const headers: Record<string, string> = { "x-influxdb-version": "bramble", "x-influxdb-build": "OSS" }
  if (body === undefined) return void response.writeHead(status, headers).end()
  response.writeHead(status, { ...headers, "content-type": "application/json; charset=utf-8" }).end(JSON.stringify(body))
}

const readBody = (request: IncomingMessage): Promise<Buffer | "TooLarge"> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    request.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_WRITE_BYTES) {
        request.destroy()
        resolve("TooLarge")
      } else chunks.push(chunk)
    })
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

const gunzipped = (body: Buffer): Promise<Buffer> =>
  new Promise((resolve, reject) => gunzip(body, { maxOutputLength: MAX_WRITE_BYTES }, (error, out) => (error ? reject(error) : resolve(out))))

/** Each point's line (comments and blanks dropped), for its de-duplication id. */
const dataLines = (text: string) => text.split("\n").map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith("#"))

/** Handles the endpoint's paths; false when `path` is not one of them. */
export const makeWriteEndpoint = (options: WriteEndpointOptions) =>
  (request: IncomingMessage, response: ServerResponse, url: URL): boolean => {
    const path = url.pathname
    if (path === "/ping") {
      send(response, 204)
      return true
    }
    const v2 = path === "/api/v2/write"
    if (path !== "/write" && !v2) return false
    if (request.method !== "POST") {
      response.writeHead(405, { allow: "POST" }).end()
      return true
    }
    const precisionName = url.searchParams.get("precision") ?? "ns"
    const precision = (v2 ? V2_PRECISION : V1_PRECISION)[precisionName]
    if (precision === undefined) {
      send(response, 400, errorBody(v2, "invalid", `precision ${JSON.stringify(precisionName)} is not one of ${Object.keys(v2 ? V2_PRECISION : V1_PRECISION).join(", ")}`))
      return true
    }
    void options.access(request, url).then(
      (access) =>
        access._tag === "Refused"
          ? (request.resume(), send(response, access.status, errorBody(v2, access.status === 401 ? "unauthorized" : access.status === 403 ? "forbidden" : "unavailable", access.message)))
          : handleWrite(options, request, response, v2, precision, access),
      (error: unknown) => send(response, 503, errorBody(v2, "unavailable", `cannot check the credentials: ${error instanceof Error ? error.message : String(error)}`))
    )
    return true
  }

const handleWrite = async (options: WriteEndpointOptions, request: IncomingMessage, response: ServerResponse, v2: boolean, precision: Precision, access: WriteAccess) => {
  let text: string
  try {
    const body = await readBody(request)
    if (body === "TooLarge") return send(response, 413, errorBody(v2, "request too large", `the body is over ${MAX_WRITE_BYTES} bytes; send smaller batches (5,000 lines is InfluxDB's advice)`))
    const plain = (request.headers["content-encoding"] ?? "").toLowerCase() === "gzip" ? await gunzipped(body) : body
    text = new TextDecoder("utf-8", { fatal: true }).decode(plain)
  } catch (error) {
    return send(response, 400, errorBody(v2, "invalid", `cannot read the body: ${error instanceof Error ? error.message : String(error)}`))
  }
  const now = Date.now()
  const lines = dataLines(text)
  // Points are read line by line so each keeps its own line for its id and its refusal.
  const readings: Array<{ reading: Ingested; line: string }> = []
  const refusals: Array<{ line: string; reason: Parameters<typeof publishDeadLetter>[1]; message: string }> = []
  for (const [n, line] of lines.entries()) {
    // A batch of 5,000 lines is a few hundred ms of work on a Pi: let the node's leases,
    // heartbeats and partitions run in between.
    if (n > 0 && n % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve))
    const byDevice = readLineProtocol(DEVICE_ROUTE, {}, line, precision)
    const decoded = byDevice.refusals.length === 1 && byDevice.refusals[0]!.reason === "BadDeviceId" ? readLineProtocol(HOST_ROUTE, {}, line, precision) : byDevice
    for (const reading of decoded.readings) readings.push({ reading, line })
    for (const refusal of decoded.refusals) {
      const message = refusal.reason === "BadDeviceId" && refusal.message.includes("is missing") ? "the point has neither a device nor a host tag (which names the device)" : refusal.message.replace(/^(line 1|point 1 \([^)]*\)): /, "")
      refusals.push({ line, reason: refusal.reason, message })
    }
  }
  if (access._tag === "Device") {
    // A device writes its own points only, as over MQTT or NATS: a batch naming another is refused whole.
    const other = readings.find((r) => r.reading.device !== access.device)
    if (other !== undefined) {
      return send(response, 403, errorBody(v2, "forbidden", `user ${access.user} may write device ${access.device}'s points only; the batch names device ${other.reading.device} (nothing stored)`))
    }
  }
  const pending: Array<Promise<unknown>> = []
  // One batch record per device and sensor (./BatchRecords.ts); its id is a hash of its lines,
  // so the same batch sent again makes the same records with the same ids.
  for (const record of batchRecords(readings.map((r) => r.reading), options.partitions, now, options.maxRecordBytes)) {
    const hash = createHash("sha1").update(precision)
    for (const i of record.indices) hash.update("\n").update(readings[i]!.line)
    pending.push(options.publisher.publish(record.subject, record.data, `write.${hash.digest("hex")}`))
  }
  for (const { line, reason, message } of refusals) {
    const id = createHash("sha1").update(line).digest("hex")
    pending.push(publishDeadLetter(options.publisher, reason, `write endpoint: ${message}`, "http.write", undefined, new TextEncoder().encode(line), `dl.write.${id}`))
  }
  try {
    await Promise.all(pending)
  } catch (error) {
    // Nothing acknowledged: the client retries the batch, and what was stored is de-duplicated.
    return send(response, 503, errorBody(v2, "unavailable", `the readings could not be stored (JetStream): ${error instanceof Error ? error.message : String(error)}; retry`))
  }
  options.stats.messages += 1
  options.stats.readings += readings.length
  options.stats.refused += refusals.length
  if (refusals.length === 0) return send(response, 204)
  const first = refusals.slice(0, 3).map((r) => `unable to parse '${r.line.length > 80 ? `${r.line.slice(0, 80)}…` : r.line}': ${r.message}`).join("; ")
  send(response, 400, errorBody(v2, "invalid", `partial write: ${first}${refusals.length > 3 ? `; and ${refusals.length - 3} more` : ""} (${readings.length} point(s) stored, ${refusals.length} refused and dead-lettered)`))
}
