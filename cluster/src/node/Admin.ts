/**
 * The admin actor's first duty: answer `bramble.admin.<node>.status` (and the cluster-wide
 * `bramble.admin.status`) over NATS request-reply with the node's counters, as JSON.
 */
import { NatsClient } from "@bramble/nats"
import { Effect } from "effect"
import type { RunningNode } from "./Node.js"

export const adminSubject = (node: string, what: string) => `bramble.admin.${node}.${what}`

export const statusOf = (node: RunningNode) => ({
  node: node.name,
  uptimeMs: Date.now() - node.startedAt,
  nats: node.natsUrl,
  mqtt: node.mqttUrl,
  partitions: node.partitions.map((p) => ({ ...p })),
  sensors: node.sensors.map((s) => ({ ...s })),
  storage: { ...node.storage },
  totals: {
    received: node.partitions.reduce((a, p) => a + p.received, 0),
    accepted: node.partitions.reduce((a, p) => a + p.accepted, 0),
    rejected: node.partitions.reduce((a, p) => a + p.rejected, 0),
    tooLate: node.partitions.reduce((a, p) => a + p.tooLate, 0),
    windowsEmitted: node.partitions.reduce((a, p) => a + p.windowsEmitted, 0),
    pointsWritten: node.storage.pointsWritten
  }
})

export const serveAdmin = (node: RunningNode) =>
  Effect.gen(function*() {
    const { nc } = yield* NatsClient
    const encoder = new TextEncoder()
    const subs = [adminSubject(node.name, "status"), "bramble.admin.status"].map((subject) =>
      nc.subscribe(subject, {
        callback: (error, msg) => {
          if (error) return
          msg.respond(encoder.encode(JSON.stringify(statusOf(node))))
        }
      })
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => subs.forEach((s) => s.unsubscribe())))
  })
