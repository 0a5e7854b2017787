/**
 * What a server's refusal means. Shared by both wire paths so that InfluxDB 1.x, 2.x, 3.x
 * and victoria-metrics answers become the same `SinkWriteError` fields.
 *
 * Known shapes of a write refusal body:
 * - InfluxDB 1.x: `{"error":"partial write: unable to parse '<line>': <why> dropped=N"}`
 * - InfluxDB 2.x: `{"code":"invalid","message":"unable to parse '<line>': <why>","line":3}`
 * - InfluxDB 3.x: `{"error":"partial write of line protocol occurred","data":[
 *     {"original_line":"<line>","line_number":2,"error_message":"<why>"}]}`
 * - anything else: plain text, kept as it is (truncated).
 */
import { Predicate } from "effect"
import type { RejectedPoint, SinkWriteReason } from "../SinkWriteError.js"

/** Reason for an HTTP status that is not a success. */
export const reasonForStatus = (status: number, body: string): SinkWriteReason => {
  if (status === 408) return "Timeout"
  if (status === 429 || status >= 500) {
    // influxd 1.x answers 500 for a retention policy that does not exist: a
    // configuration error no retry will fix.
    return status === 500 && /retention policy not found/.test(body) ? "Rejected" : "Unavailable"
  }
  return "Rejected"
}

const maxDetail = 2_000

/** The server's message and the lines it names, mapped back to `write`'s indices. */
export const parseRefusal = (
  body: string,
  batch: ReadonlyArray<string>,
  batchOffset: number,
  /** Said instead when the body says nothing, e.g. `401 Unauthorized`. */
  fallback: string
): { readonly detail: string; readonly rejected: ReadonlyArray<RejectedPoint> } => {
  let detail = body.trim()
  const rejected: Array<RejectedPoint> = []
  let lineNumber: number | undefined
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    json = undefined
  }
  if (Predicate.isObject(json)) {
    const message = json["error"] ?? json["message"]
    if (typeof message === "string") detail = message
    if (typeof json["line"] === "number") lineNumber = json["line"]
    const data = json["data"]
    if (Array.isArray(data)) {
      for (const entry of data) {
        if (!Predicate.isObject(entry)) continue
        const n = entry["line_number"]
        const original = entry["original_line"]
        const why = entry["error_message"]
        rejected.push(
          locate(
            batch,
            batchOffset,
            typeof n === "number" ? n : undefined,
            typeof original === "string" ? original : undefined,
            typeof why === "string" ? why : detail
          )
        )
      }
    }
  }
  if (rejected.length === 0) {
    // Quoted lines may themselves contain `'`; a lazy match up to `': ` is the best a
    // message meant for humans allows.
    for (const match of detail.matchAll(/unable to parse '(.*?)': ([^\n]*?)(?= dropped=\d+|\n|$)/g)) {
      rejected.push(locate(batch, batchOffset, lineNumber, match[1], match[2] ?? detail))
      lineNumber = undefined
    }
  }
  if (rejected.length === 0 && lineNumber !== undefined) {
    rejected.push(locate(batch, batchOffset, lineNumber, undefined, detail))
  }
  if (detail.length === 0) detail = fallback
  if (detail.length > maxDetail) detail = `${detail.slice(0, maxDetail)}…`
  return { detail, rejected }
}

const locate = (
  batch: ReadonlyArray<string>,
  batchOffset: number,
  lineNumber: number | undefined,
  line: string | undefined,
  message: string
): RejectedPoint => {
  if (lineNumber !== undefined && lineNumber >= 1 && lineNumber <= batch.length) {
    const atLine = batch[lineNumber - 1]
    if (line === undefined || atLine === line) {
      return { index: batchOffset + lineNumber - 1, line: atLine, message }
    }
  }
  if (line !== undefined) {
    const i = batch.indexOf(line)
    if (i >= 0) return { index: batchOffset + i, line, message }
  }
  return { index: undefined, line, message }
}
