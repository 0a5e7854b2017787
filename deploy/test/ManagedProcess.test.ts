import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Option, Stream } from "effect"
import {
  isProcessAlive,
  type ManagedProcess,
  makeManagedProcess,
  type ProcessStatus,
  restartDelay,
  scopedTempDir,
  START_MARKER
} from "../src/index.js"
import { pdeathsigWrapper } from "../src/process/internal/platform.js"

/** Polls `check` every 20 ms; fails after `within` (generous: the machine is busy). */
const waitUntil = (what: string, check: () => boolean, within: Duration.Input = "20 seconds") =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(within)
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.fail(new Error(`timed out waiting for: ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

/** The one-letter state in /proc/<pid>/stat: R, S, T (stopped), Z … */
const procState = (pid: number): string => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
}

const awaitRunningOtherThan = (proc: ManagedProcess, pid: number) =>
  proc.statusChanges.pipe(
    Stream.filter((s): s is Extract<ProcessStatus, { _tag: "Running" }> => s._tag === "Running" && s.pid !== pid),
    Stream.runHead,
    Effect.timeout("20 seconds"),
    Effect.map(Option.getOrThrow)
  )

const sleeper = (extra: Partial<Parameters<typeof makeManagedProcess>[0]> = {}) =>
  makeManagedProcess({ name: "sleeper", command: "sleep", args: ["600"], ...extra })

// Output checks use strings that differ from the command line (e.g. `hello-from-"child"`),
// because each start writes a marker line that repeats the command line into the log.
describe("ManagedProcess", () => {
  it("restartDelay - doubles from the initial delay up to the cap", () => {
    const policy = { initialDelay: "100 millis", maxDelay: "1 second", factor: 2 } as const
    assert.deepStrictEqual([1, 2, 3, 4, 5, 6].map((n) => restartDelay(policy, n)), [100, 200, 400, 800, 1000, 1000])
    assert.strictEqual(restartDelay({}, 1), 200)
  })

  it.live("restart - a SIGKILLed process comes back with a new pid", () =>
    Effect.gen(function*() {
      const proc = yield* sleeper({ restart: { initialDelay: "20 millis" } })
      const first = (yield* proc.pid)!
      assert.isTrue(isProcessAlive(first))
      yield* proc.signal("SIGKILL")
      const running = yield* awaitRunningOtherThan(proc, first)
      assert.notStrictEqual(running.pid, first)
      assert.strictEqual(running.restarts, 1)
      assert.strictEqual(yield* proc.restarts, 1)
      assert.strictEqual(yield* proc.pid, running.pid)
      assert.isTrue(isProcessAlive(running.pid))
      assert.isFalse(isProcessAlive(first))
    }))

  it.live("restart - without a restart policy an exit is reported and start brings it back", () =>
    Effect.gen(function*() {
      const proc = yield* sleeper()
      const first = (yield* proc.pid)!
      yield* proc.signal("SIGKILL")
      const exited = yield* proc.statusChanges.pipe(
        Stream.filter((s) => s._tag === "Exited"),
        Stream.runHead,
        Effect.timeout("20 seconds")
      )
      assert.deepStrictEqual(exited, Option.some({ _tag: "Exited", lastExit: { code: null, signal: "SIGKILL" } }))
      assert.isUndefined(yield* proc.pid)
      yield* proc.start
      const second = (yield* proc.pid)!
      assert.notStrictEqual(second, first)
      assert.isTrue(isProcessAlive(second))
    }))

  it.live("stop - stops without restarting, and start runs it again", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const logFile = join(dir, "sleeper.log")
      const proc = yield* sleeper({ restart: { initialDelay: "10 millis" }, logFile })
      const first = (yield* proc.pid)!
      yield* proc.stop
      assert.isFalse(isProcessAlive(first))
      assert.deepStrictEqual(yield* proc.status, { _tag: "Stopped" })
      // Far longer than the restart delay: a supervisor that survived stop would have acted.
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(yield* proc.status, { _tag: "Stopped" })
      assert.isUndefined(yield* proc.pid)
      assert.strictEqual(yield* proc.restarts, 0)

      yield* proc.start
      const second = (yield* proc.pid)!
      assert.notStrictEqual(second, first)
      assert.isTrue(isProcessAlive(second))
      const starts = readFileSync(logFile, "utf8").split("\n").filter((line) => line.startsWith(START_MARKER))
      assert.strictEqual(starts.length, 2)
    }))

  it.live("signal - SIGSTOP pauses and SIGCONT resumes, without a restart", () =>
    Effect.gen(function*() {
      const proc = yield* sleeper({ restart: { initialDelay: "10 millis" } })
      const pid = (yield* proc.pid)!
      yield* proc.signal("SIGSTOP")
      yield* waitUntil("state T", () => procState(pid) === "T")
      assert.strictEqual((yield* proc.status)._tag, "Running")
      yield* proc.signal("SIGCONT")
      yield* waitUntil("not stopped", () => procState(pid) !== "T")
      assert.strictEqual(yield* proc.pid, pid)
      assert.strictEqual(yield* proc.restarts, 0)
    }))

  it.live("stop - a SIGSTOPped process still stops on SIGTERM, well before the grace period", () =>
    Effect.gen(function*() {
      const proc = yield* sleeper({ stopGracePeriod: "30 seconds" })
      const pid = (yield* proc.pid)!
      yield* proc.signal("SIGSTOP")
      yield* waitUntil("state T", () => procState(pid) === "T")
      const [took] = yield* Effect.timed(proc.stop)
      assert.isFalse(isProcessAlive(pid))
      assert.isBelow(Duration.toMillis(took), 20_000)
    }))

  it.live("stop - a process that ignores SIGTERM is SIGKILLed after the grace period", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const logFile = join(dir, "stubborn.log")
      const proc = yield* makeManagedProcess({
        name: "stubborn",
        command: process.execPath,
        args: [
          "-e",
          // Split strings: the log's start marker repeats the command line, and must not match.
          "process.on('SIGTERM', () => console.log('ignoring' + ' SIGTERM')); console.log('handler' + ' installed'); setInterval(() => {}, 1000)"
        ],
        logFile,
        stopGracePeriod: "300 millis",
        // Up once the handler is installed, so the SIGTERM is really ignored.
        readiness: {
          probe: Effect.suspend(() =>
            readFileSync(logFile, "utf8").includes("handler installed") ? Effect.void : Effect.fail("no handler yet")
          )
        }
      })
      const pid = (yield* proc.pid)!
      const [took] = yield* Effect.timed(proc.stop)
      assert.isFalse(isProcessAlive(pid))
      assert.include(readFileSync(logFile, "utf8"), "ignoring SIGTERM")
      assert.isAtLeast(Duration.toMillis(took), 250)
    }))

  it.live("scope - closing the scope leaves no process behind", () =>
    Effect.gen(function*() {
      const pids = yield* Effect.scoped(Effect.gen(function*() {
        const plain = yield* sleeper()
        const supervised = yield* sleeper({ restart: true })
        const a = (yield* plain.pid)!
        const b = (yield* supervised.pid)!
        assert.isTrue(isProcessAlive(a) && isProcessAlive(b))
        return [a, b]
      }))
      for (const pid of pids) assert.isFalse(isProcessAlive(pid), `pid ${pid} survived its scope`)
    }))

  it.live("errors - a missing executable is SpawnFailed", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(makeManagedProcess({ name: "ghost", command: "no-such-binary-bramble" }))
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(makeManagedProcess({ name: "ghost", command: "no-such-binary-bramble" }))
      assert.strictEqual(error.reason, "SpawnFailed")
      assert.include(error.message, "no-such-binary-bramble")
    }))

  it.live("errors - NotReady carries the output, and the process is removed", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir()
      const pidFile = join(dir, "pid")
      const error = yield* Effect.flip(makeManagedProcess({
        name: "mute",
        command: "sh",
        args: ["-c", `echo $$ > ${pidFile}; echo hello-from-"child"; exec sleep 600`],
        logFile: join(dir, "mute.log"),
        readiness: { probe: Effect.fail(new Error("port closed")), timeout: "1 second" }
      }))
      assert.strictEqual(error.reason, "NotReady")
      assert.include(error.message, "hello-from-child")
      assert.include(error.message, "port closed")
      assert.include(error.logTail.join("\n"), "hello-from-child")
      const pid = Number(readFileSync(pidFile, "utf8"))
      assert.isFalse(isProcessAlive(pid))
    }))

  it.live("errors - ExitedEarly says how it exited and what it printed", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(makeManagedProcess({
        name: "crasher",
        command: "sh",
        args: ["-c", "echo 'boom:' \"bad config\" >&2; exit 3"],
        readiness: { probe: Effect.fail(new Error("not yet")), timeout: "20 seconds" }
      }))
      assert.strictEqual(error.reason, "ExitedEarly")
      assert.include(error.message, "exit code 3")
      assert.include(error.message, "boom: bad config")
    }))

  it.live("errors - signal on a stopped process is NotRunning", () =>
    Effect.gen(function*() {
      const proc = yield* sleeper()
      yield* proc.stop
      const error = yield* Effect.flip(proc.signal("SIGKILL"))
      assert.strictEqual(error.reason, "NotRunning")
    }))

  it.live("tail - without a log file the output is kept in memory", () =>
    Effect.gen(function*() {
      const proc = yield* makeManagedProcess({
        name: "talker",
        command: "sh",
        // stdout only: stdout and stderr are separate pipes, so their relative order is not fixed
        // (stderr capture is covered by the ExitedEarly test).
        args: ["-c", "for i in 1 2 3 4 5; do echo line-$i; done; echo all-\"done\"; exec sleep 600"],
        tailLines: 4
      })
      yield* waitUntil("output", () => Effect.runSync(proc.tail).includes("all-done"))
      const tail = yield* proc.tail
      assert.strictEqual(tail.length, 4)
      assert.deepStrictEqual(tail, ["line-3", "line-4", "line-5", "all-done"])
    }))
})

describe.skipIf(pdeathsigWrapper() === undefined)("ManagedProcess - parent death", () => {
  /** Runs the fixture parent, returns it and the pid of the `sleep` it manages. */
  const startParent = (args: ReadonlyArray<string>) =>
    Effect.acquireRelease(
      Effect.callback<{ parent: ChildProcess; childPid: number }, Error>((resume) => {
        const fixture = join(import.meta.dirname, "fixtures", "parentOfSleeper.ts")
        const parent = spawn(process.execPath, ["--import", "tsx", fixture, ...args], {
          cwd: join(import.meta.dirname, "..", ".."),
          stdio: ["ignore", "pipe", "inherit"]
        })
        let out = ""
        parent.stdout!.on("data", (chunk: Buffer) => {
          out += chunk.toString()
          const line = out.split("\n")[0]
          if (out.includes("\n") && line !== undefined) resume(Effect.succeed({ parent, childPid: Number(line) }))
        })
        parent.once("exit", (code) => resume(Effect.fail(new Error(`fixture exited with ${code}: ${out}`))))
      }).pipe(Effect.timeout("60 seconds")),
      ({ parent, childPid }) =>
        Effect.sync(() => {
          parent.kill("SIGKILL")
          if (isProcessAlive(childPid)) process.kill(childPid, "SIGKILL")
        })
    )

  it.live("a managed child dies when its parent is SIGKILLed", () =>
    Effect.gen(function*() {
      const { parent, childPid } = yield* startParent([])
      assert.isTrue(isProcessAlive(childPid))
      parent.kill("SIGKILL")
      yield* waitUntil(`child ${childPid} gone`, () => !isProcessAlive(childPid))
    }))

  it.live("control: with dieWithParent off the child is orphaned (so the test above can fail)", () =>
    Effect.gen(function*() {
      const { parent, childPid } = yield* startParent(["--no-guard"])
      parent.kill("SIGKILL")
      yield* waitUntil("parent gone", () => parent.exitCode !== null || parent.signalCode !== null)
      yield* Effect.sleep("300 millis")
      assert.isTrue(isProcessAlive(childPid))
      assert.isTrue(existsSync(`/proc/${childPid}`))
    }))
})
