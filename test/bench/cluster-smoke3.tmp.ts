import { resolve } from "node:path"
import { Effect } from "effect"
import { scopedTempDir, startDevCluster } from "@bramble/deploy"
const CLI = resolve(import.meta.dirname, "../../cluster/dist/bin/bramble.js")
await Effect.runPromise(Effect.gen(function*() {
  const dir = yield* scopedTempDir({ prefix: "bramble-smoke-", keep: true })
  yield* startDevCluster({ dir, nodes: 3, bramble: [process.execPath, CLI], partitions: 8, dashboards: false, nodeArgs: (n) => ["--ownership-log", `${dir}/own-${n}.jsonl`] })
  console.log("READY", dir)
  yield* Effect.sleep("40 seconds")
}).pipe(Effect.scoped))
