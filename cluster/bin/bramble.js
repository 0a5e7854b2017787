#!/usr/bin/env node
// The `bramble` command as npm links it (`node_modules/.bin/bramble`). This file is in git,
// not built: npm links a package's bins during `npm install`, before the TypeScript build,
// and skips a bin whose file does not exist yet — which left a fresh clone without
// `npx bramble` until a second install. The real entry point is the compiled one.
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const entry = new URL("../dist/bin/bramble.js", import.meta.url)
if (!existsSync(entry)) {
  const root = fileURLToPath(new URL("../..", import.meta.url))
  process.stderr.write(
    `bramble is not built yet (${fileURLToPath(entry)} is missing).\n` +
      `Build it with:  cd ${root} && bash deploy/setup.sh   (or: npm run build)\n`
  )
  process.exit(1)
}
await import(entry.href)
