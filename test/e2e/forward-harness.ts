/**
 * What the forwarding system tests need: a `bramble node` process whose cluster file has a
 * `forward:` section (and the environment its secrets come from), and real HTTP receivers
 * on loopback that the test controls — one speaking ThingsBoard's device telemetry API, and
 * webhook receivers that check the HMAC signature, answer whatever the test says (200, 503,
 * 400) or are not listening at all.
 */
import { freePorts, makeManagedProcess, type ProcessError } from "@bramble/deploy"
import { Effect, type Scope } from "effect"
import { createHmac, timingSafeEqual } from "node:crypto"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { join } from "node:path"
import { BRAMBLE_CLI, type BrambleNode, clusterFile, requestAdmin, requestNodeStatus } from "../support/BrambleNode.js"
import { PROCESSING, WINDOWS } from "../support/SystemTest.js"

/** A forwarder's counters in the admin status reply (protocol Admin.ForwarderStatus). */
export interface ForwarderStatus {
  readonly name: string
  readonly kind: string
  readonly source: string
  readonly sent: number
  readonly batches: number
  readonly failures: number
  readonly deadLettered: number
  readonly skipped: number
  readonly heldBack?: number
  readonly lag?: number
  readonly unavailableSince?: number
  readonly lastError?: string
}

/** The forwarders of `node`, as its admin actor reports them. */
export const forwarderStatus = async (node: Pick<BrambleNode, "natsUrl" | "name">): Promise<ReadonlyArray<ForwarderStatus>> => {
  const status = await requestAdmin(node.natsUrl, node.name, "status", 5_000) as { forwarders?: ReadonlyArray<ForwarderStatus> }
  if (status.forwarders === undefined) throw new Error(`no forwarders in the status reply: ${JSON.stringify(status).slice(0, 300)}`)
  return status.forwarders
}

/**
 * Starts `bramble node` (the built CLI, as an operator runs it) on a one-node cluster file
 * with the system tests' windows and processing, writing to `sinkUrl` and forwarding to
 * `forward`; `env` is added to its environment (secrets named by `tokenEnv`, `secretEnv`).
 */
export const startForwardingNode = (options: {
  readonly dir: string
  readonly sinkUrl: string
  readonly forward: ReadonlyArray<Record<string, unknown>>
  readonly env: Readonly<Record<string, string>>
  /** Alarm rules, as the cluster file writes them. */
  readonly rules?: ReadonlyArray<Record<string, unknown>>
}): Effect.Effect<BrambleNode, ProcessError, Scope.Scope> =>
  Effect.gen(function*() {
    if (!existsSync(BRAMBLE_CLI)) {
      return yield* Effect.die(new Error(`${BRAMBLE_CLI} is missing: run \`npm run build\` first (\`npm test\` does)`))
    }
    const name = "n1"
    const partitions = 4
    const ports = yield* freePorts(4)
    const configFile = join(options.dir, "cluster.yaml")
    const logFile = join(options.dir, "node.log")
    mkdirSync(options.dir, { recursive: true })
    const file = JSON.parse(clusterFile({
      dir: options.dir,
      sink: { kind: "influx-v2", url: options.sinkUrl },
      windows: WINDOWS,
      processing: PROCESSING,
      partitions,
      ports,
      dataDir: join(options.dir, "data")
    })) as Record<string, unknown>
    writeFileSync(configFile, JSON.stringify({ ...file, forward: options.forward, ...(options.rules === undefined ? {} : { rules: options.rules }) }, null, 2))
    const natsUrl = `nats://127.0.0.1:${ports[0]}`
    const managed = yield* makeManagedProcess({
      name: `bramble node ${name}`,
      command: process.execPath,
      args: [BRAMBLE_CLI, "node", "--config", configFile, "--node", name],
      cwd: options.dir,
      env: options.env,
      logFile,
      tailLines: 80,
      readiness: { probe: Effect.tryPromise(() => requestNodeStatus(natsUrl, name, 2_000)), timeout: "120 seconds" },
      stopGracePeriod: "20 seconds"
    })
    return {
      name,
      partitions,
      configFile,
      logFile,
      natsUrl,
      mqttUrl: `mqtt://127.0.0.1:${ports[1]}`,
      process: managed,
      status: (timeoutMs = 5_000) => requestNodeStatus(natsUrl, name, timeoutMs),
      restart: managed.start,
      logTail: Effect.map(managed.tail, (lines) => lines.join("\n"))
    }
  })

// ---------------------------------------------------------------------------------------
// Receivers

/** A request as a receiver got it. */
export interface ReceivedRequest {
  readonly path: string
  readonly headers: Readonly<Record<string, string | Array<string> | undefined>>
  readonly body: Buffer
}

/** What a receiver answers. */
export interface Answer {
  readonly status: number
  readonly body?: string
}

/** An HTTP server on loopback whose answers the test decides; it can be stopped and started
 * again on the same port (a receiver that goes away and comes back). */
export interface Receiver {
  readonly url: string
  readonly port: number
  readonly requests: Array<ReceivedRequest>
  /** Listen (again) on `port`. */
  readonly listen: Effect.Effect<void>
  /** Stop listening and drop open connections: the port refuses connections. */
  readonly stop: Effect.Effect<void>
}

const closeServer = (server: Server) =>
  Effect.promise(() =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  )

/**
 * A receiver on `port` (a free one by default) answering each request with `answer`. Not
 * listening until `listen` (so a test can start with the port closed); stopped with the scope.
 */
export const makeReceiver = (answer: (request: ReceivedRequest) => Answer, port?: number): Effect.Effect<Receiver, ProcessError, Scope.Scope> =>
  Effect.gen(function*() {
    const chosen = port ?? (yield* freePorts(1))[0]!
    const requests: Array<ReceivedRequest> = []
    let server: Server | undefined
    const listen = Effect.suspend(() => {
      if (server !== undefined) return Effect.void
      const s = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          const request = { path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks) }
          requests.push(request)
          const a = answer(request)
          res.writeHead(a.status, { "content-type": "application/json" }).end(a.body ?? "")
        })
      })
      server = s
      return Effect.promise(() => new Promise<void>((resolve) => s.listen(chosen, "127.0.0.1", () => resolve())))
    })
    const stop = Effect.suspend(() => {
      const s = server
      server = undefined
      return s === undefined ? Effect.void : closeServer(s)
    })
    yield* Effect.addFinalizer(() => stop)
    return { url: `http://127.0.0.1:${chosen}`, port: chosen, requests, listen, stop }
  })

/** One telemetry entry ThingsBoard got, with the device its token names. */
export interface TelemetryEntry {
  readonly device: string
  readonly ts: number
  readonly values: Readonly<Record<string, number | string>>
}

/**
 * A ThingsBoard stand-in speaking its HTTP device API: `POST /api/v1/<token>/telemetry` with
 * `{ts, values}` or an array of them, 200 for a known token, 401 for an unknown one, 400 for
 * a body ThingsBoard would not parse.
 */
export const makeThingsBoard = (tokens: ReadonlyMap<string, string>) =>
  Effect.gen(function*() {
    const entries: Array<TelemetryEntry> = []
    const problems: Array<string> = []
    const receiver = yield* makeReceiver((request) => {
      const match = /^\/api\/v1\/([^/]+)\/telemetry$/.exec(request.path)
      if (match === null) return { status: 404, body: JSON.stringify({ message: `no route ${request.path}` }) }
      const device = tokens.get(decodeURIComponent(match[1]!))
      if (device === undefined) return { status: 401, body: JSON.stringify({ status: 401, message: "Invalid device access token" }) }
      let parsed: unknown
      try {
        parsed = JSON.parse(request.body.toString("utf8"))
      } catch {
        problems.push(`not JSON: ${request.body.toString("utf8").slice(0, 100)}`)
        return { status: 400, body: JSON.stringify({ message: "Invalid JSON" }) }
      }
      const list = Array.isArray(parsed) ? parsed : [parsed]
      for (const entry of list as Array<{ ts?: unknown; values?: unknown }>) {
        if (typeof entry.ts !== "number" || typeof entry.values !== "object" || entry.values === null) {
          problems.push(`not {ts, values}: ${JSON.stringify(entry).slice(0, 100)}`)
          return { status: 400, body: JSON.stringify({ message: "Invalid telemetry" }) }
        }
      }
      for (const entry of list as Array<{ ts: number; values: Record<string, number | string> }>) entries.push({ device, ts: entry.ts, values: entry.values })
      return { status: 200 }
    })
    yield* receiver.listen
    return { receiver, entries, problems }
  })

/** One item a webhook receiver got (the webhook body's `items[]`). */
export interface WebhookItem {
  readonly id: string
  readonly stream: string
  readonly seq: number
  readonly subject: string
  readonly kind: string
  readonly data: Record<string, unknown>
}

/** Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` with `secret`. */
export const validSignature = (body: Buffer, secret: string, signature: unknown): boolean => {
  if (typeof signature !== "string" || !signature.startsWith("sha256=")) return false
  const expected = createHmac("sha256", secret).update(body).digest()
  const got = Buffer.from(signature.slice("sha256=".length), "hex")
  return got.length === expected.length && timingSafeEqual(got, expected)
}

/**
 * A webhook receiver: checks the signature when it has a `secret` (401 when wrong), asks
 * `decide` for the answer to each batch, and keeps the items of the batches it accepted.
 */
export const makeWebhookReceiver = (options: {
  readonly secret?: string
  readonly decide?: (items: ReadonlyArray<WebhookItem>) => Answer
  readonly port?: number
}) =>
  Effect.gen(function*() {
    const accepted: Array<WebhookItem> = []
    let badSignatures = 0
    const receiver = yield* makeReceiver((request) => {
      if (options.secret !== undefined && !validSignature(request.body, options.secret, request.headers["x-bramble-signature"])) {
        badSignatures += 1
        return { status: 401, body: JSON.stringify({ error: "bad signature" }) }
      }
      const items = (JSON.parse(request.body.toString("utf8")) as { items: Array<WebhookItem> }).items
      const answer = options.decide?.(items) ?? { status: 200 }
      if (answer.status >= 200 && answer.status < 300) accepted.push(...items)
      return answer
    }, options.port)
    return {
      receiver,
      accepted,
      get badSignatures() {
        return badSignatures
      }
    }
  })
