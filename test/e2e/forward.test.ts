/**
 * Forwarding against a real `bramble node` and real HTTP receivers on loopback, all fed at
 * once while readings flow for ~30 s:
 * - `tb`: a ThingsBoard stand-in speaking its device telemetry API, tokens from an
 *   environment variable, a token file and a tokens file; a device without a token is skipped;
 * - `hook`: a webhook receiver that verifies the HMAC signature of every request;
 * - `windows`: a webhook fed with window results, which must equal the oracle's;
 * - `down`: a receiver whose port is closed for the first half and answers 503 for the
 *   second half of the load, then comes back;
 * - `picky`: a receiver that answers 400 to any batch holding a reading of `poison-1`;
 * - `tb-typo`: ThingsBoard again, with a wrong token for dev-0000 (401): the target is held
 *   and reported unavailable with the setting to fix — in the status reply and in
 *   `bramble status` — and nothing of it is dead-lettered.
 * Every published reading must reach every receiver that takes it at least once (checked by
 * content: device + event time, and values), each refused one must be in DEADLETTER once
 * with the status and the receiver's answer, and a receiver that is down holds back no one
 * but itself. No token or signing secret shows up in the log, the status or a dead letter.
 * Nothing here depends on timing; waits are generous.
 */
import { assert, describe, it } from "@effect/vitest"
import { startVictoriaMetrics } from "@bramble/deploy"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { BRAMBLE_CLI } from "../support/BrambleNode.js"
import { readDeadLetters } from "../support/DeadLetters.js"
import { compareWindows, expectedWindows, makeReadings, natsPayload, publishNats, type TestReading, waitFor, type WindowRow } from "../support/index.js"
import { promise, testDir, WAIT_MS, WINDOWS, withNodeLog } from "../support/SystemTest.js"
import { forwarderStatus, makeThingsBoard, makeWebhookReceiver, startForwardingNode, type WebhookItem } from "./forward-harness.js"

const DEVICES = ["dev-0000", "dev-0001", "dev-0002", "dev-0003"]
const POISON = "poison-1"
const CHUNKS = 20
const CHUNK_GAP = "1500 millis"
const HMAC_SECRET = "hmac-secret-for-the-test"
const TYPO_TOKEN = "tok-dev0-typo"
const POISON_ANSWER = JSON.stringify({ error: `device ${POISON} is not accepted here` })

/** `bramble status` (the built CLI, no colour) against the node at `natsUrl`: its text. */
const brambleStatus = (natsUrl: string): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(process.execPath, [BRAMBLE_CLI, "status", "--server", natsUrl], { env: { ...process.env, NO_COLOR: "1" }, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`bramble status failed: ${error.message}\n${stderr}`))
      else resolve(stdout)
    })
  })

const pointKey = (p: { readonly device: string; readonly ts: number }) => `${p.device}@${p.ts}`
const sameValues = (a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v)

/** The readings among `expected` that `got` lacks (by device + ts, with equal values), as text. */
const missingFrom = (
  expected: ReadonlyArray<TestReading>,
  got: ReadonlyArray<{ readonly device: string; readonly ts: number; readonly values: Readonly<Record<string, unknown>> }>
): Array<string> => {
  const seen = new Map<string, Array<Readonly<Record<string, unknown>>>>()
  for (const g of got) seen.set(pointKey(g), [...(seen.get(pointKey(g)) ?? []), g.values])
  return expected.filter((r) => !(seen.get(pointKey(r)) ?? []).some((v) => sameValues(r.values, v))).map(pointKey)
}

/** The readings a webhook got, as points. */
const readingsOf = (items: ReadonlyArray<WebhookItem>) =>
  items.filter((i) => i.kind === "reading").map((i) => i.data as unknown as { device: string; ts: number; values: Record<string, number> })

describe("forwarding - bramble node to ThingsBoard and webhooks", () => {
  it.live("every reading reaches every receiver at least once; 4xx is dead-lettered, a refused token is held; a receiver that is down holds back only itself", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const dir = yield* testDir("bramble-forward-")
      const vm = yield* startVictoriaMetrics({ dir: join(dir, "db") })

      // ThingsBoard: dev-0000's token from the environment, dev-0001's from a file, the
      // others from a tokens file; poison-1 has none.
      const tokens = new Map([["tok-dev0", "dev-0000"], ["tok/dev1 ü", "dev-0001"], ["tok-dev2", "dev-0002"], ["tok-dev3", "dev-0003"]])
      const tokenFile = join(dir, "dev-0001.token")
      writeFileSync(tokenFile, "tok/dev1 ü\n")
      const tokensFile = join(dir, "tb-tokens.json")
      writeFileSync(tokensFile, JSON.stringify({ "dev-0002": "tok-dev2", "dev-0003": "tok-dev3" }))
      const tb = yield* makeThingsBoard(tokens)

      const hook = yield* makeWebhookReceiver({ secret: HMAC_SECRET })
      yield* hook.receiver.listen
      const windows = yield* makeWebhookReceiver({})
      yield* windows.receiver.listen
      let downAnswers: "503" | "ok" = "503"
      const down = yield* makeWebhookReceiver({
        decide: () => downAnswers === "ok" ? { status: 200 } : { status: 503, body: JSON.stringify({ error: "maintenance" }) }
      })
      const picky = yield* makeWebhookReceiver({
        decide: (items) => items.some((i) => i.data["device"] === POISON) ? { status: 400, body: POISON_ANSWER } : { status: 200 }
      })
      yield* picky.receiver.listen

      const node = yield* startForwardingNode({
        dir: join(dir, "node"),
        sinkUrl: vm.url,
        env: { TB_DEV0: "tok-dev0", HOOK_SECRET: HMAC_SECRET, TB_TYPO: TYPO_TOKEN },
        forward: [
          {
            kind: "thingsboard",
            name: "tb",
            url: tb.receiver.url,
            batchSize: 50,
            devices: [{ device: "dev-0000", tokenEnv: "TB_DEV0" }, { device: "dev-0001", tokenFile }],
            tokensFile
          },
          { kind: "webhook", name: "hook", url: `${hook.receiver.url}/bramble/in`, secretEnv: "HOOK_SECRET", headers: { "X-Test": "forward" }, batchSize: 50 },
          { kind: "webhook", name: "windows", url: windows.receiver.url, source: "windows", batchSize: 100 },
          { kind: "webhook", name: "down", url: down.receiver.url, batchSize: 50, timeout: "5s", retryCap: "2s" },
          { kind: "webhook", name: "picky", url: picky.receiver.url, batchSize: 20 },
          { kind: "thingsboard", name: "tb-typo", url: tb.receiver.url, batchSize: 50, retryCap: "2s", devices: [{ device: "dev-0000", tokenEnv: "TB_TYPO" }] }
        ]
      })

      yield* withNodeLog(
        node,
        Effect.gen(function*() {
          const published: Array<TestReading> = []
          const poison: Array<TestReading> = []
          const publishChunk = (c: number) =>
            Effect.gen(function*() {
              const chunk = makeReadings({ devices: DEVICES, perDevice: 3, startMs: Date.now(), stepMs: 50, seqStart: c * 3, seed: c + 1 })
              if (c % 4 === 2) {
                const bad = makeReadings({ devices: [POISON], perDevice: 1, startMs: Date.now() + 1, stepMs: 1, seqStart: c, seed: 100 + c })
                poison.push(...bad)
                chunk.push(...bad)
              }
              const report = yield* promise(() => publishNats(node.natsUrl, chunk))
              assert.strictEqual(report.failed.length, 0, JSON.stringify(report.failed.slice(0, 3)))
              published.push(...chunk)
            })

          // First half: `down`'s port is closed. Second half: it answers 503.
          const loadStarted = Date.now()
          for (let c = 0; c < CHUNKS; c++) {
            if (c === CHUNKS / 2) yield* down.receiver.listen
            yield* publishChunk(c)
            yield* Effect.sleep(CHUNK_GAP)
          }
          const outageEnded = Date.now()

          // While `down` is still away, the others have everything: it holds back only itself.
          yield* promise(() =>
            waitFor(() => missingFrom(published, readingsOf(hook.accepted)), {
              until: (missing) => missing.length === 0,
              timeoutMs: WAIT_MS,
              intervalMs: 500,
              show: (missing) => `${missing.length} readings missing at hook, e.g. ${missing.slice(0, 5).join(", ")}`,
              label: "hook has every reading while down is away"
            })
          )
          const during = (yield* promise(() => forwarderStatus(node))).find((f) => f.name === "down")!
          assert.isAbove(during.failures, 0, JSON.stringify(during))
          assert.isNumber(during.unavailableSince, JSON.stringify(during))
          assert.strictEqual(during.sent, 0, JSON.stringify(during))
          assert.strictEqual(down.accepted.length, 0)
          assert.isAbove(down.receiver.requests.length, 0, "down answered 503 while it was listening")

          downAnswers = "ok"

          // Everyone gets everything it takes.
          const normal = published.filter((r) => r.device !== POISON)
          const waitUntilComplete = (label: string, missing: () => Array<string>) =>
            promise(() =>
              waitFor(missing, {
                until: (m) => m.length === 0,
                timeoutMs: WAIT_MS,
                intervalMs: 500,
                show: (m) => `${m.length} missing, e.g. ${m.slice(0, 5).join(", ")}`,
                label
              })
            )
          yield* waitUntilComplete("every reading at down after it came back", () => missingFrom(published, readingsOf(down.accepted)))
          yield* waitUntilComplete("every reading of a device with a token at ThingsBoard", () => missingFrom(normal, tb.entries))
          yield* waitUntilComplete("every reading but poison-1's at picky", () => missingFrom(normal, readingsOf(picky.accepted)))

          const expected = expectedWindows(published, WINDOWS)
          const latestWindows = () => {
            // A window re-emitted with a correction comes later in the log: keep the last.
            const byKey = new Map<string, WebhookItem>()
            for (const item of windows.accepted) {
              const w = item.data as unknown as WindowRow
              const key = `${w.device}/${w.sensor}/${w.metric}/${w.window}/${w.start}`
              const previous = byKey.get(key)
              if (previous === undefined || previous.seq < item.seq) byKey.set(key, item)
            }
            return [...byKey.values()].map((i) => i.data as unknown as WindowRow)
          }
          const windowDiff = yield* promise(() =>
            waitFor(() => compareWindows(expected, latestWindows()), { until: (d) => d.ok, timeoutMs: WAIT_MS, intervalMs: 500, show: (d) => d.text, label: "window results at the windows webhook" })
          )

          // Every forwarder drained: nothing pending, no receiver unavailable — but tb-typo,
          // held (not dead-lettered) and saying which setting to fix.
          const final = yield* promise(() =>
            waitFor(() => forwarderStatus(node), {
              until: (fs) => fs.length === 6 && fs.every((f) => f.name === "tb-typo" || (f.lag === 0 && f.unavailableSince === undefined)),
              timeoutMs: WAIT_MS,
              intervalMs: 500,
              label: "every forwarder drained"
            })
          )
          const stat = (name: string) => final.find((f) => f.name === name)!

          const typo = stat("tb-typo")
          assert.isNumber(typo.unavailableSince, JSON.stringify(typo))
          assert.strictEqual(typo.sent, 0, JSON.stringify(typo))
          assert.strictEqual(typo.deadLettered, 0, JSON.stringify(typo))
          assert.include(typo.lastError, "ThingsBoard refused the access token of device dev-0000 (forward target tb-typo, HTTP 401): check forward[5].devices[0].tokenEnv (TB_TYPO)")
          const statusText = yield* promise(() => brambleStatus(node.natsUrl))
          const typoLine = statusText.split("\n").find((l) => l.startsWith("tb-typo "))
          assert.isDefined(typoLine, statusText)
          assert.match(typoLine!, /^tb-typo\s+thingsboard\s+raw\s+0\s+0\s+\d+\s+\d+\s+unavailable .*ThingsBoard refused the access token of device dev-0000/)
          assert.match(statusText.split("\n").find((l) => l.startsWith("picky "))!, new RegExp(`^picky\\s+webhook\\s+raw\\s+\\d+\\s+${poison.length}\\s+0\\s+0\\s+delivering`))

          // ThingsBoard: only devices with a token were sent; poison-1 was skipped and counted.
          assert.deepStrictEqual(tb.problems, [])
          assert.isFalse(tb.entries.some((e) => e.device === POISON), "a device without a token is never sent")
          assert.isAtLeast(stat("tb").skipped, poison.length, JSON.stringify(stat("tb")))
          assert.strictEqual(stat("tb").deadLettered, 0)

          // The webhook: every request signed and with its headers; ids are stream:sequence.
          assert.strictEqual(hook.badSignatures, 0)
          assert.isTrue(hook.receiver.requests.every((r) => r.path === "/bramble/in" && r.headers["x-test"] === "forward"))
          const idsByPoint = new Map<string, Set<string>>()
          for (const item of hook.accepted) {
            const r = item.data as unknown as { device: string; ts: number }
            assert.match(item.id, /^READINGS:\d+$/)
            assert.strictEqual(item.id, `${item.stream}:${item.seq}`)
            idsByPoint.set(pointKey(r), (idsByPoint.get(pointKey(r)) ?? new Set()).add(item.id))
          }
          assert.isTrue([...idsByPoint.values()].every((ids) => ids.size === 1), "a reading delivered twice carries the same idempotency key")

          // picky: each poison-1 reading dead-lettered once, with the status and the answer.
          assert.isFalse(picky.accepted.some((i) => i.data["device"] === POISON))
          const letters = (yield* promise(() => readDeadLetters(node.natsUrl))).filter((l) => l.entry.reason === "ForwardRejected")
          assert.strictEqual(letters.length, poison.length, letters.map((l) => `${l.entry.subject}: ${l.entry.message}`).join("\n"))
          for (const reading of poison) {
            const letter = letters.find((l) => Buffer.from(l.entry.payload).equals(Buffer.from(natsPayload(reading))))
            assert.isDefined(letter, `no dead letter for ${pointKey(reading)}`)
            assert.strictEqual(letter!.subject, "deadletter.ForwardRejected")
            assert.match(letter!.entry.subject, new RegExp(`^readings\\.\\d+\\.${POISON}\\.env$`))
            assert.isNumber(letter!.entry.streamSeq)
            assert.include(letter!.entry.message, "picky")
            assert.include(letter!.entry.message, "HTTP 400")
            assert.include(letter!.entry.message, POISON_ANSWER)
          }
          assert.strictEqual(stat("picky").deadLettered, poison.length, JSON.stringify(stat("picky")))

          // No secret in the node's log, its status reply or the dead letters.
          const said = [
            readFileSync(node.logFile, "utf8"),
            JSON.stringify(yield* promise(() => node.status())),
            JSON.stringify(final),
            statusText,
            letters.map((l) => l.entry.message).join("\n")
          ].join("\n")
          for (const secret of [...tokens.keys(), encodeURIComponent("tok/dev1 ü"), HMAC_SECRET, TYPO_TOKEN]) assert.notInclude(said, secret)

          const duplicates = (got: number, want: number) => `${got - want} duplicate(s)`
          console.log(
            `forwarding: ${published.length} readings published over ${CHUNKS} chunks; down was away for ${Math.round((outageEnded - loadStarted) / 1000)} s ` +
              `(${during.failures} failed attempts); ` +
              `tb ${tb.entries.length} entries (${duplicates(tb.entries.length, normal.length)}), ` +
              `hook ${readingsOf(hook.accepted).length} (${duplicates(readingsOf(hook.accepted).length, published.length)}), ` +
              `down ${readingsOf(down.accepted).length} (${duplicates(readingsOf(down.accepted).length, published.length)}), ` +
              `picky ${readingsOf(picky.accepted).length} + ${letters.length} dead letters; ${windowDiff.text}; ` +
              `test time ${Math.round((Date.now() - started) / 1000)} s`
          )
        })
      )
    }))
})
