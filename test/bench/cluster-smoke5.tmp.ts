import { resolve } from "node:path"
import { readFileSync } from "node:fs"
import { Effect } from "effect"
import { scopedTempDir, startDevCluster } from "@bramble/deploy"
import { steadyLoad } from "../support/index.js"
const CLI = process.env["BRAMBLE_CLI_PATH"]!
await Effect.runPromise(Effect.gen(function*() {
  const dir = yield* scopedTempDir({ prefix: "bramble-smoke-", keep: true })
  const c = yield* startDevCluster({ dir, nodes: 1, bramble: [process.execPath, CLI], partitions: 4, dashboards: false, sensorsPerNode: 0, processing: { checkpointInterval: "500ms" } })
  console.log("READY", dir)
  const load = steadyLoad({ url: c.natsUrls[0]!, ratePerSec: 500, devices: 30 })
  yield* Effect.promise(() => load.started)
  yield* Effect.sleep("5 seconds")
  const t = Date.now()
  yield* c.node("n1")!.process.stop
  console.log("stopped in", Date.now() - t)
  yield* Effect.promise(() => load.stop())
  console.log(readFileSync(`${dir}/logs/n1.log`, "utf8").split("\n").filter((l) => /rror|WARN|handing|released/.test(l)).map((l) => l.slice(0, 600)).join("\n"))
}).pipe(Effect.scoped))
