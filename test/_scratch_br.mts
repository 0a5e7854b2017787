import { Effect } from "effect"
import { startNatsServer, scopedTempDir } from "@bramble/deploy"
import { connect } from "@nats-io/transport-node"
import { jetstream, jetstreamManager, AckPolicy } from "@nats-io/jetstream"
import { BatchReader } from "../cluster/src/partition/BatchReader.ts"

await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const dir = yield* scopedTempDir()
  const nats = yield* startNatsServer({ dir })
  yield* Effect.promise(async () => {
    const nc = await connect({ servers: nats.url })
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: "S", subjects: ["s.>"] })
    await jsm.consumers.add("S", { durable_name: "c", ack_policy: AckPolicy.All, ack_wait: 300_000_000_000, max_ack_pending: -1 })
    const js = jetstream(nc)
    const consumer = await js.consumers.get("S", "c")
    const messages = await consumer.consume({ max_messages: Number(process.env.MAXM ?? 20) })
    const reader = new BatchReader(messages)
    let total = 0
    const N = 3000
    // publisher: bursts
    ;(async () => {
      for (let i = 0; i < N; i++) {
        await js.publish("s.x", new Uint8Array([1]))
      }
      console.log("published", N)
    })()
    let slow = true
    while (true) {
      const t = performance.now()
      const batch = await Promise.race([reader.next(1000, 500), new Promise<"hung">((r) => setTimeout(r, 10_000, "hung"))])
      if (batch === "hung") { console.log("HUNG after", total, "messages; getPending", messages.getPending()); break }
      total += batch.length
      const m = messages as any
      if (m.yields.length === 0 && messages.getPending() > 1) console.log("stale getPending", messages.getPending(), "inflight", m.inflight, "pF", m.pendingFiltered, "after", total)
      if (batch.length > 0) batch[batch.length - 1]!.ack()
      if (total >= N) { console.log("all", total); break }
      // a slow pipeline lets chunks accumulate (pull functions queue behind messages)
      if (slow && Math.random() < 0.3) await new Promise((r) => setTimeout(r, 50))
    }
    await messages.close()
    await nc.close()
  })
})))
