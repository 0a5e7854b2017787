import { resolve } from "node:path"
import { Effect } from "effect"
import { scopedTempDir, startDevCluster } from "@bramble/deploy"
import { connect } from "@nats-io/transport-node"

const CLI = resolve(import.meta.dirname, "../../cluster/dist/bin/bramble.js")
const program = Effect.gen(function*() {
  const dir = yield* scopedTempDir({ prefix: "bramble-smoke-", keep: true })
  console.log("dir", dir)
  const t0 = Date.now()
  const cluster = yield* startDevCluster({ dir, nodes: 3, bramble: [process.execPath, CLI], partitions: 8, dashboards: false, nodeArgs: (n) => ["--ownership-log", `${dir}/own-${n}.jsonl`] })
  console.log("up in", Date.now() - t0, "ms", cluster.natsUrls)
  const nc = yield* Effect.promise(() => connect({ servers: [...cluster.natsUrls] }))
  for (let i = 0; i < 6; i++) {
    yield* Effect.sleep("3 seconds")
    const r = yield* Effect.promise(() => nc.request("bramble.cluster.partitions", undefined, { timeout: 5000 }))
    const map = r.json<any>()
    console.log(Date.now() - t0, map.answeredBy, map.partitions.map((p: any) => `${p.partition}:${p.owner}/${p.target}/${p.pending}`).join(" "))
  }
  const m = yield* Effect.promise(() => nc.request("bramble.cluster.members", undefined, { timeout: 5000 }))
  console.log(JSON.stringify(m.json<any>().members.map((x: any) => [x.node, x.state, x.heartbeatAgeMs, x.partitions])))
  yield* Effect.promise(() => nc.close())
  const t1 = Date.now()
  return t1
}).pipe(Effect.scoped)
const t1 = await Effect.runPromise(program)
console.log("down in", Date.now() - t1, "ms")
