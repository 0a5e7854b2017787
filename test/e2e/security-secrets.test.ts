/**
 * The database token never leaves the node: it is read from a file or the environment
 * (cluster file `sink.tokenFile` / `sink.tokenEnv`), sent to the database, and appears in no
 * log line (the node's own JSON logger, everything printed on the console), no admin reply,
 * no dead letter and no file the node writes — while the database is unavailable, while it
 * refuses the token, and after it accepts it. A stand-in InfluxDB v2 records what it was sent,
 * so the test knows the token really was used.
 */
import { createServer, type IncomingMessage, type Server } from "node:http"
import { randomBytes } from "node:crypto"
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { nodeLoggerLayer, type RunningNode, startNode } from "@bramble/cluster"
import { parseClusterConfig } from "@bramble/config"
import { freePorts, scopedTempDir } from "@bramble/deploy"
import { Admin, Subjects } from "@bramble/protocol"
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Result } from "effect"
import { vi } from "vitest"
import { waitFor } from "../support/Db.js"
import { streamMessages } from "./security-harness.js"

type Mode = "unavailable" | "unauthorized" | "ok"

/** A stand-in for InfluxDB 2's write API: answers as `mode` says, and keeps every Authorization header. */
const fakeInflux = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ server: Server; url: string; state: { mode: Mode; authorizations: Array<string>; written: number; echo: boolean } }>((resolve) => {
      const state = { mode: "unavailable" as Mode, authorizations: [] as Array<string>, written: 0, echo: false }
      const server = createServer((req: IncomingMessage, res) => {
        let body = ""
        req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")))
        req.on("end", () => {
          if (req.url?.startsWith("/ping")) {
            res.writeHead(204).end()
            return
          }
          state.authorizations.push(String(req.headers["authorization"] ?? ""))
          if (state.mode === "unavailable") {
            res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ code: "unavailable", message: "service unavailable" }))
          } else if (state.mode === "unauthorized") {
            // A server (or a proxy in front of it) that quotes the credential back is not unheard of.
            const message = state.echo ? `token ${String(req.headers["authorization"] ?? "")} is not valid` : "unauthorized access"
            res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ code: "unauthorized", message }))
          } else {
            // Count the raw readings in the body (gzip is off on loopback): one line each.
            state.written += body.split("\n").filter((line) => line.startsWith("reading,")).length
            res.writeHead(204).end()
          }
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as { port: number }
        resolve({ server, url: `http://127.0.0.1:${address.port}`, state })
      })
    })
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

/** Every file under `dir`, as text. */
const allFiles = (dir: string): Array<{ path: string; text: string }> =>
  readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => ({ path, text: readFileSync(path).toString("latin1") }))

const runWith = (source: "env" | "file", echo: boolean) =>
  Effect.scoped(Effect.gen(function*() {
    const token = `tok-${randomBytes(18).toString("hex")}`
    const dir = yield* scopedTempDir({ prefix: "bramble-secrets-" })
    const influx = yield* fakeInflux
    influx.state.echo = echo
    const ports = yield* freePorts(4)
    const variable = `BRAMBLE_TEST_TOKEN_${randomBytes(4).toString("hex").toUpperCase()}`
    const tokenFile = join(dir, "influx-token")
    if (source === "env") {
      process.env[variable] = token
      yield* Effect.addFinalizer(() => Effect.sync(() => delete process.env[variable]))
    } else {
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 })
    }
    const file = [
      `cluster: { name: secrets, partitions: 2, dataDir: ${JSON.stringify(join(dir, "data"))} }`,
      `nodes: [{ name: n1, host: 127.0.0.1, httpPort: 0, nats: { port: ${ports[0]}, mqttPort: ${ports[1]}, httpPort: ${ports[2]}, clusterPort: ${ports[3]} } }]`,
      "windows: [{ name: 1s, size: 1s }]",
      "processing: { idleAdvance: 1s, checkpointInterval: 300ms }",
      `sink: { kind: influx-v2, url: ${JSON.stringify(influx.url)}, ${source === "env" ? `tokenEnv: ${variable}` : `tokenFile: ${JSON.stringify(tokenFile)}`}, batchSize: 10 }`
    ].join("\n")
    const config = Result.getOrThrow(parseClusterConfig(file))

    // Everything the node prints, through the logger it uses in production (JSON lines, debug and up).
    const printed: Array<string> = []
    for (const method of ["log", "info", "warn", "error", "debug", "trace"] as const) {
      const spy = vi.spyOn(console, method).mockImplementation((...args: Array<unknown>) => {
        printed.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a, Object.getOwnPropertyNames(a ?? {})) ?? String(a))).join(" "))
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => spy.mockRestore()))
    }
    const node: RunningNode = yield* startNode({ config, node: "n1" }).pipe(
      Effect.provide(nodeLoggerLayer({ BRAMBLE_LOG_FORMAT: "json", BRAMBLE_LOG_LEVEL: "debug" }, false))
    )

    const nc = yield* Effect.acquireRelease(Effect.promise(() => connect({ servers: node.natsUrl })), (c) => Effect.promise(() => c.close()))
    const js = jetstream(nc)
    let ts = Date.now() - 120_000
    const publish = (count: number) =>
      Effect.promise(async () => {
        for (let i = 0; i < count; i++) await js.publish(Subjects.ingestSubject("dev", "env"), JSON.stringify({ ts: ts += 100, values: { t: i } }))
      })
    const attempts = (n: number, label: string) =>
      Effect.promise(() => waitFor(() => influx.state.authorizations.length, { until: (seen) => seen >= n, timeoutMs: 60_000, label }))

    // The database is down, then refuses the token, then takes it.
    yield* publish(20)
    yield* attempts(2, "two write attempts while the database is unavailable")
    influx.state.mode = "unauthorized"
    const before = influx.state.authorizations.length
    yield* attempts(before + 1, "a write attempt the database refuses")
    // A refused token holds the data (retried, never dead-lettered: that would drain it).
    yield* attempts(before + 2, "the refused write retried")
    assert.deepStrictEqual(yield* Effect.promise(() => streamMessages({ nc, errors: [], close: async () => undefined }, Subjects.Streams.deadLetter)), [])
    influx.state.mode = "ok"
    yield* publish(20)
    yield* Effect.promise(() => waitFor(() => influx.state.written, { until: (n) => n >= 40, timeoutMs: 60_000, label: "every reading written once the token is accepted" }))
    assert.strictEqual(influx.state.written, 40)

    // The token was used: read from the environment or the file, sent as `Token …`.
    assert.isTrue(influx.state.authorizations.every((h) => h === `Token ${token}`), influx.state.authorizations.slice(0, 3).join(", "))

    const status = yield* Effect.promise(async () => (await nc.request(Admin.adminNodeSubject("n1", Admin.AdminCalls.status.name), "{}", { timeout: 10_000 })).string())
    const deadLetters = yield* Effect.promise(() => streamMessages({ nc, errors: [], close: async () => undefined }, Subjects.Streams.deadLetter))
    const places: Array<[string, string]> = [
      ["the node's log output", printed.join("\n")],
      ["the admin status reply", status],
      ["the node's storage stats", JSON.stringify(node.storage)],
      ["the dead letters", deadLetters.map((m) => m.text).join("\n")],
      ...allFiles(join(dir, "data")).map((f): [string, string] => [f.path, f.text])
    ]
    // The logs did record the failures (so the check below looked at something).
    assert.match(printed.join("\n"), /503|unavailable/i)
    assert.match(printed.join("\n") + deadLetters.map((m) => m.text).join("\n"), /401|unauthori[sz]ed|is not valid/i)
    for (const [where, text] of places) {
      assert.notInclude(text, token, `the token appears in ${where}`)
      assert.notInclude(text, token.slice(4, 20), `part of the token appears in ${where}`)
    }
  }))

describe("security - the database token is never logged", () => {
  it.live("token from the environment: used, and absent from logs, replies, dead letters and files", () => runWith("env", false))
  it.live("token from a file: used, and absent from logs, replies, dead letters and files", () => runWith("file", false))
  // A server (or proxy) that quotes the token in its refusal: the sink cuts it out of
  // everything it passes on, so it reaches neither the logs nor the status.
  it.live("a database that quotes the token back in its refusal: the token is still absent everywhere", () => runWith("file", true))
})
