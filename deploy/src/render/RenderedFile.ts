/**
 * A file a renderer produces: a path relative to the output directory and its text. Renderers
 * return lists of these instead of writing, so output can be compared, tested and written
 * wherever the caller wants (a directory, an archive, stdout).
 */

/** One rendered file. `path` is relative and uses `/`. */
export interface RenderedFile {
  readonly path: string
  readonly content: string
}

/** A stable order for rendered files: by path, byte-wise (locale-independent). */
export const sortRenderedFiles = (files: ReadonlyArray<RenderedFile>): ReadonlyArray<RenderedFile> =>
  [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))

// A node's nats-server.conf (password hashes, TLS key paths) and its env file (the database
// secret is filled in there): what `renderedFileMode` keeps to the owner.
const PRIVATE_FILES = /(^|\/)(nats-server\.conf|bramble\.env)$/

/** The mode a rendered file is written with: 0600 for the private ones, 0644 for the rest. */
export const renderedFileMode = (path: string): number => (PRIVATE_FILES.test(path) ? 0o600 : 0o644)

