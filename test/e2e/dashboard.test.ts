/**
 * The live dashboard in a real browser (Debian's `chromium`, driven headless by
 * playwright-core): a node with a real nats-server, VictoriaMetrics and simulated sensors
 * serves the page; the test checks that it shows the devices, that their charts fill with
 * points and keep changing without a reload, and saves a screenshot to
 * test/e2e/artifacts/dashboard.png.
 */
import { existsSync, mkdirSync } from "node:fs"
import { join, resolve } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { chromium, type Page } from "playwright-core"
import { type RunningNode, startNode } from "@bramble/cluster"
import { parseClusterConfig } from "@bramble/config"
import { freePorts, scopedTempDir, startVictoriaMetrics } from "@bramble/deploy"

/** The page's `document`, as the functions that run in the browser use it (this workspace
 * has no DOM types). */
interface PageElement {
  getAttribute(name: string): string | null
  readonly textContent: string | null
  querySelectorAll(selector: string): ArrayLike<PageElement>
}
declare const document: {
  querySelector(selector: string): PageElement | null
  querySelectorAll(selector: string): ArrayLike<PageElement>
}

/** Waits until the node holds every partition's lease (it claims them right after starting). */
const ownsEverything = (node: RunningNode, partitions: number) =>
  Effect.promise(async () => {
    const deadline = Date.now() + 60_000
    while (!Array.from({ length: partitions }, (_, p) => p).every((p) => node.clusterView.owns(p))) {
      if (Date.now() > deadline) throw new Error(`node ${node.name} did not claim all ${partitions} partitions`)
      await new Promise((r) => setTimeout(r, 100))
    }
  })

const CHROMIUM = "/usr/bin/chromium"
const ARTIFACTS = resolve(import.meta.dirname, "artifacts")
const DEVICES = ["greenhouse-1", "greenhouse-2", "barn", "cellar"] as const
const WAIT_MS = 90_000

const clusterFile = (dir: string, ports: ReadonlyArray<number>, dbUrl: string) =>
  [
    `cluster: { name: greenhouse-farm, partitions: 4, dataDir: ${JSON.stringify(join(dir, "nodes"))} }`,
    `nodes:`,
    `  - name: pi1`,
    `    host: 127.0.0.1`,
    `    httpPort: ${ports[4]}`,
    `    nats: { port: ${ports[0]}, mqttPort: ${ports[1]}, httpPort: ${ports[2]}, clusterPort: ${ports[3]} }`,
    `sensors:`,
    // DHT22s every 2 s, as the demo runs them (a DHT22 reads tenths of a degree).
    ...DEVICES.map((device, i) => `  - { device: ${device}, node: pi1, kind: simulated-dht22, pin: ${4 + i}, interval: 2s }`),
    `windows: [{ name: 10s, size: 10s }, { name: 1m, size: 1m }]`,
    // The barn is always warmer than 12 °C in the simulation: one alarm raised to show.
    `rules: [{ kind: threshold, name: too-warm, metric: temperature, above: 12, devices: [barn] }]`,
    `processing: { allowedLateness: 1s, idleAdvance: 2s, checkpointInterval: 500ms }`,
    `sink: { kind: influx-v2, url: ${dbUrl} }`
  ].join("\n")

const browser = Effect.acquireRelease(
  Effect.promise(() =>
    chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    })
  ),
  (b) => Effect.promise(() => b.close())
)

/** The number of points a device's chart holds, as the page reports it. */
const pointsOf = (page: Page, device: string) =>
  page.$eval(`[data-device="${device}"]`, (el) => Number(el.getAttribute("data-points")))

/** Every device's displayed temperature and humidity. */
const displayed = (page: Page) =>
  page.$$eval(".card", (cards) =>
    cards.map((card) =>
      `${card.getAttribute("data-device")}:` +
      [...card.querySelectorAll("[data-metric]")].map((n) => n.textContent).join("/")
    ).join(" "))

describe("dashboard", () => {
  it.live("the page shows live data from a running node and updates without a reload", () =>
    Effect.scoped(Effect.gen(function*() {
      assert.isTrue(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (deploy/setup.sh installs it)`)
      const dir = yield* scopedTempDir({ prefix: "bramble-dashboard-" })
      const db = yield* startVictoriaMetrics({ dir: join(dir, "vm") })
      const ports = yield* freePorts(5)
      const config = parseClusterConfig(clusterFile(dir, ports, db.url), join(dir, "cluster.yaml"))
      if (Result.isFailure(config)) return yield* Effect.die(config.failure)
      const node = yield* startNode({ config: config.success, node: "pi1", simulate: true })
      yield* ownsEverything(node, 4)
      assert.isDefined(node.httpUrl)

      const b = yield* browser
      const page = yield* Effect.promise(() => b.newPage({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 }))
      const errors: Array<string> = []
      page.on("pageerror", (error) => errors.push(String(error)))
      page.on("console", (msg) => {
        if (msg.type() === "error") errors.push(msg.text())
      })
      yield* Effect.promise(() => page.goto(node.httpUrl!, { waitUntil: "load" }))

      yield* Effect.promise(async () => {
        // Every device gets a card, and the live event stream is connected.
        for (const device of DEVICES) await page.waitForSelector(`[data-device="${device}"]`, { timeout: WAIT_MS })
        await page.waitForSelector(`body[data-live="ok"]`, { timeout: WAIT_MS })
        // The charts fill with points.
        await page.waitForFunction(
          (devices) => devices.every((d) => Number(document.querySelector(`[data-device="${d}"]`)?.getAttribute("data-points")) >= 3),
          DEVICES,
          { timeout: WAIT_MS, polling: 250 }
        )
      })
      const before = yield* Effect.promise(() => pointsOf(page, DEVICES[0]))
      const shownBefore = yield* Effect.promise(() => displayed(page))
      // Live: more points arrive, and the displayed values change, with no reload.
      yield* Effect.promise(() =>
        page.waitForFunction(
          ([device, n]) => Number(document.querySelector(`[data-device="${device}"]`)?.getAttribute("data-points")) > (n as number) + 2,
          [DEVICES[0], before] as const,
          { timeout: WAIT_MS, polling: 250 }
        )
      )
      yield* Effect.promise(() =>
        page.waitForFunction(
          (previous) =>
            Array.from(document.querySelectorAll(".card")).map((card) =>
              `${card.getAttribute("data-device")}:` + Array.from(card.querySelectorAll("[data-metric]")).map((n) => n.textContent).join("/")
            ).join(" ") !== previous,
          shownBefore,
          { timeout: WAIT_MS, polling: 500 }
        )
      )
      const temperature = yield* Effect.promise(() =>
        page.$eval(`[data-device="${DEVICES[0]}"] [data-metric="temperature"]`, (el) => Number(el.textContent))
      )
      assert.isTrue(Number.isFinite(temperature), "a temperature is displayed")

      // Temperature against humidity, the partition map with its owner, alarms.
      yield* Effect.promise(() => page.waitForSelector(`#scatter[data-series="${DEVICES.length}"]`, { timeout: WAIT_MS }))
      const partitions = yield* Effect.promise(() => page.$$eval("#pmap [data-partition]", (cells) => cells.length))
      assert.strictEqual(partitions, 4)
      const member = yield* Effect.promise(() => page.$eval(`[data-node="pi1"]`, (el) => el.getAttribute("data-health")))
      assert.strictEqual(member, "ok")
      // The raised alarm: in the alarms panel, and on the barn's card.
      yield* Effect.promise(() => page.waitForSelector(`#alarms [data-alarm="barn/too-warm"]`, { timeout: WAIT_MS }))
      yield* Effect.promise(() => page.waitForSelector(`[data-device="barn"][data-alarms="1"]`, { timeout: WAIT_MS }))
      const quiet = yield* Effect.promise(() => page.$eval(`[data-device="cellar"]`, (el) => el.getAttribute("data-alarms")))
      assert.strictEqual(quiet, "0")

      // Some more history, so the picture shows a curve, then the screenshot.
      yield* Effect.promise(() =>
        page.waitForFunction(
          (devices) => devices.every((d) => Number(document.querySelector(`[data-device="${d}"]`)?.getAttribute("data-points")) >= 20),
          DEVICES,
          { timeout: WAIT_MS, polling: 250 }
        )
      )
      mkdirSync(ARTIFACTS, { recursive: true })
      const file = join(ARTIFACTS, "dashboard.png")
      yield* Effect.promise(() => page.screenshot({ path: file, fullPage: true }))
      assert.isTrue(existsSync(file))
      assert.deepStrictEqual(errors, [], "the page logged errors")
    })), { timeout: 240_000 })
})
