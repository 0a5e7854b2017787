/**
 * `npm run release`: the tarball a Pi installs Bramble from, instead of building it there.
 * It holds the compiled JavaScript of every runtime package, their package.json files, the
 * lock and an install script; no TypeScript sources, no tests, no turbo (which ships no
 * 32-bit ARM binary) and no compiler. On the Pi, `install.sh` runs `npm ci --omit=dev`:
 * exactly the locked runtime dependencies, with the native addons compiled there.
 *
 *   node cluster/dist/bin/release.js [--out DIR]     (after `npm run build`; default DIR: dist/)
 */
import { execFileSync } from "node:child_process"
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

/** The repository: this file is cluster/dist/bin/release.js. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..")

/** Workspaces that only hold tests and their tools: not part of a release. */
const DEV_ONLY_WORKSPACES = new Set(["test"])

interface RootPackage {
  readonly workspaces: ReadonlyArray<string>
  readonly [key: string]: unknown
}

const readJson = <A>(path: string): A => JSON.parse(readFileSync(path, "utf8")) as A

/** `packages/*` → every folder under packages/ with a package.json; `cluster` → cluster. */
const expandWorkspaces = (patterns: ReadonlyArray<string>): Array<string> =>
  patterns.flatMap((pattern) =>
    pattern.endsWith("/*")
      ? readdirSync(join(ROOT, pattern.slice(0, -2)))
        .map((name) => `${pattern.slice(0, -2)}/${name}`)
        .filter((dir) => existsSync(join(ROOT, dir, "package.json")))
        .sort()
      : [pattern]
  )

const INSTALL_SH = `#!/usr/bin/env bash
# Installs this Bramble release in the folder it was unpacked to: the runtime dependencies
# only (npm ci --omit=dev: exactly the versions in package-lock.json), with the native
# addons (node-dht-sensor, epoll, msgpackr-extract) compiled for this machine. Needs
# Node.js 20 or newer, and build-essential and python3 for the addons. Run it as the user
# that owns the folder; it changes nothing outside it. deploy/README.md: install, upgrade, rollback.
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "install.sh: Node.js 20 or newer is required" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "install.sh: Node.js $(node --version) is too old; Bramble needs 20 or newer" >&2; exit 1; }
# node-gyp downloads Node's headers unless told where they are: use the installed ones
# (NodeSource and Debian put them in /usr/include/node) when they are this node's.
headers=/usr/include/node/node_version.h
if [ -z "\${npm_config_nodedir:-}" ] && [ "$(npm config get nodedir)" = "undefined" ] && [ -f "$headers" ] \\
  && [ "$(sed -n 's/^#define NODE_\\(MAJOR\\|MINOR\\|PATCH\\)_VERSION \\([0-9]*\\).*/\\2/p' "$headers" | paste -sd.)" = "$(node -p process.versions.node)" ]; then
  export npm_config_nodedir=/usr
fi
npm ci --omit=dev --no-audit --no-fund --loglevel=error
echo "installed: $(node_modules/.bin/bramble --version) in $(pwd)"
`

const main = () => {
  const args = process.argv.slice(2)
  const outIndex = args.indexOf("--out")
  const out = resolve(outIndex >= 0 && args[outIndex + 1] !== undefined ? args[outIndex + 1]! : join(ROOT, "dist"))
  const version = readJson<{ version: string }>(join(ROOT, "cluster/package.json")).version
  const name = `bramble-${version}`
  const root = readJson<RootPackage>(join(ROOT, "package.json"))
  const workspaces = expandWorkspaces(root.workspaces).filter((dir) => !DEV_ONLY_WORKSPACES.has(dir))

  const missing = workspaces.filter((dir) => !existsSync(join(ROOT, dir, "dist")))
  if (missing.length > 0) {
    throw new Error(`not built: ${missing.join(", ")} have no dist/; run \`npm run build\` first (\`npm run release\` does)`)
  }

  const staging = mkdtempSync(join(tmpdir(), "bramble-release-"))
  try {
    const top = join(staging, name)
    mkdirSync(top)
    for (const dir of workspaces) {
      for (const part of ["package.json", "dist", "bin"]) {
        const from = join(ROOT, dir, part)
        if (!existsSync(from)) continue
        // Compiled output only: no source maps of files that are not shipped, no build info.
        cpSync(from, join(top, dir, part), {
          recursive: true,
          filter: (path) => !path.endsWith(".tsbuildinfo") && (statSync(path).isDirectory() || !path.endsWith(".map"))
        })
      }
    }
    // The lock stays as it is (npm ci installs exactly it); the workspaces left out are only
    // removed from the list, so npm installs nothing of theirs.
    writeFileSync(
      join(top, "package.json"),
      JSON.stringify({ ...root, workspaces: root.workspaces.filter((w) => !DEV_ONLY_WORKSPACES.has(w)) }, null, 2) + "\n"
    )
    cpSync(join(ROOT, "package-lock.json"), join(top, "package-lock.json"))
    cpSync(join(ROOT, "README.md"), join(top, "README.md"))
    // The README is a front door: what it links to (docs/*.md) ships with it.
    cpSync(join(ROOT, "docs"), join(top, "docs"), { recursive: true })
    mkdirSync(join(top, "deploy"), { recursive: true })
    cpSync(join(ROOT, "deploy/README.md"), join(top, "deploy/README.md"))
    writeFileSync(join(top, "install.sh"), INSTALL_SH)
    chmodSync(join(top, "install.sh"), 0o755)
    let commit = "unknown"
    try {
      commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim()
    } catch {
      // Not a git checkout: the version alone names the release.
    }
    writeFileSync(join(top, "RELEASE"), `bramble ${version}\ncommit ${commit}\nbuilt ${new Date().toISOString()}\n`)

    mkdirSync(out, { recursive: true })
    const tarball = join(out, `${name}.tar.gz`)
    execFileSync("tar", ["-czf", tarball, "-C", staging, name])
    const size = statSync(tarball).size
    process.stdout.write(
      `${tarball} (${(size / 1024).toFixed(0)} KiB): ${workspaces.length} packages, compiled.\n` +
        `On the Pi: tar -xzf ${name}.tar.gz && ./${name}/install.sh   (deploy/README.md: install, upgrade, rollback)\n`
    )
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}

main()
