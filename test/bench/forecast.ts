/**
 * Benchmark: mean absolute error of the aggregator's next-window forecast (Holt's linear
 * trend) against the naive last-value forecast, on the simulated DHT22 climate (diurnal
 * cycle, weather drift, noise). Pure computation; prints a table and writes JSON.
 *
 *   node --import tsx test/bench/forecast.ts [--days 7] [--window 10m]
 */
import { holtUpdate, type HoltState } from "@bramble/actor-aggregator"
import { parseMillis } from "@bramble/config"
import { simulatedClimate } from "@bramble/hardware"
import { mkdirSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"

const { values: args } = parseArgs({ options: { days: { type: "string", default: "7" }, window: { type: "string", default: "10m" } } })
const windowMs = parseMillis(args.window)!
const days = Number(args.days)
const sampleMs = 2_000
const start = Date.UTC(2026, 5, 1)

const rows: Array<{ sensor: string; windows: number; holtMae: number; naiveMae: number }> = []
for (const [seed, pin] of [[1, 4], [2, 17], [3, 27], [4, 22]] as const) {
  for (const metric of ["temperatureC", "humidityPct"] as const) {
    const means: Array<number> = []
    for (let w = start; w < start + days * 86_400_000; w += windowMs) {
      let sum = 0
      let n = 0
      for (let t = w; t < w + windowMs; t += sampleMs) {
        sum += simulatedClimate(seed, pin, t)[metric]
        n++
      }
      means.push(sum / n)
    }
    let holt: HoltState | undefined
    let holtError = 0
    let naiveError = 0
    let predicted: number | undefined
    for (let i = 0; i < means.length; i++) {
      const actual = means[i]!
      if (predicted !== undefined) {
        holtError += Math.abs(predicted - actual)
        naiveError += Math.abs(means[i - 1]! - actual)
      }
      const next = holtUpdate(holt, actual)
      holt = next.state
      predicted = next.next
    }
    const scored = means.length - 1
    rows.push({ sensor: `seed ${seed} pin ${pin} ${metric}`, windows: scored, holtMae: holtError / scored, naiveMae: naiveError / scored })
  }
}

console.log(`\nForecast of the next ${args.window} window mean, ${days} simulated days`)
console.log(`${"series".padEnd(34)} ${"windows".padStart(8)} ${"Holt MAE".padStart(10)} ${"naive MAE".padStart(10)} ${"ratio".padStart(7)}`)
for (const r of rows) {
  console.log(`${r.sensor.padEnd(34)} ${String(r.windows).padStart(8)} ${r.holtMae.toFixed(4).padStart(10)} ${r.naiveMae.toFixed(4).padStart(10)} ${(r.holtMae / r.naiveMae).toFixed(3).padStart(7)}`)
}
const mean = (f: (r: typeof rows[number]) => number) => rows.reduce((a, r) => a + f(r), 0) / rows.length
console.log(`${"all".padEnd(34)} ${"".padStart(8)} ${mean((r) => r.holtMae).toFixed(4).padStart(10)} ${mean((r) => r.naiveMae).toFixed(4).padStart(10)} ${(mean((r) => r.holtMae) / mean((r) => r.naiveMae)).toFixed(3).padStart(7)}\n`)
const out = resolve(import.meta.dirname, "results")
mkdirSync(out, { recursive: true })
const file = join(out, `forecast-${new Date().toISOString().replace(/[:.]/g, "-")}.json`)
writeFileSync(file, JSON.stringify({ benchmark: "forecast", window: args.window, days, rows }, null, 2))
console.log(`result: ${file}`)
