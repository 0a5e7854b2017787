/**
 * The Prometheus text exposition format (version 0.0.4), which Prometheus, VictoriaMetrics,
 * Telegraf and Grafana Agent all scrape. Written by hand: it is a few lines of escaping, and
 * a client library would bring a registry and its own global state onto the hot path, where
 * the node only keeps plain counters.
 */

export type MetricType = "counter" | "gauge" | "histogram"

/** One sample: a value with labels; `suffix` is appended to the family name (`_bucket`, `_sum`, `_count`). */
export interface Sample {
  readonly labels?: Readonly<Record<string, string>>
  readonly value: number
  readonly suffix?: string
}

/** A metric family: one `# HELP` and `# TYPE`, then its samples. */
export interface MetricFamily {
  readonly name: string
  readonly help: string
  readonly type: MetricType
  readonly samples: ReadonlyArray<Sample>
}

/** The Content-Type of the format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

const escapeHelp = (text: string) => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
const escapeLabel = (text: string) => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")

const formatValue = (value: number): string =>
  Number.isNaN(value) ? "NaN" : value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : String(value)

const formatLabels = (labels: Readonly<Record<string, string>> | undefined): string => {
  if (labels === undefined) return ""
  const entries = Object.entries(labels)
  if (entries.length === 0) return ""
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
}

/** Render families as one exposition document. */
export const renderPrometheus = (families: ReadonlyArray<MetricFamily>): string => {
  const lines: Array<string> = []
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`)
    lines.push(`# TYPE ${f.name} ${f.type}`)
    for (const s of f.samples) lines.push(`${f.name}${s.suffix ?? ""}${formatLabels(s.labels)} ${formatValue(s.value)}`)
  }
  return `${lines.join("\n")}\n`
}

/** A cumulative histogram with fixed upper bounds (seconds, say). */
export interface Histogram {
  readonly observe: (value: number) => void
  /** Its samples (`_bucket` per bound and `+Inf`, `_sum`, `_count`). */
  readonly samples: (labels?: Readonly<Record<string, string>>) => ReadonlyArray<Sample>
}

/** A histogram over `bounds` (ascending upper bounds). */
export const makeHistogram = (bounds: ReadonlyArray<number>): Histogram => {
  const counts = new Array<number>(bounds.length).fill(0)
  let sum = 0
  let count = 0
  return {
    observe: (value) => {
      sum += value
      count += 1
      for (let i = 0; i < bounds.length; i++) {
        if (value <= bounds[i]!) counts[i]! += 1
      }
    },
    samples: (labels = {}) => [
      ...bounds.map((le, i) => ({ suffix: "_bucket", labels: { ...labels, le: String(le) }, value: counts[i]! })),
      { suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: count },
      { suffix: "_sum", labels, value: sum },
      { suffix: "_count", labels, value: count }
    ]
  }
}
