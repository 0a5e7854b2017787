/**
 * Whether this node's clock is synchronized. It matters more than it seems: the nats-server
 * a node runs stamps every message it stores with this clock, and that stored time is what
 * device clocks are judged by (`ClockAhead`, the watermark's cap). A Raspberry Pi has no
 * real-time clock: it boots with the time fake-hwclock saved at shutdown, and only NTP
 * corrects it — until then, every well-synchronized device looks ahead.
 *
 * Asked of systemd (`timedatectl show -p NTPSynchronized`), once at start and every minute;
 * where that cannot be asked (no systemd, a container), the answer is "unknown" and nothing
 * is reported as wrong. docs/neighbours.md ("A Pi without a real-time clock") says what a Pi should do.
 */
import type { Admin } from "@bramble/protocol"
import { Duration, Effect, type Scope } from "effect"
import { execFile } from "node:child_process"

const CHECK_EVERY = Duration.minutes(1)

const ask = (): Promise<Admin.NodeClock> =>
  new Promise((resolve) => {
    execFile("timedatectl", ["show", "--property=NTPSynchronized", "--value"], { timeout: 5_000 }, (error, stdout) => {
      const answer = String(stdout).trim()
      if (error !== null || (answer !== "yes" && answer !== "no")) {
        resolve({ detail: `unknown: timedatectl ${error === null ? `answered "${answer}"` : "is not available"}` })
      } else {
        resolve(
          answer === "yes"
            ? { synchronized: true, detail: "NTP synchronized (timedatectl)" }
            : { synchronized: false, detail: "timedatectl: NTPSynchronized=no" }
        )
      }
    })
  })

/** Checks the clock now and every minute while the scope is open; the getter has the latest answer. */
export const watchClockSync: Effect.Effect<() => Admin.NodeClock, never, Scope.Scope> = Effect.gen(function*() {
  let latest: Admin.NodeClock = yield* Effect.promise(ask)
  if (latest.synchronized === false) {
    yield* Effect.logWarning(
      "this node's clock is not synchronized (timedatectl: NTPSynchronized=no): the times its nats-server stores are off, " +
        "and readings of well-synchronized devices may be refused as ClockAhead until it is (see docs/neighbours.md, A Pi without a real-time clock)"
    )
  }
  yield* Effect.forkScoped(
    Effect.forever(
      Effect.andThen(
        Effect.sleep(CHECK_EVERY),
        Effect.flatMap(Effect.promise(ask), (answer) =>
          Effect.sync(() => {
            latest = answer
          }))
      )
    )
  )
  return () => latest
})
