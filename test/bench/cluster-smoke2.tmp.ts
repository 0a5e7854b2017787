import { resolve } from "node:path"
import { readFileSync } from "node:fs"
import { Effect } from "effect"
import { scopedTempDir, startDevCluster } from "@bramble/deploy"

const CLI = resolve(import.meta.dirname, "../../cluster/dist/bin/bramble.js")
const program = Effect.gen(function*() {
  const dir = yield* scopedTempDir({ prefix: "bramble-smoke-", keep: true })
  const cluster = yield* startDevCluster({ dir, nodes: 3, bramble: [process.execPath, CLI], partitions: 8, dashboards: false, nodeArgs: (n) => ["--ownership-log", `${dir}/own-${n}.jsonl`] })
  yield* Effect.sleep("5 seconds")
  const t = Date.now()
  yield* cluster.node("n2")!.process.stop
  console.log("n2 stopped in", Date.now() - t)
  console.log(readFileSync(`${dir}/logs/n2.log`, "utf8").split("\n").slice(-12).join("\n"))
  console.log(readFileSync(`${dir}/own-n2.jsonl`, "utf8").split("\n").filter((l) => !l.includes("renewed")).join("\n"))
  yield* Effect.sleep("3 seconds")
}).pipe(Effect.scoped)
await Effect.runPromise(program)
