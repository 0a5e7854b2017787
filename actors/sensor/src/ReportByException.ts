/**
 * Report by exception: a metric polled every second is published only when it has moved by
 * more than its deadband since the value last published, or when it has been silent for
 * `maxSilenceMs` (so a flat value still shows up, and a stale-data rule can tell a quiet
 * metric from a dead one). Metrics without a policy are published every time.
 *
 * The deadband is absolute (`0.5` °C) or a percentage of the last published value (`2%`);
 * a change must be strictly greater than it, so a deadband of 0 publishes every change and
 * no repeat. The first value of a metric is always published, and so is every value after
 * `reset` (the sensor actor resets after a fault, so a recovered device reports at once).
 */

/** How one metric is reported. */
export interface ReportPolicy {
  /** Publish when the change exceeds this; absent: 0 (every change). */
  readonly deadband?: { readonly absolute: number } | { readonly percent: number }
  /** Publish anyway when nothing was published for this long. */
  readonly maxSilenceMs?: number
}

interface Last {
  readonly value: number
  readonly at: number
}

/** Whether `value` at `now` is published, given the last published one. */
export const shouldReport = (policy: ReportPolicy, last: Last | undefined, value: number, now: number): boolean => {
  if (last === undefined) return true
  if (policy.maxSilenceMs !== undefined && now - last.at >= policy.maxSilenceMs) return true
  const change = Math.abs(value - last.value)
  const band = policy.deadband === undefined
    ? 0
    : "absolute" in policy.deadband
    ? policy.deadband.absolute
    : Math.abs(last.value) * policy.deadband.percent / 100
  return change > band
}

/** Per metric: a record, or a function (e.g. one policy for every metric, names unknown ahead). */
export type ReportPolicies = Readonly<Record<string, ReportPolicy>> | ((metric: string) => ReportPolicy | undefined)

/** The per-metric report-by-exception state of one sensor. */
export class ReportByException {
  private readonly last = new Map<string, Last>()

  private readonly policyOf: (metric: string) => ReportPolicy | undefined

  constructor(policies: ReportPolicies) {
    this.policyOf = typeof policies === "function" ? policies : (metric) => (Object.hasOwn(policies, metric) ? policies[metric] : undefined)
  }

  /** The values of `values` to publish now (possibly none), remembering them as published. */
  filter(values: Readonly<Record<string, number>>, now: number): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [metric, value] of Object.entries(values)) {
      const policy = this.policyOf(metric)
      if (policy !== undefined && !shouldReport(policy, this.last.get(metric), value, now)) continue
      out[metric] = value
      this.last.set(metric, { value, at: now })
    }
    return out
  }

  /** Forgets what was published: every metric's next value is published. */
  reset(): void {
    this.last.clear()
  }
}
