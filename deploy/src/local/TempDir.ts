/**
 * Scratch directories for local servers (tests, demo, benchmarks). A launcher never deletes
 * a data directory on its own; a directory made here is removed when its scope closes,
 * because asking for a temporary directory is asking for that.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope } from "effect"

/** Creates a fresh directory under the OS temp dir; removed on scope close unless `keep`. */
export const scopedTempDir = (
  options: { readonly prefix?: string; readonly keep?: boolean } = {}
): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), options.prefix ?? "bramble-"))),
    (dir) => (options.keep === true ? Effect.void : Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  )
