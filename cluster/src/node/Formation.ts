/**
 * Formation: how a node waits for its cluster to exist before it uses JetStream.
 *
 * Pis boot together after a power cut, one after another by hand, or with one of them
 * missing; none of that may make a node exit (docs/cluster-formation.md). A node that
 * exited took its nats-server with it, and under systemd the servers then restarted in step
 * and never elected a JetStream leader. So a node starts its server, connects, and then
 * waits here — as long as it takes — until JetStream answers, saying what it waits for in
 * its log (when that changes, and once a minute), in `bramble status` and on `/metrics`
 * (./FormingResponders.ts). Only then does it create streams, buckets and leases.
 *
 * What it waits for is read from its own server's monitoring port (loopback, the same Pi):
 * routes to the other servers and the JetStream meta leader.
 */
import type { JetStreamManager } from "@nats-io/jetstream"
import { Effect, Schedule } from "effect"

/** What a forming node is waiting for; read by the status responder and `/metrics`. */
export interface Formation {
  /** Undefined once the cluster is usable. */
  readonly waitingFor: () => string | undefined
  /** When the node started waiting (ms), for "waiting for 3 min". */
  readonly since: number
  readonly set: (waitingFor: string | undefined) => void
}

export const makeFormation = (now: number): Formation => {
  let waitingFor: string | undefined = "starting"
  return {
    waitingFor: () => waitingFor,
    since: now,
    set: (value) => {
      waitingFor = value
    }
  }
}

export interface AwaitJetStreamOptions {
  readonly jsm: JetStreamManager
  /** This node's nats-server monitoring (`http://127.0.0.1:PORT`); absent with `--nats-url`. */
  readonly monitorUrl: string | undefined
  /** How many servers the cluster file has (this one included). */
  readonly servers: number
  readonly formation: Formation
  /** How long one probe of JetStream may take. */
  readonly probeTimeoutMs?: number
}

interface RouteInfo {
  readonly num_routes?: number
}
interface JszInfo {
  readonly meta_cluster?: { readonly leader?: string; readonly cluster_size?: number }
}

const getJson = <A>(url: string, timeoutMs: number): Promise<A | undefined> =>
  fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    .then((response) => response.json() as Promise<A>)
    .catch(() => undefined)

/** Why JetStream does not answer yet, in words, from this server's monitoring. */
export const describeWait = async (monitorUrl: string | undefined, servers: number, timeoutMs = 2_000): Promise<string> => {
  if (monitorUrl === undefined) return "JetStream to answer (no leader yet, or the server is unreachable)"
  const [routez, jsz] = await Promise.all([
    getJson<RouteInfo>(`${monitorUrl}/routez`, timeoutMs),
    getJson<JszInfo>(`${monitorUrl}/jsz`, timeoutMs)
  ])
  if (routez === undefined && jsz === undefined) return `this node's nats-server to answer (${monitorUrl})`
  const majority = Math.floor(servers / 2) + 1
  const peers = servers - 1
  const routes = Math.min(routez?.num_routes ?? 0, peers)
  const leader = jsz?.meta_cluster?.leader
  const parts: Array<string> = []
  if (peers > 0) parts.push(`routes to ${routes} of the ${peers} other server${peers === 1 ? "" : "s"}`)
  parts.push(
    leader === undefined || leader === ""
      ? `no JetStream leader yet (one needs ${majority} of the ${servers} servers up and connected)`
      : `JetStream leader ${leader}, waiting for it to answer`
  )
  return parts.join("; ")
}

/**
 * Wait until JetStream answers an account-info request. Never fails: a cluster that does not
 * form keeps the node waiting (and saying so), as a Pi whose peers are still booting should.
 */
export const awaitJetStream = Effect.fn("Formation.awaitJetStream")(function*(options: AwaitJetStreamOptions): Effect.fn.Return<void> {
  const { formation } = options
  let lastLogged: { readonly text: string; readonly at: number } | undefined
  const probe = Effect.tryPromise({
    try: async () => {
      // JetStream API requests are dropped while there is no meta leader: bound each try.
      const timeout = options.probeTimeoutMs ?? 3_000
      let timer: NodeJS.Timeout | undefined
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("timeout")), timeout)
      })
      try {
        return await Promise.race([options.jsm.getAccountInfo(), expired])
      } finally {
        clearTimeout(timer)
      }
    },
    catch: (error) => error
  })
  const explain = Effect.gen(function*() {
    const text = yield* Effect.promise(() => describeWait(options.monitorUrl, options.servers))
    formation.set(text)
    const now = Date.now()
    // Say it when it changes, and once a minute while it does not: a Pi waiting for a peer
    // for an hour should not write a line every second.
    if (lastLogged === undefined || lastLogged.text !== text || now - lastLogged.at >= 60_000) {
      lastLogged = { text, at: now }
      yield* Effect.logWarning(`waiting for the cluster to form (${Math.round((now - formation.since) / 1000)} s): ${text}`)
    }
  })
  yield* probe.pipe(
    Effect.tapError(() => explain),
    Effect.retry(Schedule.spaced("1 second")),
    Effect.orDie
  )
  if (lastLogged !== undefined) yield* Effect.logInfo(`the cluster has formed: JetStream answers after ${Math.round((Date.now() - formation.since) / 1000)} s`)
  formation.set(undefined)
})
