/**
 * The node's HTTP server against a real node: `/metrics` is valid Prometheus text format and
 * its counters move as readings flow; the dashboard's JSON API, event stream and assets answer.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { eventually } from "../../test/support/Eventually.js"
import { DEVICES, startTestNode, type TestNode } from "./TestNode.js"

class Fixture extends Context.Service<Fixture, TestNode>()("cluster/test/NodeHttp/Fixture") {}

interface ParsedSample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

interface Parsed {
  readonly types: Map<string, string>
  readonly helps: Map<string, string>
  readonly samples: ReadonlyArray<ParsedSample>
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

/** A strict parser of the text format (0.0.4): any line it does not understand fails the test. */
const parsePrometheus = (text: string): Parsed => {
  const types = new Map<string, string>()
  const helps = new Map<string, string>()
  const samples: Array<ParsedSample> = []
  assert.isTrue(text.endsWith("\n"), "the document ends with a newline")
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ")) {
      const [, name, help] = /^# HELP (\S+) (.*)$/.exec(line) ?? []
      assert.match(name ?? "", NAME, line)
      helps.set(name!, help!)
      continue
    }
    if (line.startsWith("# TYPE ")) {
      const [, name, type] = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line) ?? []
      assert.isDefined(name, `bad TYPE line: ${line}`)
      assert.isFalse(types.has(name!), `TYPE given twice for ${name}`)
      types.set(name!, type!)
      continue
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line)
    assert.isNotNull(match, `bad sample line: ${JSON.stringify(line)}`)
    const [, name, , labelText, valueText] = match!
    const labels: Record<string, string> = {}
    if (labelText !== undefined && labelText.length > 0) {
      const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/y
      let at = 0
      while (at < labelText.length) {
        labelPattern.lastIndex = at
        const m = labelPattern.exec(labelText)
        assert.isNotNull(m, `bad labels in ${line}`)
        labels[m![1]!] = m![2]!.replace(/\\n/g, "\n").replace(/\\"/g, "\"").replace(/\\\\/g, "\\")
        at = labelPattern.lastIndex
      }
    }
    const value = valueText === "+Inf" ? Infinity : valueText === "-Inf" ? -Infinity : Number(valueText)
    assert.isFalse(Number.isNaN(value) && valueText !== "NaN", `bad value in ${line}`)
    const family = name!.replace(/_(bucket|sum|count)$/, "")
    assert.isTrue(types.has(name!) || types.get(family) === "histogram", `${name} has no TYPE before it`)
    samples.push({ name: name!, labels, value })
  }
  return { types, helps, samples }
}

const get = (url: string) => Effect.promise(() => fetch(url))
const text = (url: string) => Effect.promise(async () => {
  const response = await fetch(url)
  assert.strictEqual(response.status, 200, url)
  return { body: await response.text(), type: response.headers.get("content-type") ?? "" }
})
const jsonOf = <A>(url: string) => Effect.promise(async () => {
  const response = await fetch(url)
  assert.strictEqual(response.status, 200, `${url}: ${response.status}`)
  return (await response.json()) as A
})

const total = (parsed: Parsed, name: string) => parsed.samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0)

layer(Layer.effect(Fixture, startTestNode()), { excludeTestServices: true, timeout: "180 seconds" })("node http", (it) => {
  it.effect("metrics - /metrics parses as Prometheus text and its counters move", () =>
    Effect.gen(function*() {
      const { node } = yield* Fixture
      const url = `${node.httpUrl}/metrics`
      const first = yield* text(url)
      assert.include(first.type, "text/plain")
      assert.include(first.type, "version=0.0.4")
      const before = parsePrometheus(first.body)
      for (
        const [name, type] of [
          ["bramble_readings_received_total", "counter"],
          ["bramble_readings_rejected_total", "counter"],
          ["bramble_readings_written_total", "counter"],
          ["bramble_consumer_pending", "gauge"],
          ["bramble_actor_restarts_total", "counter"],
          ["bramble_actor_mailbox_depth", "gauge"],
          ["bramble_sink_write_duration_seconds", "histogram"],
          ["bramble_sink_write_failures_total", "counter"],
          ["process_resident_memory_bytes", "gauge"]
        ] as const
      ) {
        assert.strictEqual(before.types.get(name), type, name)
        assert.isTrue((before.helps.get(name) ?? "").length > 0, `${name} has a HELP`)
      }
      const after = yield* eventually("counters moving between scrapes", async () => {
        const parsed = parsePrometheus(await (await fetch(url)).text())
        return total(parsed, "bramble_readings_received_total") > total(before, "bramble_readings_received_total") &&
            total(parsed, "bramble_readings_written_total") > total(before, "bramble_readings_written_total") &&
            total(parsed, "bramble_sink_write_duration_seconds_count") > 0
          ? parsed
          : undefined
      })
      // Histogram buckets are cumulative and +Inf equals the count.
      const buckets = after.samples.filter((s) => s.name === "bramble_sink_write_duration_seconds_bucket")
      for (let i = 1; i < buckets.length; i++) assert.isAtLeast(buckets[i]!.value, buckets[i - 1]!.value)
      assert.strictEqual(buckets.at(-1)!.labels["le"], "+Inf")
      assert.strictEqual(buckets.at(-1)!.value, total(after, "bramble_sink_write_duration_seconds_count"))
      // Per-partition series are labelled by node and partition.
      const perPartition = after.samples.filter((s) => s.name === "bramble_readings_received_total")
      assert.deepStrictEqual(perPartition.map((s) => s.labels["partition"]).sort(), ["0", "1", "2", "3"])
      assert.isTrue(perPartition.every((s) => s.labels["node"] === "n1"))
      const info = after.samples.find((s) => s.name === "bramble_info")!
      assert.strictEqual(info.labels["nats_server"], "2.9.10")
    }))

  it.effect("api - status, cluster, devices, device, history and health answer JSON", () =>
    Effect.gen(function*() {
      const { node } = yield* Fixture
      const base = node.httpUrl!
      assert.strictEqual((yield* text(`${base}/healthz`)).body, "ok\n")
      const status = yield* jsonOf<{ node: string }>(`${base}/api/status`)
      assert.strictEqual(status.node, "n1")
      const cluster = yield* jsonOf<{ members: Array<{ node: string; health: string }>; owners: Array<{ owner: string }> }>(`${base}/api/cluster`)
      assert.deepStrictEqual(cluster.members.map((m) => [m.node, m.health]), [["n1", "ok"]])
      assert.strictEqual(cluster.owners.length, 4)
      const history = yield* eventually("history of every device", async () => {
        const h = (await (await fetch(`${base}/api/history?minutes=5`)).json()) as { readings: Array<{ device: string; ts: number; values: Record<string, number> }> }
        return DEVICES.every((d) => h.readings.some((r) => r.device === d)) ? h : undefined
      })
      assert.isTrue(history.readings.every((r) => typeof r.values["temperature"] === "number"))
      const device = yield* jsonOf<{ device: string; owner: string }>(`${base}/api/device/${DEVICES[2]}`)
      assert.strictEqual(device.device, DEVICES[2])
      assert.strictEqual(device.owner, "n1")
      const missing = yield* get(`${base}/api/device/nope`)
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(((yield* Effect.promise(() => missing.json())) as { reason: string }).reason, "NotFound")
      assert.strictEqual((yield* get(`${base}/api/device/bad%20id`)).status, 400)
      assert.strictEqual((yield* get(`${base}/nothing-here`)).status, 404)
    }))

  it.effect("dashboard - the page, uPlot and a live event stream of readings", () =>
    Effect.gen(function*() {
      const { node } = yield* Fixture
      const base = node.httpUrl!
      const page = yield* text(`${base}/`)
      assert.include(page.type, "text/html")
      assert.include(page.body, "/assets/uplot.iife.min.js")
      const script = yield* text(`${base}/assets/uplot.iife.min.js`)
      assert.include(script.type, "javascript")
      assert.include(script.body, "uPlot")
      assert.include((yield* text(`${base}/assets/uPlot.min.css`)).type, "text/css")
      // The page's own script and stylesheet are files of their own (type-checked), served beside uPlot.
      assert.include(page.body, "/assets/dashboard.js")
      assert.include(page.body, "/assets/dashboard.css")
      const own = yield* text(`${base}/assets/dashboard.js`)
      assert.include(own.type, "javascript")
      assert.include(own.body, "new uPlot(")
      assert.include((yield* text(`${base}/assets/dashboard.css`)).body, ".notice")
      // Read the event stream until a readings batch and the cluster overview arrive.
      const events = yield* Effect.promise(async () => {
        const controller = new AbortController()
        const response = await fetch(`${base}/events`, { signal: controller.signal })
        assert.include(response.headers.get("content-type") ?? "", "text/event-stream")
        const reader = response.body!.getReader()
        const decoder = new TextDecoder()
        let buffer = ""
        const seen = new Set<string>()
        const deadline = Date.now() + 60_000
        while (!(seen.has("readings") && seen.has("cluster")) && Date.now() < deadline) {
          const { value, done } = await reader.read()
          if (done) break
          buffer += decoder.decode(value, { stream: true })
          for (const match of buffer.matchAll(/^event: (\w+)$/gm)) seen.add(match[1]!)
        }
        controller.abort()
        return seen
      })
      assert.isTrue(events.has("readings") && events.has("cluster"), [...events].join(","))
    }))
})
