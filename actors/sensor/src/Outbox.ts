/**
 * A sensor's outbox: the readings it has taken and JetStream has not yet acknowledged, kept
 * on disk so that neither a NATS outage nor a restart of the process (a crash, kill -9, a
 * power cut after the last fsync) loses one.
 *
 * On disk, in its own directory (`<dataDir>/<node>/outbox/<device>.<sensor>/`):
 * - `journal-<gen>.log`: append-only, length-prefixed, checksummed msgpack records
 *   (internal/journal.ts), fdatasync'd before `append` returns. A batch of readings is one
 *   write and one fdatasync. Each record carries its sequence number, so the numbering
 *   continues across restarts.
 * - `state.json`: how far delivery has got (`offset` into the journal, `seq`) and how many
 *   readings the overflow policy has dropped. Written atomically (temp file, fdatasync,
 *   rename) after JetStream has acknowledged a batch. If a crash loses the latest state, the
 *   readings after the older one are published again and JetStream drops the copies by
 *   their `Nats-Msg-Id` (within the stream's duplicate window).
 * - `lock`: the pid of the process that has it open.
 *
 * When the delivered prefix of the journal passes `compactBytes`, the undelivered rest is
 * copied to `journal-<gen+1>.log`, the state switches to it, and the old file is deleted;
 * a crash at any point leaves one consistent pair, and opening deletes the other file.
 *
 * The bound is a number of readings (`maxReadings`). When an append would pass it, the
 * OLDEST readings are dropped (never the new ones: the newest say what is happening now),
 * counted in `dropped` (persisted), and the sensor actor raises an `outbox-overflow` alarm.
 */
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises"
import { join, resolve } from "node:path"
import { Data, Effect, Latch, Semaphore, type Scope } from "effect"
import { decodeRecord, encodeRecord, HEADER_BYTES, type JournalEntry, recordSize } from "./internal/journal.js"

/** A reading as the outbox keeps it: its event time and values. */
export interface OutboxReading {
  readonly ts: number
  readonly values: Readonly<Record<string, number>>
}

/** A reading in the outbox, with the sequence number it was given when appended. */
export interface OutboxRecord extends OutboxReading {
  readonly seq: number
}

/** Where an outbox stands. */
export interface OutboxStats {
  /** Appended and neither delivered nor dropped yet. */
  readonly pending: number
  /** Sequence number of the last reading appended (0 before the first). */
  readonly lastSeq: number
  /** Every reading up to this sequence number has been delivered or dropped. */
  readonly doneSeq: number
  /** Readings dropped by the overflow policy over the outbox's whole life (persisted). */
  readonly dropped: number
  /** Size of the journal file. */
  readonly journalBytes: number
  /** Bytes of a torn record cut from the journal's end when it was opened (a crash mid-write). */
  readonly recoveredBytes: number
}

/** Why the outbox failed. */
export type OutboxErrorReason = "Io" | "Corrupt" | "Locked"

/** The outbox's files could not be read or written, make no sense, or are in use. */
export class OutboxError extends Data.TaggedError("OutboxError")<{
  readonly reason: OutboxErrorReason
  readonly dir: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** A durable, bounded, in-order queue of readings waiting for delivery. */
export interface Outbox {
  /** The most readings it holds; appending more drops the oldest. */
  readonly maxReadings: number
  /** The sequence number the next appended reading gets. */
  readonly nextSeq: () => number
  readonly stats: () => OutboxStats
  /**
   * Appends readings (numbered `nextSeq()`, `nextSeq() + 1`, …) in one write and one
   * fdatasync, then applies the bound. Returns how many old readings that dropped.
   */
  readonly append: (readings: ReadonlyArray<OutboxReading>) => Effect.Effect<{ readonly firstSeq: number; readonly dropped: number }, OutboxError>
  /** Up to `max` undelivered readings, oldest first. */
  readonly peek: (max: number) => Effect.Effect<ReadonlyArray<OutboxRecord>, OutboxError>
  /** Everything up to `seq` has been delivered: never hand it out again (persisted). */
  readonly commit: (seq: number) => Effect.Effect<void, OutboxError>
  /** Returns once there is something to deliver. */
  readonly awaitPending: Effect.Effect<void>
}

/** How to open an outbox on disk. */
export interface OutboxOptions {
  readonly dir: string
  /** Bound on undelivered readings; the oldest are dropped beyond it. */
  readonly maxReadings: number
  /** Compact once the delivered prefix of the journal is this large. Default 1 MiB. */
  readonly compactBytes?: number
  /** Recent readings also kept in memory, so delivery while connected reads no file. Default 1024. */
  readonly cacheRecords?: number
}

const STATE_FILE = "state.json"
const LOCK_FILE = "lock"
const JOURNAL = /^journal-(\d+)\.log$/
const journalName = (gen: number) => `journal-${gen}.log`
/** With everything delivered, a journal this large is compacted (to nothing) too. */
const IDLE_COMPACT_BYTES = 64 * 1024
const READ_CHUNK = 1024 * 1024

interface PersistedState {
  readonly version: 1
  readonly gen: number
  readonly offset: number
  readonly seq: number
  readonly dropped: number
}

interface Cached extends OutboxRecord {
  /** Journal offset just past the record. */
  end: number
}

/** Directories open in this process: a second open of one is a bug, and would corrupt it. */
const openDirs = new Set<string>()

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0

const fsyncDir = async (dir: string) => {
  const handle = await open(dir, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

const writeAll = async (handle: FileHandle, bytes: Uint8Array) => {
  let written = 0
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written)
    written += bytesWritten
  }
}

const readAt = async (handle: FileHandle, position: number, length: number): Promise<Uint8Array> => {
  const buffer = new Uint8Array(length)
  let read = 0
  while (read < length) {
    const { bytesRead } = await handle.read(buffer, read, length - read, position + read)
    if (bytesRead === 0) break
    read += bytesRead
  }
  return read === length ? buffer : buffer.subarray(0, read)
}

/** Thrown inside the async machinery; becomes an `OutboxError` at the edge. */
class Problem extends Error {
  constructor(readonly reason: OutboxErrorReason, message: string) {
    super(message)
  }
}

/**
 * Opens (creating if needed) the outbox in `options.dir` for the duration of the scope:
 * recovers from a crash (cuts a torn last record, finishes or discards an interrupted
 * compaction) and takes the directory's lock. Fails with `Locked` when another live process
 * has it open.
 */
export const openOutbox = (options: OutboxOptions): Effect.Effect<Outbox, OutboxError, Scope.Scope> => {
  const dir = resolve(options.dir)
  const compactBytes = options.compactBytes ?? 1024 * 1024
  const cacheRecords = Math.max(1, options.cacheRecords ?? 1024)
  const limit = Math.max(1, Math.floor(options.maxReadings))
  const io = <A>(what: string, f: () => Promise<A>): Effect.Effect<A, OutboxError> =>
    Effect.tryPromise({
      try: f,
      catch: (cause) =>
        cause instanceof Problem
          ? new OutboxError({ reason: cause.reason, dir, message: `outbox ${dir}: ${cause.message}` })
          : new OutboxError({ reason: "Io", dir, message: `outbox ${dir}: cannot ${what}: ${(cause as Error).message ?? String(cause)}`, cause })
    })

  // Mutable state, touched only under `lock` (or before the outbox is handed out).
  let handle: FileHandle
  let gen = 0
  let headSeq = 0
  let headOffset = 0
  let lastSeq = 0
  let endOffset = 0
  let dropped = 0
  let recoveredBytes = 0
  let cache: Array<Cached> = []
  /** Ends of records handed out by the last `peek` from the file (not from the cache). */
  let peeked = new Map<number, number>()

  const persist = async (syncDir: boolean) => {
    const state: PersistedState = { version: 1, gen, offset: headOffset, seq: headSeq, dropped }
    const temp = join(dir, `${STATE_FILE}.tmp`)
    const out = await open(temp, "w")
    try {
      await writeAll(out, new TextEncoder().encode(JSON.stringify(state)))
      await out.datasync()
    } finally {
      await out.close()
    }
    await rename(temp, join(dir, STATE_FILE))
    if (syncDir) await fsyncDir(dir)
  }

  const recover = async () => {
    await mkdir(dir, { recursive: true })
    await rm(join(dir, `${STATE_FILE}.tmp`), { force: true })
    const lockPath = join(dir, LOCK_FILE)
    const holder = Number((await readFile(lockPath, "utf8").catch(() => "")).trim())
    if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw new Problem("Locked", `process ${holder} has it open (two nodes with the same name and data directory?)`)
    }
    const lockOut = await open(lockPath, "w")
    await writeAll(lockOut, new TextEncoder().encode(`${process.pid}\n`))
    await lockOut.close()

    let state: PersistedState | undefined
    const text = await readFile(join(dir, STATE_FILE), "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined
      throw error
    })
    if (text !== undefined) {
      let parsed: Partial<PersistedState> | undefined
      try {
        parsed = JSON.parse(text) as Partial<PersistedState>
      } catch {
        parsed = undefined
      }
      if (parsed === undefined || !isCount(parsed.gen) || !isCount(parsed.offset) || !isCount(parsed.seq) || !isCount(parsed.dropped)) {
        throw new Problem("Corrupt", `${STATE_FILE} is not a valid outbox state (${text.slice(0, 80)}); move the directory away to start afresh`)
      }
      state = { version: 1, gen: parsed.gen, offset: parsed.offset, seq: parsed.seq, dropped: parsed.dropped }
    }
    const gens = (await readdir(dir)).flatMap((name) => {
      const match = JOURNAL.exec(name)
      return match === null ? [] : [Number(match[1])]
    })
    gen = state?.gen ?? (gens.length === 0 ? 0 : Math.min(...gens))
    headOffset = state?.offset ?? 0
    headSeq = state?.seq ?? 0
    dropped = state?.dropped ?? 0
    // Leftovers of a compaction interrupted before (new file) or after (old file) the switch.
    for (const other of gens) if (other !== gen) await rm(join(dir, journalName(other)), { force: true })

    handle = await open(join(dir, journalName(gen)), "a+")
    const size = (await handle.stat()).size
    if (headOffset > size) {
      throw new Problem("Corrupt", `${STATE_FILE} points at byte ${headOffset} of a ${size}-byte journal; move the directory away to start afresh`)
    }
    // Scan the undelivered part: every whole record stays, the file ends at the first torn one.
    let position = headOffset
    let expected = state === undefined ? undefined : headSeq + 1
    let carry: Uint8Array = new Uint8Array(0)
    const kept: Array<Cached> = []
    scan: while (position + carry.length < size) {
      const chunk = await readAt(handle, position + carry.length, Math.min(READ_CHUNK, size - position - carry.length))
      if (chunk.length === 0) break
      const bytes = carry.length === 0 ? chunk : concat([carry, chunk])
      let at = 0
      while (true) {
        const decoded = decodeRecord(bytes, at)
        if (decoded._tag === "Incomplete") break
        if (decoded._tag === "Corrupt" || (expected !== undefined && decoded.entry.seq !== expected)) break scan
        if (expected === undefined) headSeq = decoded.entry.seq - 1
        expected = decoded.entry.seq + 1
        at += decoded.size
        kept.push({ ...decoded.entry, end: position + at })
        if (kept.length > cacheRecords) kept.shift()
      }
      position += at
      carry = bytes.subarray(at)
    }
    const validEnd = kept.length === 0 ? headOffset : kept[kept.length - 1]!.end
    // Records before the cache window were counted by `expected`.
    lastSeq = expected === undefined ? headSeq : expected - 1
    if (validEnd < size) {
      recoveredBytes = size - validEnd
      await handle.truncate(validEnd)
      await handle.datasync()
    }
    endOffset = validEnd
    cache = kept
    if (state === undefined) await persist(true)
  }

  const locateEnd = async (seq: number): Promise<number> => {
    const first = cache[0]
    if (first !== undefined && seq >= first.seq) return cache[seq - first.seq]!.end
    const known = peeked.get(seq)
    if (known !== undefined) return known
    // Walk the headers from the head: only for records neither cached nor just peeked.
    let position = headOffset
    for (let s = headSeq + 1; s <= seq; s++) {
      const header = await readAt(handle, position, HEADER_BYTES)
      if (header.length < HEADER_BYTES) throw new Problem("Corrupt", `journal ends inside record ${s}`)
      position += recordSize(header)
    }
    return position
  }

  const advanceHead = (seq: number, end: number) => {
    headSeq = seq
    headOffset = end
    const first = cache[0]
    if (first !== undefined && first.seq <= seq) cache = cache.slice(Math.min(cache.length, seq - first.seq + 1))
    for (const key of peeked.keys()) if (key <= seq) peeked.delete(key)
  }

  const compactIfDue = async () => {
    const idle = headSeq === lastSeq
    if (headOffset < compactBytes && !(idle && headOffset >= IDLE_COMPACT_BYTES)) return
    const next = gen + 1
    const nextPath = join(dir, journalName(next))
    const out = await open(nextPath, "w+")
    try {
      for (let position = headOffset; position < endOffset; position += READ_CHUNK) {
        await writeAll(out, await readAt(handle, position, Math.min(READ_CHUNK, endOffset - position)))
      }
      await out.datasync()
    } catch (error) {
      await out.close()
      await rm(nextPath, { force: true })
      throw error
    }
    await out.close()
    const shift = headOffset
    const oldPath = join(dir, journalName(gen))
    gen = next
    headOffset = 0
    await persist(true)
    await handle.close()
    await rm(oldPath, { force: true })
    handle = await open(nextPath, "a+")
    endOffset -= shift
    for (const c of cache) c.end -= shift
    peeked = new Map([...peeked].map(([seq, end]) => [seq, end - shift]))
  }

  const append = async (readings: ReadonlyArray<OutboxReading>) => {
    const firstSeq = lastSeq + 1
    if (readings.length === 0) return { firstSeq, dropped: 0 }
    const records = readings.map((r, i) => ({ seq: firstSeq + i, ts: r.ts, values: r.values }))
    const encoded = records.map((r: JournalEntry) => encodeRecord(r))
    try {
      await writeAll(handle, concat(encoded))
      await handle.datasync()
    } catch (error) {
      // Leave no partial record behind for the next append to follow.
      await handle.truncate(endOffset).catch(() => undefined)
      throw error
    }
    let end = endOffset
    records.forEach((r, i) => {
      end += encoded[i]!.length
      cache.push({ ...r, end })
    })
    if (cache.length > cacheRecords) cache = cache.slice(cache.length - cacheRecords)
    endOffset = end
    lastSeq = firstSeq + records.length - 1
    const over = lastSeq - headSeq - limit
    if (over > 0) {
      advanceHead(headSeq + over, await locateEnd(headSeq + over))
      dropped += over
      await persist(false)
      await compactIfDue()
    }
    return { firstSeq, dropped: Math.max(0, over) }
  }

  const peek = async (max: number): Promise<ReadonlyArray<OutboxRecord>> => {
    const from = headSeq + 1
    const count = Math.min(Math.max(0, Math.floor(max)), lastSeq - headSeq)
    if (count === 0) return []
    const first = cache[0]
    if (first !== undefined && from >= first.seq) {
      return cache.slice(from - first.seq, from - first.seq + count).map(({ seq, ts, values }) => ({ seq, ts, values }))
    }
    const out: Array<OutboxRecord> = []
    peeked = new Map()
    let position = headOffset
    let carry: Uint8Array = new Uint8Array(0)
    while (out.length < count && position + carry.length < endOffset) {
      const chunk = await readAt(handle, position + carry.length, Math.min(256 * 1024, endOffset - position - carry.length))
      const bytes = carry.length === 0 ? chunk : concat([carry, chunk])
      let at = 0
      while (out.length < count) {
        const decoded = decodeRecord(bytes, at)
        if (decoded._tag === "Incomplete") break
        if (decoded._tag === "Corrupt") throw new Problem("Corrupt", `journal record ${from + out.length} at byte ${position + at}: ${decoded.why}`)
        at += decoded.size
        out.push(decoded.entry)
        peeked.set(decoded.entry.seq, position + at)
      }
      position += at
      carry = bytes.subarray(at)
    }
    return out
  }

  const commit = async (seq: number) => {
    const upTo = Math.min(seq, lastSeq)
    if (upTo <= headSeq) return
    advanceHead(upTo, await locateEnd(upTo))
    await persist(false)
    await compactIfDue()
  }

  return Effect.gen(function*() {
    if (openDirs.has(dir)) {
      return yield* new OutboxError({ reason: "Locked", dir, message: `outbox ${dir} is already open in this process` })
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => openDirs.add(dir)),
      () => Effect.sync(() => openDirs.delete(dir))
    )
    yield* Effect.acquireRelease(
      io("open it", recover),
      () =>
        Effect.promise(async () => {
          await handle?.close().catch(() => undefined)
          await rm(join(dir, LOCK_FILE), { force: true }).catch(() => undefined)
        })
    )
    const lock = yield* Semaphore.make(1)
    const serial = lock.withPermits(1)
    const ready = yield* Latch.make(lastSeq > headSeq)
    const outbox: Outbox = {
      maxReadings: limit,
      nextSeq: () => lastSeq + 1,
      stats: () => ({ pending: lastSeq - headSeq, lastSeq, doneSeq: headSeq, dropped, journalBytes: endOffset, recoveredBytes }),
      append: (readings) =>
        serial(io("append to the journal", () => append(readings))).pipe(
          Effect.tap(() => Effect.sync(() => ready.openUnsafe()))
        ),
      peek: (max) => serial(io("read the journal", () => peek(max))),
      commit: (seq) => serial(io("save the delivery state", () => commit(seq))),
      awaitPending: Effect.suspend(() => {
        if (lastSeq > headSeq) return Effect.void
        ready.closeUnsafe()
        return ready.await
      })
    }
    return outbox
  })
}

/**
 * The same policy in memory, for tests of the actors that use an outbox. It survives
 * nothing; `openOutbox` is the real one.
 */
export const memoryOutbox = (options: { readonly maxReadings: number }): Effect.Effect<Outbox> =>
  Effect.gen(function*() {
    const limit = Math.max(1, Math.floor(options.maxReadings))
    let records: Array<OutboxRecord> = []
    let headSeq = 0
    let lastSeq = 0
    let dropped = 0
    const ready = yield* Latch.make(false)
    return {
      maxReadings: limit,
      nextSeq: () => lastSeq + 1,
      stats: () => ({ pending: lastSeq - headSeq, lastSeq, doneSeq: headSeq, dropped, journalBytes: 0, recoveredBytes: 0 }),
      append: (readings) =>
        Effect.sync(() => {
          const firstSeq = lastSeq + 1
          readings.forEach((r, i) => records.push({ seq: firstSeq + i, ts: r.ts, values: r.values }))
          lastSeq += readings.length
          const over = Math.max(0, lastSeq - headSeq - limit)
          records = records.slice(over)
          headSeq += over
          dropped += over
          if (readings.length > 0) ready.openUnsafe()
          return { firstSeq, dropped: over }
        }),
      peek: (max) => Effect.sync(() => records.slice(0, Math.max(0, Math.floor(max)))),
      commit: (seq) =>
        Effect.sync(() => {
          const upTo = Math.min(seq, lastSeq)
          if (upTo <= headSeq) return
          records = records.slice(upTo - headSeq)
          headSeq = upTo
        }),
      awaitPending: Effect.suspend(() => {
        if (lastSeq > headSeq) return Effect.void
        ready.closeUnsafe()
        return ready.await
      })
    }
  })

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}
