import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import fc from "fast-check"
import { memoryOutbox, type Outbox, type OutboxOptions, type OutboxReading, openOutbox } from "@bramble/actor-sensor"

/** A scratch directory for one test, removed with the scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "bramble-outbox-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const reading = (i: number): OutboxReading => ({ ts: 1_763_700_000_000 + i * 1000, values: { temperature: 20 + i / 10, humidity: 50 } })
const readings = (from: number, count: number) => Array.from({ length: count }, (_, i) => reading(from + i))

/** Opens the outbox in its own scope, so a test can close it (a clean stop) and open it again. */
const session = (options: OutboxOptions) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const outbox = yield* openOutbox(options).pipe(Scope.provide(scope))
    return { outbox, close: Scope.close(scope, Exit.void) }
  })

const seqs = (outbox: Outbox, max = 1_000_000) => Effect.map(outbox.peek(max), (rs) => rs.map((r) => r.seq))

/** What a crash leaves on disk: the files as they are at this moment, copied while the outbox is open. */
const crashCopy = (dir: string, into: string) => {
  cpSync(dir, into, { recursive: true })
  return into
}

const journalFiles = (dir: string) => readdirSync(dir).filter((name) => name.startsWith("journal-")).sort()

describe("Outbox", () => {
  it.effect("outbox - appended readings come back in order with consecutive sequence numbers, and commit removes them", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { outbox } = yield* session({ dir, maxReadings: 100 })
      assert.strictEqual(outbox.nextSeq(), 1)
      assert.deepStrictEqual(yield* outbox.append(readings(0, 3)), { firstSeq: 1, dropped: 0 })
      assert.deepStrictEqual(yield* outbox.append([reading(3)]), { firstSeq: 4, dropped: 0 })
      const all = yield* outbox.peek(10)
      assert.deepStrictEqual(all.map((r) => r.seq), [1, 2, 3, 4])
      assert.deepStrictEqual(all.map((r) => r.ts), readings(0, 4).map((r) => r.ts))
      assert.deepStrictEqual(all[1]!.values, reading(1).values)
      assert.deepStrictEqual((yield* outbox.peek(2)).map((r) => r.seq), [1, 2])

      yield* outbox.commit(2)
      assert.deepStrictEqual(yield* seqs(outbox), [3, 4])
      // Committing an older position again changes nothing.
      yield* outbox.commit(1)
      assert.deepStrictEqual(yield* seqs(outbox), [3, 4])
      assert.deepStrictEqual(outbox.stats().pending, 2)
      assert.deepStrictEqual(outbox.stats().doneSeq, 2)
      yield* outbox.commit(4)
      assert.deepStrictEqual(yield* seqs(outbox), [])
      assert.strictEqual(outbox.nextSeq(), 5)
    }).pipe(Effect.scoped))

  it.effect("outbox - after a clean restart the undelivered readings are still there and numbering continues", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const first = yield* session({ dir, maxReadings: 100 })
      yield* first.outbox.append(readings(0, 5))
      yield* first.outbox.commit(3)
      yield* first.close

      const second = yield* session({ dir, maxReadings: 100 })
      assert.deepStrictEqual(yield* seqs(second.outbox), [4, 5])
      assert.deepStrictEqual((yield* second.outbox.peek(10)).map((r) => r.ts), [reading(3).ts, reading(4).ts])
      assert.strictEqual(second.outbox.nextSeq(), 6)
      yield* second.outbox.commit(5)
      yield* second.close

      // Everything delivered: the sequence still continues from the state file.
      const third = yield* session({ dir, maxReadings: 100 })
      assert.deepStrictEqual(yield* seqs(third.outbox), [])
      assert.strictEqual(third.outbox.nextSeq(), 6)
    }).pipe(Effect.scoped))

  it.effect("outbox - a crash after append and before commit loses nothing: reopened, the readings are there in order", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const live = yield* session({ dir: join(dir, "live"), maxReadings: 100 })
      yield* live.outbox.append(readings(0, 4))
      yield* live.outbox.commit(1)
      yield* live.outbox.append(readings(4, 3))
      // kill -9 now: the files as they are, the lock still naming this (live) process.
      const crashed = crashCopy(join(dir, "live"), join(dir, "crashed"))
      assert.isTrue(existsSync(join(crashed, "lock")))

      const reopened = yield* session({ dir: crashed, maxReadings: 100 })
      const records = yield* reopened.outbox.peek(100)
      assert.deepStrictEqual(records.map((r) => r.seq), [2, 3, 4, 5, 6, 7])
      assert.deepStrictEqual(records.map((r) => r.ts), readings(1, 6).map((r) => r.ts))
      assert.strictEqual(reopened.outbox.stats().recoveredBytes, 0)
      assert.strictEqual(reopened.outbox.nextSeq(), 8)
    }).pipe(Effect.scoped))

  it.effect("outbox - a record torn by a crash mid-write is cut off; every whole record survives and appending goes on", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const live = yield* session({ dir: join(dir, "live"), maxReadings: 100 })
      yield* live.outbox.append(readings(0, 3))
      const crashed = crashCopy(join(dir, "live"), join(dir, "crashed"))
      const [journal] = journalFiles(crashed)
      // Half of a fourth record: a length prefix promising more bytes than follow.
      appendFileSync(join(crashed, journal!), Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, 5, 6]))

      const reopened = yield* session({ dir: crashed, maxReadings: 100 })
      assert.deepStrictEqual(yield* seqs(reopened.outbox), [1, 2, 3])
      assert.strictEqual(reopened.outbox.stats().recoveredBytes, 10)
      yield* reopened.outbox.append([reading(3)])
      yield* reopened.close
      const again = yield* session({ dir: crashed, maxReadings: 100 })
      assert.deepStrictEqual(yield* seqs(again.outbox), [1, 2, 3, 4])
      assert.strictEqual(again.outbox.stats().recoveredBytes, 0)
    }).pipe(Effect.scoped))

  it.effect("outbox - a record whose checksum does not match ends the journal there", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const live = yield* session({ dir, maxReadings: 100 })
      yield* live.outbox.append(readings(0, 3))
      yield* live.close
      const path = join(dir, journalFiles(dir)[0]!)
      const bytes = readFileSync(path)
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff
      writeFileSync(path, bytes)
      const reopened = yield* session({ dir, maxReadings: 100 })
      assert.deepStrictEqual(yield* seqs(reopened.outbox), [1, 2])
      assert.isAbove(reopened.outbox.stats().recoveredBytes, 0)
    }).pipe(Effect.scoped))

  it.effect("outbox - when full it drops the oldest readings, counts them, and the count survives a restart", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const first = yield* session({ dir, maxReadings: 5, cacheRecords: 2 })
      assert.deepStrictEqual(yield* first.outbox.append(readings(0, 4)), { firstSeq: 1, dropped: 0 })
      assert.deepStrictEqual(yield* first.outbox.append(readings(4, 3)), { firstSeq: 5, dropped: 2 })
      assert.deepStrictEqual(yield* seqs(first.outbox), [3, 4, 5, 6, 7])
      assert.deepStrictEqual((yield* first.outbox.peek(1))[0]!.ts, reading(2).ts)
      assert.deepStrictEqual(yield* first.outbox.append([reading(7)]), { firstSeq: 8, dropped: 1 })
      assert.deepStrictEqual(first.outbox.stats(), { pending: 5, lastSeq: 8, doneSeq: 3, dropped: 3, journalBytes: first.outbox.stats().journalBytes, recoveredBytes: 0 })
      yield* first.close

      const second = yield* session({ dir, maxReadings: 5 })
      assert.deepStrictEqual(yield* seqs(second.outbox), [4, 5, 6, 7, 8])
      assert.strictEqual(second.outbox.stats().dropped, 3)
      // A larger batch than the bound keeps its newest part.
      assert.deepStrictEqual(yield* second.outbox.append(readings(8, 7)), { firstSeq: 9, dropped: 7 })
      assert.deepStrictEqual(yield* seqs(second.outbox), [11, 12, 13, 14, 15])
      assert.strictEqual(second.outbox.stats().dropped, 10)
    }).pipe(Effect.scoped))

  it.effect("outbox - compaction keeps only the undelivered tail, in a new journal file, and survives a restart", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const first = yield* session({ dir, maxReadings: 10_000, compactBytes: 300, cacheRecords: 4 })
      assert.deepStrictEqual(journalFiles(dir), ["journal-0.log"])
      yield* first.outbox.append(readings(0, 40))
      const before = first.outbox.stats().journalBytes
      yield* first.outbox.commit(30)
      assert.deepStrictEqual(journalFiles(dir), ["journal-1.log"], "the delivered prefix passed 300 bytes")
      assert.isBelow(first.outbox.stats().journalBytes, before / 2)
      // Records 31..40 now come from the new file (the cache holds only the last 4).
      assert.deepStrictEqual(yield* seqs(first.outbox), Array.from({ length: 10 }, (_, i) => 31 + i))
      assert.deepStrictEqual((yield* first.outbox.peek(1))[0]!.ts, reading(30).ts)
      yield* first.outbox.commit(33)
      yield* first.outbox.append(readings(40, 2))
      yield* first.close

      const second = yield* session({ dir, maxReadings: 10_000, compactBytes: 300 })
      assert.deepStrictEqual(yield* seqs(second.outbox), [34, 35, 36, 37, 38, 39, 40, 41, 42])
      assert.strictEqual(second.outbox.nextSeq(), 43)
    }).pipe(Effect.scoped))

  it.effect("outbox - the leftover of a compaction interrupted by a crash is deleted when it is opened", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const first = yield* session({ dir, maxReadings: 100 })
      yield* first.outbox.append(readings(0, 3))
      yield* first.close
      // A crash after writing the next generation but before the state switched to it.
      writeFileSync(join(dir, "journal-1.log"), "half-written")
      writeFileSync(join(dir, "state.json.tmp"), "{")
      const second = yield* session({ dir, maxReadings: 100 })
      assert.deepStrictEqual(yield* seqs(second.outbox), [1, 2, 3])
      assert.deepStrictEqual(journalFiles(dir), ["journal-0.log"])
      assert.isFalse(existsSync(join(dir, "state.json.tmp")))
    }).pipe(Effect.scoped))

  it.effect("outbox - a second open of the same directory is refused with Locked; an unreadable state with Corrupt", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* session({ dir, maxReadings: 100 })
      const again = yield* Effect.flip(openOutbox({ dir, maxReadings: 100 }))
      assert.strictEqual(again.reason, "Locked")

      const other = join(dir, "other")
      const first = yield* session({ dir: other, maxReadings: 100 })
      yield* first.close
      writeFileSync(join(other, "state.json"), "not json")
      const corrupt = yield* Effect.flip(openOutbox({ dir: other, maxReadings: 100 }))
      assert.strictEqual(corrupt.reason, "Corrupt")
      assert.include(corrupt.message, "state.json")
    }).pipe(Effect.scoped))

  it.effect("outbox - awaitPending returns at once with readings waiting, and waits for the next append otherwise", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { outbox } = yield* session({ dir, maxReadings: 100 })
      const waiter = yield* Effect.forkChild(outbox.awaitPending)
      yield* Effect.yieldNow
      assert.isUndefined(waiter.pollUnsafe())
      yield* outbox.append([reading(0)])
      yield* Fiber.join(waiter)
      yield* outbox.awaitPending
    }).pipe(Effect.scoped))

  it("outbox - random appends, commits and restarts behave like the in-memory model", async () => {
    const op = fc.oneof(
      fc.record({ op: fc.constant("append" as const), n: fc.integer({ min: 1, max: 7 }) }),
      fc.record({ op: fc.constant("commit" as const), n: fc.integer({ min: 0, max: 8 }) }),
      fc.record({ op: fc.constant("restart" as const), n: fc.constant(0) })
    )
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
          const dir = yield* tempDir
          const options = { dir, maxReadings: 12, compactBytes: 400, cacheRecords: 3 }
          const model = yield* memoryOutbox({ maxReadings: 12 })
          let current = yield* session(options)
          let next = 0
          for (const { op, n } of ops) {
            if (op === "append") {
              const a = yield* current.outbox.append(readings(next, n))
              const b = yield* model.append(readings(next, n))
              assert.deepStrictEqual(a, b)
              next += n
            } else if (op === "commit") {
              const head = model.stats().doneSeq
              yield* current.outbox.commit(head + n)
              yield* model.commit(head + n)
            } else {
              yield* current.close
              current = yield* session(options)
            }
            assert.deepStrictEqual(yield* current.outbox.peek(100), yield* model.peek(100))
            const s = current.outbox.stats()
            const m = model.stats()
            assert.deepStrictEqual([s.pending, s.lastSeq, s.doneSeq, s.dropped], [m.pending, m.lastSeq, m.doneSeq, m.dropped])
          }
          yield* current.close
        })))
      }),
      { numRuns: 40 }
    )
  })
})
