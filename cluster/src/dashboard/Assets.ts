/**
 * Static files the dashboard loads: uPlot's script and stylesheet, served from the installed
 * `uplot` package (nothing vendored, nothing fetched from a CDN: a bramble often has no
 * Internet). Read once, on first request, and cached by browsers for a day.
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)

/** URL path → [package file, content type]. */
const ASSETS: Record<string, readonly [string, string]> = {
  "/assets/uplot.iife.min.js": ["uplot/dist/uPlot.iife.min.js", "text/javascript; charset=utf-8"],
  "/assets/uPlot.min.css": ["uplot/dist/uPlot.min.css", "text/css; charset=utf-8"]
}

const cache = new Map<string, { readonly body: Uint8Array; readonly type: string }>()

/** The asset at `path`; undefined when there is none, an Error when it is not installed. */
export const readAsset = (path: string): { readonly body: Uint8Array; readonly type: string } | Error | undefined => {
  const entry = ASSETS[path]
  if (entry === undefined) return undefined
  const hit = cache.get(path)
  if (hit !== undefined) return hit
  try {
    const asset = { body: readFileSync(require.resolve(entry[0])), type: entry[1] }
    cache.set(path, asset)
    return asset
  } catch (error) {
    return new Error(`${entry[0]} is not installed (npm install in the repository installs it): ${error instanceof Error ? error.message : String(error)}`)
  }
}
