/**
 * Golden files: rendered output checked in and compared byte for byte, so any change to what
 * a user installs shows up in review. `UPDATE_GOLDEN=1 npx vitest run deploy/test` rewrites
 * them (and removes files nothing renders any more).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { dirname, join, relative, sep } from "node:path"
import { assert } from "@effect/vitest"
import type { RenderedFile } from "../../src/index.js"

export const UPDATE_GOLDEN = process.env.UPDATE_GOLDEN === "1"

/** Every file under `dir`, relative, with `/` separators, sorted. */
export const listFiles = (dir: string): Array<string> => {
  const out: Array<string> = []
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name)
      if (statSync(path).isDirectory()) walk(path)
      else out.push(relative(dir, path).split(sep).join("/"))
    }
  }
  walk(dir)
  return out.sort()
}

/**
 * Asserts that `dir` holds exactly `files` (paths and bytes); files for which `keep` is true
 * are ignored. With UPDATE_GOLDEN=1, writes `files` into `dir` first.
 */
export const assertGolden = (dir: string, files: ReadonlyArray<RenderedFile>, keep: (path: string) => boolean = () => false) => {
  if (UPDATE_GOLDEN) {
    mkdirSync(dir, { recursive: true })
    const rendered = new Set(files.map((f) => f.path))
    for (const path of listFiles(dir)) if (!rendered.has(path) && !keep(path)) rmSync(join(dir, path))
    for (const file of files) {
      mkdirSync(dirname(join(dir, file.path)), { recursive: true })
      writeFileSync(join(dir, file.path), file.content)
    }
  }
  const onDisk = listFiles(dir).filter((path) => !keep(path))
  assert.deepStrictEqual(onDisk, files.map((f) => f.path).sort(), `files under ${dir} (UPDATE_GOLDEN=1 rewrites them)`)
  for (const file of files) {
    assert.strictEqual(
      readFileSync(join(dir, file.path), "utf8"),
      file.content,
      `${file.path} differs from ${dir} (UPDATE_GOLDEN=1 rewrites it)`
    )
  }
}
