import { assert, describe, it } from "@effect/vitest"
import { Codec, defaultDecodeLimits, encodeAlarm, encodeBatchRecord, encodeWindowResult, type WindowResult } from "@bramble/protocol"
import { Redacted, Result } from "effect"
import { createHmac } from "node:crypto"
import { decodeForwardItem, type ForwardItem, idempotencyKey, sourceSpec } from "../src/ForwardItem.js"
import { classifyStatus, excerpt } from "../src/HttpPost.js"
import { thingsBoardTokenSetting, webhookCredentialSettings } from "../src/ForwardSecrets.js"
import { telemetryOf, telemetryUrl, THINGSBOARD_TOKEN_STATUSES, thingsBoardRequests, tokenRefusalMessage } from "../src/ThingsBoardSink.js"
import { SIGNATURE_HEADER, webhookBody, webhookHeaders, webhookSignature } from "../src/WebhookSink.js"

const T0 = 1_700_000_000_000
const utf8 = new TextEncoder()

const reading = (device: string, ts: number, values: Record<string, number>, seq = ts - T0): ForwardItem => ({
  kind: "reading",
  stream: "READINGS",
  seq,
  subject: `readings.1.${device}.env`,
  device,
  bytes: new Uint8Array(),
  data: { device, sensor: "env", ts, values }
})

const windowResult = (device: string, metric: string, start: number): WindowResult => ({
  device,
  sensor: "env",
  metric,
  window: "1m",
  start,
  end: start + 60_000,
  count: 12,
  mean: 20.5,
  min: 19,
  max: 22,
  first: 19.5,
  last: 21,
  stddev: 0.8
})

describe("forward - ThingsBoard requests", () => {
  it("a raw reading is {ts, values} with the reading's own metric names", () => {
    assert.deepStrictEqual(telemetryOf(reading("gh-1", T0, { temperature: 21.5, humidity: 40 })), { ts: T0, values: { temperature: 21.5, humidity: 40 } })
  })

  it("a window result becomes <metric>_<window>_<stat> at the window's start", () => {
    const w = windowResult("gh-1", "temperature", T0)
    const item: ForwardItem = { kind: "window", stream: "AGGREGATES", seq: 1, subject: "aggregates.gh-1.env.temperature.1m", device: "gh-1", bytes: new Uint8Array(), data: w }
    assert.deepStrictEqual(telemetryOf(item), {
      ts: T0,
      values: { temperature_1m_mean: 20.5, temperature_1m_min: 19, temperature_1m_max: 22, temperature_1m_count: 12 }
    })
  })

  it("an alarm becomes alarm_<rule> 1/0 with its value and message", () => {
    const base = { stream: "ALARMS", seq: 1, subject: "alarms.gh-1.too-cold", device: "gh-1", bytes: new Uint8Array() }
    const raised: ForwardItem = { ...base, kind: "alarm", data: { device: "gh-1", rule: "too-cold", state: "raised", value: 3.5, message: "below 5", at: T0 } }
    const cleared: ForwardItem = { ...base, kind: "alarm", data: { device: "gh-1", rule: "too-cold", state: "cleared", message: "ok", at: T0 + 1 } }
    assert.deepStrictEqual(telemetryOf(raised), { ts: T0, values: { "alarm_too-cold": 1, "alarm_too-cold_value": 3.5, "alarm_too-cold_message": "below 5" } })
    assert.deepStrictEqual(telemetryOf(cleared), { ts: T0 + 1, values: { "alarm_too-cold": 0, "alarm_too-cold_message": "ok" } })
  })

  it("one request per device, devices in first-seen order, equal timestamps merged, every item accounted for", () => {
    const batch = [
      reading("b", T0, { t: 1 }),
      reading("a", T0, { t: 2 }),
      reading("b", T0 + 1, { t: 3 }),
      reading("b", T0, { h: 4 }),
      reading("a", T0 + 5, { t: 5 }),
      reading("b", T0, { t: 6 })
    ]
    const requests = thingsBoardRequests(batch)
    assert.deepStrictEqual(requests, [
      { device: "b", indices: [0, 2, 3, 5], body: [{ ts: T0, values: { t: 6, h: 4 } }, { ts: T0 + 1, values: { t: 3 } }] },
      { device: "a", indices: [1, 4], body: [{ ts: T0, values: { t: 2 } }, { ts: T0 + 5, values: { t: 5 } }] }
    ])
  })

  it("the telemetry URL carries the token as one path segment, under any base path", () => {
    assert.strictEqual(telemetryUrl("http://tb:8080", "A1b2"), "http://tb:8080/api/v1/A1b2/telemetry")
    assert.strictEqual(telemetryUrl("https://example.com/thingsboard/", "x/y?z"), "https://example.com/thingsboard/api/v1/x%2Fy%3Fz/telemetry")
  })
})

describe("forward - webhook requests", () => {
  const batch = [reading("gh-1", T0, { t: 1 }, 41), reading("gh-2", T0 + 1, { t: 2 }, 42)]

  it("the body lists every item with its idempotency key, stream, sequence, subject, kind and data", () => {
    const body = JSON.parse(webhookBody(batch)) as { items: Array<Record<string, unknown>> }
    assert.deepStrictEqual(body.items[1], {
      id: "READINGS:42",
      stream: "READINGS",
      seq: 42,
      subject: "readings.1.gh-2.env",
      kind: "reading",
      data: { device: "gh-2", sensor: "env", ts: T0 + 1, values: { t: 2 } }
    })
    assert.strictEqual(body.items.length, 2)
    assert.strictEqual(idempotencyKey(batch[0]!), "READINGS:41")
  })

  it("the signature is HMAC-SHA256 of the exact body, and only with a secret", () => {
    const body = webhookBody(batch)
    const expected = `sha256=${createHmac("sha256", "s3cret").update(Buffer.from(body, "utf8")).digest("hex")}`
    assert.strictEqual(webhookSignature(body, "s3cret"), expected)
    const signed = webhookHeaders(body, { name: "hook", secret: Redacted.make("s3cret"), headers: { "X-Team": "ops", Authorization: Redacted.make("Bearer abc") } })
    assert.strictEqual(signed[SIGNATURE_HEADER], expected)
    assert.strictEqual(signed["content-type"], "application/json")
    assert.strictEqual(signed["Authorization"], "Bearer abc")
    assert.strictEqual(signed["X-Team"], "ops")
    const unsigned = webhookHeaders(body, { name: "hook", secret: undefined, headers: {} })
    assert.isUndefined(unsigned[SIGNATURE_HEADER])
  })
})

describe("forward - answers and items", () => {
  it("2xx is accepted; 5xx, 408, 425 and 429 are retried; refused credentials and redirects are the settings' fault; other 4xx refuse the items", () => {
    const classify = (status: number) => classifyStatus(status)
    assert.deepStrictEqual([200, 201, 204].map(classify), ["Accepted", "Accepted", "Accepted"])
    assert.deepStrictEqual([500, 502, 503, 504, 408, 425, 429].map(classify), Array(7).fill("Unavailable"))
    assert.deepStrictEqual([401, 403].map(classify), ["Misconfigured", "Misconfigured"])
    assert.deepStrictEqual([400, 404, 409, 413, 415, 422].map(classify), Array(6).fill("Rejected"))
    assert.deepStrictEqual([301, 302, 307].map(classify), Array(3).fill("Misconfigured"))
  })

  it("ThingsBoard's 404 is about the token (no such device), not the telemetry; its 400 and 413 still refuse the items", () => {
    const classify = (status: number) => classifyStatus(status, THINGSBOARD_TOKEN_STATUSES)
    assert.deepStrictEqual([401, 403, 404].map(classify), Array(3).fill("Misconfigured"))
    assert.deepStrictEqual([400, 413, 422].map(classify), Array(3).fill("Rejected"))
  })

  it("a refused token names the device and the setting to check, never the token, and says nothing is dead-lettered", () => {
    const options = { name: "tb", urlSetting: "forward[0].url", tokenSetting: (d: string) => `forward[0].devices[1].tokenFile (/etc/tb/${d}.token)` }
    const refused = tokenRefusalMessage(options, [{ device: "dev-1", status: 401, answer: "Invalid device access token" }, { device: "dev-2", status: 401, answer: "x" }])
    assert.include(refused, "ThingsBoard refused the access token of device dev-1 (forward target tb, HTTP 401): check forward[0].devices[1].tokenFile (/etc/tb/dev-1.token)")
    assert.include(refused, "(and the token(s) of dev-2)")
    assert.include(refused, "held, not dead-lettered")
    assert.include(refused, "Invalid device access token")
    const unknown = tokenRefusalMessage(options, [{ device: "dev-1", status: 404, answer: "(empty body)" }])
    assert.include(unknown, "its access token names no device there, or forward[0].url is not ThingsBoard's base URL")
  })

  it("the settings to check for a webhook's credentials: secret headers, signing secret, or that it sends none", () => {
    const base = { kind: "webhook", name: "hook", url: "http://x", source: "raw", batchSize: 1, timeout: 1, retryCap: 1, startFrom: "new" } as const
    assert.strictEqual(
      webhookCredentialSettings({ ...base, headers: {}, headersEnv: { Authorization: "HOOK_AUTH" }, secretFile: "/etc/hook.secret" }, 2),
      "forward[2].headersEnv.Authorization (HOOK_AUTH), forward[2].secretFile (/etc/hook.secret, signs each request)"
    )
    assert.match(webhookCredentialSettings({ ...base, headers: {} }, 0), /^forward\[0\]: it sends no credentials/)
    const tb = { ...base, kind: "thingsboard", devices: [{ device: "a", tokenEnv: "TB_A" }], tokensFile: "/etc/tb.json" } as const
    assert.strictEqual(thingsBoardTokenSetting(tb, 1, "a"), "forward[1].devices[0].tokenEnv (TB_A)")
    assert.strictEqual(thingsBoardTokenSetting(tb, 1, "b"), `forward[1].tokensFile (/etc/tb.json, key "b")`)
  })

  it("a response excerpt is one line, bounded, and never repeats a secret", () => {
    const text = excerpt(`error:\n  token t0k/en is invalid (t0k%2Fen)\n${"x".repeat(2_000)}`, ["t0k/en"])
    assert.notInclude(text, "t0k")
    assert.notInclude(text, "\n")
    assert.isAtMost(text.length, 501)
  })

  it("stored messages decode as the rest of Bramble decodes them; what does not decode says why", () => {
    const raw = sourceSpec("raw")
    const ok = decodeForwardItem(raw, { subject: "readings.2.gh-1.env", seq: 7, data: utf8.encode(JSON.stringify({ values: { t: 1 } })), storedAtMs: T0 }, defaultDecodeLimits)
    assert.isTrue(Result.isSuccess(ok))
    if (Result.isSuccess(ok)) assert.deepStrictEqual(ok.success.map((i) => [i.kind, i.device, i.data, idempotencyKey(i)]), [["reading", "gh-1", { device: "gh-1", sensor: "env", ts: T0, values: { t: 1 } }, "READINGS:7"]])
    // A batch record: one item per reading, each keyed by its place in the record.
    const batch = decodeForwardItem(raw, { subject: "readings.2.gh-1.env", seq: 9, data: encodeBatchRecord([{ ts: T0, values: { t: 1 } }, { ts: T0 + 1, values: { t: 2 } }]), storedAtMs: T0 }, defaultDecodeLimits)
    assert.deepStrictEqual(Result.isSuccess(batch) ? batch.success.map((i) => [idempotencyKey(i), i.data]) : batch.failure, [
      ["READINGS:9.0", { device: "gh-1", sensor: "env", ts: T0, values: { t: 1 } }],
      ["READINGS:9.1", { device: "gh-1", sensor: "env", ts: T0 + 1, values: { t: 2 } }]
    ])
    const bad = decodeForwardItem(raw, { subject: "readings.2.gh-1.env", seq: 8, data: utf8.encode("{nope"), storedAtMs: T0 }, defaultDecodeLimits)
    assert.isTrue(Result.isFailure(bad) && bad.failure.startsWith("MalformedJson"))

    const w = windowResult("gh-1", "t", T0)
    const win = decodeForwardItem(sourceSpec("windows"), { subject: "aggregates.gh-1.env.t.1m", seq: 3, data: encodeWindowResult(w), storedAtMs: T0 }, defaultDecodeLimits)
    assert.isTrue(Result.isSuccess(win) && win.success[0]!.kind === "window" && win.success[0]!.stream === "AGGREGATES")
    const notWindow = decodeForwardItem(sourceSpec("windows"), { subject: "aggregates.gh-1.env.t.1m", seq: 4, data: Codec.encode({ x: 1 }), storedAtMs: T0 }, defaultDecodeLimits)
    assert.isTrue(Result.isFailure(notWindow))

    const alarm = decodeForwardItem(sourceSpec("alarms"), {
      subject: "alarms.gh-1.cold",
      seq: 5,
      data: encodeAlarm({ device: "gh-1", rule: "cold", state: "raised", message: "m", at: T0 }),
      storedAtMs: T0
    }, defaultDecodeLimits)
    assert.isTrue(Result.isSuccess(alarm) && alarm.success[0]!.device === "gh-1" && alarm.success[0]!.kind === "alarm")
  })

  it("each source reads its own stream; window results without the forecasts", () => {
    assert.deepStrictEqual(sourceSpec("raw"), { stream: "READINGS", filterSubject: "readings.*.*.*", kind: "reading" })
    assert.deepStrictEqual(sourceSpec("windows"), { stream: "AGGREGATES", filterSubject: "aggregates.*.*.*.*", kind: "window" })
    assert.deepStrictEqual(sourceSpec("alarms"), { stream: "ALARMS", filterSubject: "alarms.*.*", kind: "alarm" })
  })
})
