/**
 * Where a child's stdout/stderr goes, and how we read its last lines back.
 *
 * With a log file the child writes to the file descriptor directly: no pipe sits between
 * the server and its log, so a busy or SIGSTOPped parent can never block a server on a full
 * pipe, and the log survives the parent. The tail is then read from the end of the file
 * when someone asks (it is bounded by `TAIL_BYTES`, not kept in memory). Without a log file
 * the output is piped into a bounded in-memory ring of lines.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs"
import type { Readable } from "node:stream"

/** How much of the end of a log file is read to find the tail. */
const TAIL_BYTES = 64 * 1024

/** The last `maxLines` lines of a file; empty when it cannot be read. */
export const readFileTail = (path: string, maxLines: number): ReadonlyArray<string> => {
  let fd: number | undefined
  try {
    fd = openSync(path, "r")
    const size = fstatSync(fd).size
    const start = Math.max(0, size - TAIL_BYTES)
    const buffer = Buffer.alloc(size - start)
    const read = readSync(fd, buffer, 0, buffer.length, start)
    const lines = buffer.subarray(0, read).toString("utf8").split("\n")
    // A read that starts mid-file starts mid-line: drop the fragment.
    if (start > 0) lines.shift()
    if (lines.at(-1) === "") lines.pop()
    return lines.slice(-maxLines)
  } catch {
    return []
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** A bounded ring of the last lines read from one or more streams. */
export class LineRing {
  private readonly lines: Array<string> = []
  private partial = ""

  constructor(private readonly maxLines: number) {}

  /** Feeds the stream's data into the ring until it ends. */
  attach(stream: Readable | null): void {
    stream?.setEncoding("utf8")
    stream?.on("data", (chunk: string) => this.push(chunk))
  }

  push(chunk: string): void {
    const parts = (this.partial + chunk).split("\n")
    this.partial = parts.pop() ?? ""
    for (const line of parts) this.add(line)
  }

  /** Records a line of our own (e.g. a start marker). */
  add(line: string): void {
    this.lines.push(line)
    if (this.lines.length > this.maxLines) this.lines.splice(0, this.lines.length - this.maxLines)
  }

  snapshot(): ReadonlyArray<string> {
    const all = this.partial === "" ? this.lines : [...this.lines, this.partial]
    return all.slice(-this.maxLines)
  }
}
