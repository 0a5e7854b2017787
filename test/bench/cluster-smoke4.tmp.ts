import { resolve } from "node:path"
import { readFileSync } from "node:fs"
import { Effect } from "effect"
import { scopedTempDir, startDevCluster } from "@bramble/deploy"
import { steadyLoad } from "../support/index.js"
const CLI = process.env["BRAMBLE_CLUSTER_CLI"] ?? resolve(import.meta.dirname, "../../cluster/dist/bin/bramble.js")
await Effect.runPromise(Effect.gen(function*() {
  const dir = yield* scopedTempDir({ prefix: "bramble-smoke-", keep: true })
  const c = yield* startDevCluster({ dir, nodes: 3, bramble: [process.execPath, CLI], partitions: 8, dashboards: false, sensorsPerNode: 0, processing: { checkpointInterval: "500ms" }, nodeArgs: (n) => ["--ownership-log", `${dir}/own-${n}.jsonl`] })
  console.log("READY", dir)
  const load = steadyLoad({ url: c.natsUrls[0]!, ratePerSec: 600, devices: 30 })
  yield* Effect.promise(() => load.started)
  yield* Effect.sleep("6 seconds")
  yield* c.node("n2")!.process.signal("SIGKILL")
  console.log("killed")
  yield* Effect.sleep("12 seconds")
  yield* c.node("n2")!.process.start
  console.log("restarted")
  yield* Effect.sleep("15 seconds")
  yield* Effect.promise(() => load.stop())
  for (const n of ["n1", "n3"]) console.log(readFileSync(`${dir}/logs/${n}.log`, "utf8").split("\n").filter((l) => /DBG|handing|rror|WARN/.test(l)).join("\n"))
}).pipe(Effect.scoped))
