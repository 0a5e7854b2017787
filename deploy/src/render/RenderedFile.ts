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
