/** Test servers on a free loopback port, for the scope of a test. */
import type { Server } from "node:net"
import { Effect, type Scope } from "effect"

/**
 * Listens on a free port of 127.0.0.1 and returns it; when the scope closes, `endConnections`
 * ends what is still open (so closing does not wait for it) and the server is closed.
 */
export const listenOnLoopback = (server: Server, endConnections: () => void): Effect.Effect<number, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<number>((resume) => {
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
      })
    }),
    () =>
      Effect.callback<void>((resume) => {
        endConnections()
        server.close(() => resume(Effect.void))
      })
  )
