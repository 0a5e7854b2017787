/**
 * The test oracle: what the system should have stored, computed independently of the
 * product (plain loops, nothing imported from the aggregator), and checkers that compare it
 * with what the databases hold.
 *
 * - `expectedWindows`: every window result for a list of readings, in the order they were
 *   published, with the semantics the aggregator promises: tumbling (or hopping) windows
 *   [start, end) aligned to the epoch, first/last by event time (ties: first arrival / last arrival),
 *   mean = sum/count summed in publish order, sample standard deviation (0 for one value).
 * - `compareWindows`: expected vs. stored, as a diff a person can read in a test failure.
 * - `checkExactlyOnce`: Jepsen's lost/duplicated checker for raw points. Every acknowledged
 *   reading must be stored exactly once with its values; a reading that was attempted but not
 *   acknowledged may or may not be stored ("recovered" when it is, which is fine); anything
 *   else stored is unexpected.
 */
import {
  compareWindowRows,
  type RawPoint,
  rawKey,
  WINDOW_FIELDS,
  type WindowField,
  windowKey,
  type WindowRow
} from "./Points.js"

/** A window definition, as the aggregator's `WindowSpec`: its name (a tag value) and its size in ms. */
export interface WindowSpec {
  readonly name: string
  readonly size: number
  /** Distance between window starts in ms, for hopping windows. Default `size` (tumbling). */
  readonly hop?: number
}

interface Accumulator {
  readonly row: Omit<WindowRow, WindowField>
  readonly values: Array<number>
  sum: number
  min: number
  max: number
  first: number
  firstTs: number
  last: number
  lastTs: number
}

/**
 * Every window result `readings` produce, for every metric of every reading and every window
 * in `windows`, sorted by device, sensor, metric, window, start. `readings` must be in
 * publish (arrival) order: it decides tie-breaks and the order of the sum.
 */
export const expectedWindows = (
  readings: ReadonlyArray<RawPoint>,
  windows: ReadonlyArray<WindowSpec>
): Array<WindowRow> => {
  for (const w of windows) {
    if (!Number.isInteger(w.size) || w.size < 1) throw new RangeError(`window ${w.name}: size must be a positive integer ms, got ${w.size}`)
    if (w.hop !== undefined && (!Number.isInteger(w.hop) || w.hop < 1)) throw new RangeError(`window ${w.name}: hop must be a positive integer ms, got ${w.hop}`)
  }
  const accumulators = new Map<string, Accumulator>()
  const add = (reading: RawPoint, metric: string, value: number, window: string, start: number): void => {
    const key = windowKey({ device: reading.device, sensor: reading.sensor, metric, window, start })
    const acc = accumulators.get(key)
    if (acc === undefined) {
      accumulators.set(key, {
        row: { device: reading.device, sensor: reading.sensor, metric, window, start },
        values: [value],
        sum: value,
        min: value,
        max: value,
        first: value,
        firstTs: reading.ts,
        last: value,
        lastTs: reading.ts
      })
      return
    }
    acc.values.push(value)
    acc.sum += value
    if (value < acc.min) acc.min = value
    if (value > acc.max) acc.max = value
    // Strict for first (the earliest arrival wins a tie), non-strict for last (the latest does).
    if (reading.ts < acc.firstTs) {
      acc.first = value
      acc.firstTs = reading.ts
    }
    if (reading.ts >= acc.lastTs) {
      acc.last = value
      acc.lastTs = reading.ts
    }
  }
  for (const reading of readings) {
    for (const metric of Object.keys(reading.values)) {
      const value = reading.values[metric]!
      for (const w of windows) {
        // Every start k·hop with k·hop ≤ ts < k·hop + size; exactly one when hop = size.
        const hop = w.hop ?? w.size
        for (let k = Math.floor((reading.ts - w.size) / hop) + 1; k * hop <= reading.ts; k++) {
          add(reading, metric, value, w.name, k * hop)
        }
      }
    }
  }
  const rows: Array<WindowRow> = []
  for (const acc of accumulators.values()) {
    const count = acc.values.length
    const mean = acc.sum / count
    // Two passes around the mean: the textbook definition, not the product's running update.
    let squares = 0
    for (const value of acc.values) squares += (value - mean) * (value - mean)
    const stddev = count > 1 ? Math.sqrt(squares / (count - 1)) : 0
    rows.push({ ...acc.row, count, mean, min: acc.min, max: acc.max, first: acc.first, last: acc.last, stddev })
  }
  return rows.sort(compareWindowRows)
}

// ---------------------------------------------------------------------------------------

export interface CompareOptions {
  /** Relative tolerance for float fields (count is compared exactly). Default 1e-9:
   * victoria-metrics keeps 12 significant decimal digits, and the product may compute the
   * standard deviation with a running update rather than two passes. */
  readonly relTol?: number
  /** Absolute tolerance, for values near zero (a stddev of 0 vs 1e-15). Default 1e-9. */
  readonly absTol?: number
  /** Most lines of each kind in `text`. Default 20. */
  readonly maxLines?: number
}

export interface FieldMismatch {
  readonly field: WindowField
  readonly expected: number
  readonly actual: number
}

export interface WindowDiff {
  readonly ok: boolean
  /** Expected and not stored. */
  readonly missing: ReadonlyArray<WindowRow>
  /** Stored and not expected (or stored more than once under one key). */
  readonly extra: ReadonlyArray<WindowRow>
  readonly mismatched: ReadonlyArray<{ readonly key: string; readonly fields: ReadonlyArray<FieldMismatch> }>
  /** A readable summary: counts, then a few lines of each kind. Empty-diff text says so. */
  readonly text: string
}

const close = (expected: number, actual: number, relTol: number, absTol: number): boolean =>
  expected === actual ||
  Math.abs(expected - actual) <= Math.max(absTol, relTol * Math.max(Math.abs(expected), Math.abs(actual)))

const listed = <A>(title: string, items: ReadonlyArray<A>, show: (item: A) => string, maxLines: number): Array<string> =>
  items.length === 0
    ? []
    : [
      `${title} (${items.length}):`,
      ...items.slice(0, maxLines).map((item) => `  ${show(item)}`),
      ...(items.length > maxLines ? [`  … and ${items.length - maxLines} more`] : [])
    ]

const showRow = (row: WindowRow): string =>
  `${windowKey(row)} ${WINDOW_FIELDS.map((field) => `${field}=${row[field]}`).join(" ")}`

/** Diffs expected window results against stored ones. */
export const compareWindows = (
  expected: ReadonlyArray<WindowRow>,
  actual: ReadonlyArray<WindowRow>,
  options: CompareOptions = {}
): WindowDiff => {
  const relTol = options.relTol ?? 1e-9
  const absTol = options.absTol ?? 1e-9
  const maxLines = options.maxLines ?? 20
  const stored = new Map<string, WindowRow>()
  const extra: Array<WindowRow> = []
  for (const row of actual) {
    const key = windowKey(row)
    if (stored.has(key)) extra.push(row)
    else stored.set(key, row)
  }
  const missing: Array<WindowRow> = []
  const mismatched: Array<{ key: string; fields: Array<FieldMismatch> }> = []
  const expectedKeys = new Set<string>()
  for (const row of expected) {
    const key = windowKey(row)
    expectedKeys.add(key)
    const found = stored.get(key)
    if (found === undefined) {
      missing.push(row)
      continue
    }
    const fields: Array<FieldMismatch> = []
    for (const field of WINDOW_FIELDS) {
      const ok = field === "count" ? row.count === found.count : close(row[field], found[field], relTol, absTol)
      if (!ok) fields.push({ field, expected: row[field], actual: found[field] })
    }
    if (fields.length > 0) mismatched.push({ key, fields })
  }
  for (const [key, row] of stored) if (!expectedKeys.has(key)) extra.push(row)
  extra.sort(compareWindowRows)

  const ok = missing.length === 0 && extra.length === 0 && mismatched.length === 0
  const text = ok
    ? `windows match: ${expected.length} expected, ${actual.length} stored`
    : [
      `windows differ: ${expected.length} expected, ${actual.length} stored; ` +
      `${missing.length} missing, ${extra.length} extra, ${mismatched.length} mismatched (relTol ${relTol})`,
      ...listed("missing", missing, showRow, maxLines),
      ...listed("extra", extra, showRow, maxLines),
      ...listed(
        "mismatched",
        mismatched,
        (m) => `${m.key} ${m.fields.map((f) => `${f.field}: expected ${f.expected}, got ${f.actual}`).join("; ")}`,
        maxLines
      )
    ].join("\n")
  return { ok, missing, extra, mismatched, text }
}

// ---------------------------------------------------------------------------------------

export interface ExactlyOnceOptions {
  /** Everything the publishers tried to send (acknowledged or not). A stored reading from
   * here that was not acknowledged is "recovered", not unexpected. Default: `acknowledged`. */
  readonly attempted?: ReadonlyArray<RawPoint>
  /** Relative tolerance for stored values. Default 1e-12 (the load uses two-decimal values,
   * which both databases return exactly up to float formatting). */
  readonly relTol?: number
  /** Most lines of each kind in `text`. Default 20. */
  readonly maxLines?: number
}

export interface ExactlyOnceResult {
  readonly ok: boolean
  /** Acknowledged and not stored: lost. */
  readonly missing: ReadonlyArray<RawPoint>
  /** Stored more than once under one (device, sensor, ts); each copy after the first. */
  readonly duplicated: ReadonlyArray<RawPoint>
  /** Stored, and never attempted: the system made it up (or another run left it behind). */
  readonly unexpected: ReadonlyArray<RawPoint>
  /** Stored with values other than the ones published. */
  readonly corrupted: ReadonlyArray<{ readonly expected: RawPoint; readonly stored: RawPoint }>
  /** Attempted, not acknowledged, and stored anyway: allowed (the ack was lost, not the write). */
  readonly recovered: ReadonlyArray<RawPoint>
  /** Acknowledged and stored once with the right values. */
  readonly okCount: number
  readonly text: string
}

const sameValues = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>, relTol: number): boolean => {
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  return keys.every((key) => {
    const other = b[key]
    return other !== undefined && close(a[key]!, other, relTol, 0)
  })
}

const showPoint = (point: RawPoint): string => `${rawKey(point)} ${JSON.stringify(point.values)}`

/**
 * The lost/duplicated checker, after Jepsen: matches stored raw points to published readings
 * by (device, sensor, ts) — unique per device in the generated load — and classifies each.
 */
export const checkExactlyOnce = (
  acknowledged: ReadonlyArray<RawPoint>,
  storedRaw: ReadonlyArray<RawPoint>,
  options: ExactlyOnceOptions = {}
): ExactlyOnceResult => {
  const relTol = options.relTol ?? 1e-12
  const maxLines = options.maxLines ?? 20
  const acked = new Map<string, RawPoint>()
  for (const reading of acknowledged) acked.set(rawKey(reading), reading)
  const attempted = new Map<string, RawPoint>()
  for (const reading of options.attempted ?? []) attempted.set(rawKey(reading), reading)

  const seen = new Set<string>()
  const duplicated: Array<RawPoint> = []
  const unexpected: Array<RawPoint> = []
  const corrupted: Array<{ expected: RawPoint; stored: RawPoint }> = []
  const recovered: Array<RawPoint> = []
  let okCount = 0
  for (const point of storedRaw) {
    const key = rawKey(point)
    if (seen.has(key)) {
      duplicated.push(point)
      continue
    }
    seen.add(key)
    const published = acked.get(key) ?? attempted.get(key)
    if (published === undefined) {
      unexpected.push(point)
    } else if (!sameValues(published.values, point.values, relTol)) {
      corrupted.push({ expected: published, stored: point })
    } else if (acked.has(key)) {
      okCount++
    } else {
      recovered.push(point)
    }
  }
  const missing = acknowledged.filter((reading) => !seen.has(rawKey(reading)))

  const ok = missing.length === 0 && duplicated.length === 0 && unexpected.length === 0 && corrupted.length === 0
  const summary =
    `${acknowledged.length} acknowledged, ${storedRaw.length} stored: ${okCount} ok, ${missing.length} missing (lost), ` +
    `${duplicated.length} duplicated, ${unexpected.length} unexpected, ${corrupted.length} corrupted, ` +
    `${recovered.length} recovered (unacknowledged but stored)`
  const text = [
    summary,
    ...listed("missing", missing, showPoint, maxLines),
    ...listed("duplicated", duplicated, showPoint, maxLines),
    ...listed("unexpected", unexpected, showPoint, maxLines),
    ...listed("corrupted", corrupted, (c) => `${rawKey(c.stored)} expected ${JSON.stringify(c.expected.values)}, stored ${JSON.stringify(c.stored.values)}`, maxLines)
  ].join("\n")
  return { ok, missing, duplicated, unexpected, corrupted, recovered, okCount, text }
}

// ---------------------------------------------------------------------------------------

/**
 * `readings` as windows must count them: a metric's value at an event time already seen for
 * the same device and sensor is a duplicate (an MQTT QoS 1 retransmission, a replayed outbox)
 * and is dropped — the first one counts. A reading left with no values is dropped. Feed the
 * result to `expectedWindows`.
 */
export const withoutDuplicates = <R extends RawPoint>(readings: ReadonlyArray<R>): Array<R> => {
  const seen = new Set<string>()
  const out: Array<R> = []
  for (const reading of readings) {
    const values: Record<string, number> = {}
    let any = false
    for (const [metric, value] of Object.entries(reading.values)) {
      const key = `${rawKey(reading)}/${metric}`
      if (seen.has(key)) continue
      seen.add(key)
      values[metric] = value
      any = true
    }
    if (any) out.push({ ...reading, values })
  }
  return out
}
