/**
 * A long-running child process — nats-server, a time-series database — owned by a Scope.
 *
 * A Bramble node runs its own nats-server and must keep it alive: when the server dies
 * unexpectedly it is restarted with capped exponential backoff, and it counts as up only
 * once its readiness probe passes. Closing the scope stops it (stop signal, then SIGKILL
 * after a grace period) and waits for it to be gone. Because a SIGKILLed parent runs no
 * finalizers, children are started under `setpriv --pdeathsig KILL` where available, so the
 * kernel kills them with the parent (see `internal/platform.ts`). Fault tests use `signal`
 * to SIGKILL, SIGSTOP and SIGCONT the process like Jepsen does.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { appendFileSync, closeSync, mkdirSync, openSync } from "node:fs"
import { dirname } from "node:path"
import {
  Cause,
  Clock,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Option,
  Schedule,
  Scope,
  Semaphore,
  Stream,
  SubscriptionRef
} from "effect"
import { LineRing, readFileTail } from "./internal/LogTail.js"
import { pdeathsigWrapper, resolveExecutable } from "./internal/platform.js"
import { type ProcessError, type ProcessErrorReason, processError } from "./ProcessError.js"

/** How a process ended: an exit code, or the signal that killed it. */
export interface ProcessExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** Where a managed process is in its life. */
export type ProcessStatus =
  | { readonly _tag: "Stopped" }
  | { readonly _tag: "Starting" }
  | { readonly _tag: "Running"; readonly pid: number; readonly restarts: number }
  /** It exited unexpectedly and will be started again after `delayMillis`. */
  | {
    readonly _tag: "Restarting"
    readonly lastExit: ProcessExit | undefined
    readonly attempt: number
    readonly delayMillis: number
  }
  /** It exited unexpectedly and restarts are off; `start` brings it back. */
  | { readonly _tag: "Exited"; readonly lastExit: ProcessExit }

/**
 * Capped exponential backoff between restarts: the n-th consecutive restart waits
 * `min(maxDelay, initialDelay * factor^(n-1))`. A process that stayed up for `resetAfter`
 * starts again from `initialDelay`.
 */
export interface RestartPolicy {
  /** Default 200 ms. */
  readonly initialDelay?: Duration.Input
  /** Default 10 s. */
  readonly maxDelay?: Duration.Input
  /** Default 2. */
  readonly factor?: number
  /** Default 30 s. */
  readonly resetAfter?: Duration.Input
}

/** When a started process counts as up. */
export interface Readiness {
  /** Succeeds once the process serves; its failures are retried on `schedule`. */
  readonly probe: Effect.Effect<unknown, unknown>
  /** How long the probe may keep failing. Default 30 s. */
  readonly timeout?: Duration.Input
  /** Retry schedule of the probe. Default: every 100 ms. */
  readonly schedule?: Schedule.Schedule<unknown, unknown>
}

/** What to run and how to look after it. */
export interface ManagedProcessOptions {
  /** Used in logs and errors, e.g. `nats-server`. */
  readonly name: string
  /** An executable on PATH or a path. */
  readonly command: string
  readonly args?: ReadonlyArray<string>
  readonly cwd?: string
  /** Added to (and overriding) the parent's environment. */
  readonly env?: Readonly<Record<string, string>>
  /** stdout and stderr are appended here (directory created). Without it, output is only
   * kept as an in-memory tail. */
  readonly logFile?: string
  /** Lines kept for `tail` and error messages. Default 200. */
  readonly tailLines?: number
  /** Without it a process is up as soon as it has been spawned. */
  readonly readiness?: Readiness
  /** Restart after an unexpected exit. Default off. */
  readonly restart?: boolean | RestartPolicy
  /** First signal of `stop`. Default SIGTERM. */
  readonly stopSignal?: NodeJS.Signals
  /** How long `stop` waits before SIGKILL. Default 10 s. */
  readonly stopGracePeriod?: Duration.Input
  /** Kill the child when this process dies, even by SIGKILL (Linux, via setpriv).
   * Default true. */
  readonly dieWithParent?: boolean
}

/** A supervised child process. Obtained from `makeManagedProcess`. */
export interface ManagedProcess {
  readonly name: string
  /** Where stdout/stderr go, when a log file was given. */
  readonly logFile: string | undefined
  /** The pid of the running process; undefined while stopped, exited or restarting. */
  readonly pid: Effect.Effect<number | undefined>
  readonly status: Effect.Effect<ProcessStatus>
  /** The current status, then every change. */
  readonly statusChanges: Stream.Stream<ProcessStatus>
  /** How many times the supervisor has restarted the process. */
  readonly restarts: Effect.Effect<number>
  /** The last lines of output, oldest first. */
  readonly tail: Effect.Effect<ReadonlyArray<string>>
  /** Starts the process and waits until it is ready; does nothing while it is running or
   * being restarted. */
  readonly start: Effect.Effect<void, ProcessError>
  /** Stops the process and its supervision: stop signal (and SIGCONT, so a stopped process
   * can act on it), SIGKILL after the grace period; returns once it has exited. */
  readonly stop: Effect.Effect<void>
  /** Sends a signal to the running process (fault injection: SIGKILL, SIGSTOP, SIGCONT).
   * An exit caused this way counts as unexpected, so it is restarted when restarts are on. */
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<void, ProcessError>
}

/** The delay before the `attempt`-th consecutive restart (1-based), in milliseconds. */
export const restartDelay = (policy: RestartPolicy, attempt: number): number => {
  const initial = Duration.toMillis(policy.initialDelay ?? "200 millis")
  const max = Duration.toMillis(policy.maxDelay ?? "10 seconds")
  const factor = policy.factor ?? 2
  return Math.min(max, initial * Math.pow(factor, Math.max(0, attempt - 1)))
}

/** Starts every marker line written to the log before each start of the process. */
export const START_MARKER = "--- bramble:"

/** A short human form of an exit. */
export const describeExit = (exit: ProcessExit): string =>
  exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code ?? "unknown"}`

interface Run {
  readonly child: ChildProcess
  readonly pid: number
  readonly startedAt: number
  readonly exited: Deferred.Deferred<ProcessExit>
}

// Children still running, killed synchronously if this process exits without closing
// their scopes (e.g. `process.exit()`); SIGKILL of this process is covered by pdeathsig.
const liveChildren = new Set<ChildProcess>()
let exitHookInstalled = false
const installExitHook = (): void => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once("exit", () => {
    for (const child of liveChildren) child.kill("SIGKILL")
  })
}

const describeUnknown = (error: unknown): string =>
  error instanceof Error ? error.message : error === undefined ? "none" : String(error)

/**
 * Starts a process, waits for it to be ready and supervises it until the scope closes,
 * which stops it. Fails with `SpawnFailed`, `NotReady` or `ExitedEarly` when the first start
 * does not succeed (the process is then already gone).
 */
export const makeManagedProcess = Effect.fnUntraced(function*(
  options: ManagedProcessOptions
): Effect.fn.Return<ManagedProcess, ProcessError, Scope.Scope> {
  const scope = yield* Effect.scope
  const name = options.name
  const args = options.args ?? []
  const tailLines = options.tailLines ?? 200
  const logFile = options.logFile
  const ring = new LineRing(tailLines)
  const stopSignal = options.stopSignal ?? "SIGTERM"
  const grace = options.stopGracePeriod ?? "10 seconds"
  const restartPolicy: RestartPolicy | undefined = options.restart === true
    ? {}
    : options.restart === false
    ? undefined
    : options.restart
  const resetAfter = Duration.toMillis(restartPolicy?.resetAfter ?? "30 seconds")

  const status = yield* SubscriptionRef.make<ProcessStatus>({ _tag: "Stopped" })
  const lock = yield* Semaphore.make(1)
  let current: Run | undefined
  let supervisor: Fiber.Fiber<void> | undefined
  let restarts = 0

  const tailNow = (): ReadonlyArray<string> =>
    logFile !== undefined ? readFileTail(logFile, tailLines) : ring.snapshot()

  const fail = (reason: ProcessErrorReason, detail: string, cause?: unknown): Effect.Effect<never, ProcessError> =>
    Effect.suspend(() =>
      Effect.fail(
        processError({
          reason,
          process: name,
          detail,
          logTail: tailNow(),
          logFile,
          ...(cause === undefined ? {} : { cause })
        })
      )
    )

  const isLive = (run: Run | undefined): run is Run => run !== undefined && !Deferred.isDoneUnsafe(run.exited)

  const spawnRun: Effect.Effect<Run, ProcessError> = Effect.gen(function*() {
    const executable = resolveExecutable(options.command, options.cwd)
    if (executable === undefined) {
      return yield* fail("SpawnFailed", `executable "${options.command}" not found (is it installed and on PATH?)`)
    }
    const wrapper = options.dieWithParent === false ? undefined : pdeathsigWrapper()
    const file = wrapper ?? executable
    const argv = wrapper !== undefined ? ["--pdeathsig", "KILL", "--", executable, ...args] : [...args]
    const now = yield* Clock.currentTimeMillis
    const marker = `${START_MARKER} ${new Date(now).toISOString()} starting ${name}: ${[executable, ...args].join(" ")}`

    let fd: number | undefined
    let child: ChildProcess
    try {
      if (logFile !== undefined) {
        mkdirSync(dirname(logFile), { recursive: true })
        appendFileSync(logFile, `${marker}\n`)
        fd = openSync(logFile, "a")
      } else {
        ring.add(marker)
      }
      child = spawn(file, argv, {
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        env: { ...process.env, ...options.env },
        stdio: fd !== undefined ? ["ignore", fd, fd] : ["ignore", "pipe", "pipe"],
        // With pdeathsig the child may leave our process group, so a Ctrl-C on the
        // terminal reaches only us and we stop it in order; without it, sharing the
        // group is what still kills it on Ctrl-C.
        detached: wrapper !== undefined
      })
    } catch (error) {
      return yield* fail("SpawnFailed", `could not spawn ${executable}: ${describeUnknown(error)}`, error)
    } finally {
      // The child has its own copy of the descriptor.
      if (fd !== undefined) closeSync(fd)
    }
    // Without a listener an 'error' event (e.g. a failed kill) would crash this process.
    child.on("error", () => {})
    if (fd === undefined) {
      ring.attach(child.stdout)
      ring.attach(child.stderr)
    }
    const pid = child.pid
    if (pid === undefined) {
      // The OS refused to start it; Node reports why in an 'error' event on the next tick.
      return yield* Effect.callback<never, ProcessError>((resume) => {
        child.once("error", (error) =>
          resume(fail("SpawnFailed", `could not spawn ${executable}: ${error.message}`, error)))
      })
    }
    const exited = Deferred.makeUnsafe<ProcessExit>()
    // With pipes, 'close' comes after the last output has been read, so the tail is complete.
    child.once(fd !== undefined ? "exit" : "close", (code: number | null, signal: NodeJS.Signals | null) => {
      liveChildren.delete(child)
      Deferred.doneUnsafe(exited, Exit.succeed({ code, signal }))
    })
    // Registered before anything can interrupt us, so stop and the exit hook always see it.
    const run: Run = { child, pid, startedAt: now, exited }
    liveChildren.add(child)
    installExitHook()
    current = run
    return run
  })

  const awaitReady = (run: Run): Effect.Effect<void, ProcessError> => {
    const readiness = options.readiness
    const exitedEarly = Deferred.await(run.exited).pipe(
      Effect.flatMap((exit) => fail("ExitedEarly", `exited with ${describeExit(exit)} before it was ready`))
    )
    if (readiness === undefined) return Effect.void
    const timeout = readiness.timeout ?? "30 seconds"
    let lastProbeError: unknown = undefined
    const probing = readiness.probe.pipe(
      Effect.tapError((error) => Effect.sync(() => (lastProbeError = error))),
      Effect.retry(readiness.schedule ?? Schedule.spaced("100 millis")),
      Effect.catch((error) => fail("NotReady", `readiness probe gave up: ${describeUnknown(error)}`, error)),
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () =>
          fail(
            "NotReady",
            `not ready after ${Duration.format(Duration.fromInputUnsafe(timeout))}; last probe error: ${
              describeUnknown(lastProbeError)
            }`,
            lastProbeError
          )
      })
    )
    return Effect.raceFirst(probing, exitedEarly).pipe(
      // The probe can pass against a server that is already exiting (e.g. it lost a race
      // for one of its ports): an exit that is already known wins.
      Effect.andThen(Effect.suspend(() => Deferred.isDoneUnsafe(run.exited) ? exitedEarly : Effect.void))
    )
  }

  const terminate = (run: Run): Effect.Effect<void> =>
    Effect.gen(function*() {
      if (Deferred.isDoneUnsafe(run.exited)) return
      run.child.kill(stopSignal)
      run.child.kill("SIGCONT")
      const graceful = yield* Effect.timeoutOption(Deferred.await(run.exited), grace)
      if (Option.isSome(graceful)) return
      yield* Effect.logWarning(`${name} (pid ${run.pid}) ignored ${stopSignal}; sending SIGKILL`)
      run.child.kill("SIGKILL")
      const killed = yield* Effect.timeoutOption(Deferred.await(run.exited), "10 seconds")
      if (Option.isNone(killed)) yield* Effect.logError(`${name} (pid ${run.pid}) did not exit after SIGKILL`)
    }).pipe(Effect.uninterruptible)

  /** Spawns and waits for readiness; a process that does not become ready is removed. */
  const startRun: Effect.Effect<Run, ProcessError> = Effect.gen(function*() {
    const run = yield* spawnRun
    yield* awaitReady(run).pipe(Effect.onError(() => terminate(run)))
    return run
  })

  const supervise = (first: Run): Effect.Effect<void> =>
    Effect.gen(function*() {
      let run = first
      let attempt = 0
      while (true) {
        const exit = yield* Deferred.await(run.exited)
        if (restartPolicy === undefined) {
          yield* Effect.logWarning(`${name} (pid ${run.pid}) exited unexpectedly with ${describeExit(exit)}`)
          yield* SubscriptionRef.set(status, { _tag: "Exited", lastExit: exit })
          return
        }
        const now = yield* Clock.currentTimeMillis
        if (now - run.startedAt >= resetAfter) attempt = 0
        let lastExit: ProcessExit | undefined = exit
        while (true) {
          attempt += 1
          const delayMillis = restartDelay(restartPolicy, attempt)
          yield* Effect.logWarning(
            `${name}: restart ${attempt} in ${delayMillis} ms (${
              lastExit !== undefined
                ? `pid ${run.pid} exited with ${describeExit(lastExit)}`
                : "the previous restart failed"
            })`
          )
          yield* SubscriptionRef.set(status, { _tag: "Restarting", lastExit, attempt, delayMillis })
          yield* Effect.sleep(Duration.millis(delayMillis))
          const restarted = yield* Effect.exit(startRun)
          if (Exit.isSuccess(restarted)) {
            run = restarted.value
            restarts += 1
            yield* SubscriptionRef.set(status, { _tag: "Running", pid: run.pid, restarts })
            break
          }
          lastExit = undefined
          yield* Effect.logWarning(`${name} restart ${attempt} failed:\n${Cause.pretty(restarted.cause)}`)
        }
      }
    })

  const stop: Effect.Effect<void> = lock.withPermit(
    Effect.gen(function*() {
      if (supervisor !== undefined) {
        yield* Fiber.interrupt(supervisor)
        supervisor = undefined
      }
      if (current !== undefined) {
        yield* terminate(current)
        current = undefined
      }
      yield* SubscriptionRef.set(status, { _tag: "Stopped" })
    })
  ).pipe(Effect.uninterruptible)

  const start: Effect.Effect<void, ProcessError> = lock.withPermit(
    Effect.gen(function*() {
      if (isLive(current)) return
      const state = yield* SubscriptionRef.get(status)
      if (state._tag === "Restarting") return
      yield* SubscriptionRef.set(status, { _tag: "Starting" })
      const run = yield* startRun.pipe(
        Effect.tapError(() => SubscriptionRef.set(status, { _tag: "Stopped" }))
      )
      yield* SubscriptionRef.set(status, { _tag: "Running", pid: run.pid, restarts })
      supervisor = yield* Effect.forkIn(supervise(run), scope)
    })
  )

  const signal = (sig: NodeJS.Signals): Effect.Effect<void, ProcessError> =>
    Effect.suspend(() => {
      const run = current
      if (!isLive(run)) return fail("NotRunning", `cannot send ${sig}: not running`)
      return run.child.kill(sig) ? Effect.void : fail("SignalFailed", `could not send ${sig} to pid ${run.pid}`)
    })

  yield* Scope.addFinalizer(scope, stop)
  yield* start

  return {
    name,
    logFile,
    pid: Effect.sync(() => (isLive(current) ? current.pid : undefined)),
    status: SubscriptionRef.get(status),
    statusChanges: SubscriptionRef.changes(status),
    restarts: Effect.sync(() => restarts),
    tail: Effect.sync(tailNow),
    start,
    stop,
    signal
  }
})
