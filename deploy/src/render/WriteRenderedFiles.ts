/**
 * Writing a rendered deployment to a directory (`bramble deploy render --out DIR`). A node's
 * `nats-server.conf` and `bramble.env` are written 0600 in a 0700 directory — the first holds
 * password hashes and key paths, the second gets the database secret — each to a new file
 * renamed into place, so not even a re-render leaves them readable by others for a moment.
 * Everything else (READMEs, units, the compose file, Grafana provisioning, which the Grafana
 * container must be able to read) is 0644 in directories the umask decides.
 */
import { mkdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { privateDirSync, writePrivateFileSync } from "../security/internal/secretFile.js"
import { type RenderedFile, renderedFileMode } from "./RenderedFile.js"

/** Writes `files` under `dir` (created) with their modes. Throws the first file-system error. */
export const writeRenderedFiles = (dir: string, files: ReadonlyArray<RenderedFile>): void => {
  mkdirSync(dir, { recursive: true })
  for (const file of files) {
    const path = join(dir, file.path)
    const mode = renderedFileMode(file.path)
    if (mode === 0o600) privateDirSync(dirname(path))
    else mkdirSync(dirname(path), { recursive: true })
    writePrivateFileSync(path, file.content, mode)
  }
}
