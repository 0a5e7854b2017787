// One vitest run for the whole monorepo. Workspace packages resolve to their
// TypeScript sources (not dist/), so unit tests need no build; tests that start
// `bramble` as a child process use the built CLI, which `npm test` builds first.
import { readFileSync, readdirSync, existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { defineConfig } from "vitest/config"

// Vitest 5 targets Node 22 and calls Map.groupBy (Node 21+) when it reports a failure.
// Node 20 is what Debian 12 and Raspberry Pi OS users have, so provide it here.
if (typeof (Map as { groupBy?: unknown }).groupBy !== "function") {
  Object.defineProperty(Map, "groupBy", {
    value: <K, V>(items: Iterable<V>, key: (item: V, index: number) => K) => {
      const groups = new Map<K, Array<V>>()
      let index = 0
      for (const item of items) {
        const k = key(item, index++)
        const group = groups.get(k)
        if (group) group.push(item)
        else groups.set(k, [item])
      }
      return groups
    }
  })
}

const root = import.meta.dirname
const workspaceDirs = ["packages", "actors"].flatMap((group) =>
  readdirSync(join(root, group)).map((name) => join(group, name))
).concat(["cluster", "deploy"])

const alias = Object.fromEntries(
  workspaceDirs
    .filter((dir) => existsSync(join(root, dir, "src/index.ts")))
    .map((dir) => {
      const pkg = JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) as { name: string }
      return [pkg.name, resolve(root, dir, "src/index.ts")]
    })
)

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: "unit",
          include: ["{packages,actors}/*/test/**/*.test.ts", "{cluster,deploy}/test/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000
        }
      },
      {
        resolve: { alias },
        test: {
          name: "system",
          include: ["test/{e2e,faults,net}/**/*.test.ts"],
          // System tests start real servers and processes: run files one at a
          // time so a 2-core machine is not oversubscribed.
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 120_000
        }
      }
    ]
  }
})
