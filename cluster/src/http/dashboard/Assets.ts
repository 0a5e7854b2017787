/**
 * Static files the dashboard loads: its own script and stylesheet (./page/, shipped next to
 * this module: the build copies them to dist/) and uPlot's, served from the installed `uplot`
 * package (nothing vendored, nothing fetched from a CDN: a bramble often has no Internet).
 * Read once, on first request. Browsers keep uPlot for a day; the page's own files are
 * revalidated on every load, so a node upgraded in place never serves a browser yesterday's
 * script against today's API.
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"

const require = createRequire(import.meta.url)

interface AssetSource {
  /** The file, as a package specifier or a path. */
  readonly file: () => string
  readonly type: string
  readonly cacheControl: string
}

const fromPackage = (specifier: string, type: string): AssetSource => ({ file: () => require.resolve(specifier), type, cacheControl: "public, max-age=86400" })
const fromPage = (name: string, type: string): AssetSource => ({ file: () => fileURLToPath(new URL(`./page/${name}`, import.meta.url)), type, cacheControl: "no-cache" })

/** URL path → where the file is. */
const ASSETS: Record<string, AssetSource> = {
  "/assets/uplot.iife.min.js": fromPackage("uplot/dist/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
  "/assets/uPlot.min.css": fromPackage("uplot/dist/uPlot.min.css", "text/css; charset=utf-8"),
  "/assets/dashboard.js": fromPage("dashboard.js", "text/javascript; charset=utf-8"),
  "/assets/dashboard.css": fromPage("dashboard.css", "text/css; charset=utf-8")
}

export interface Asset {
  readonly body: Uint8Array
  readonly type: string
  readonly cacheControl: string
}

const cache = new Map<string, Asset>()

/** The asset at `path`; undefined when there is none, an Error when it is not installed. */
export const readAsset = (path: string): Asset | Error | undefined => {
  const source = ASSETS[path]
  if (source === undefined) return undefined
  const hit = cache.get(path)
  if (hit !== undefined) return hit
  try {
    const asset = { body: readFileSync(source.file()), type: source.type, cacheControl: source.cacheControl }
    cache.set(path, asset)
    return asset
  } catch (error) {
    return new Error(`${path} is missing (npm install and npm run build in the repository put it in place): ${error instanceof Error ? error.message : String(error)}`)
  }
}
