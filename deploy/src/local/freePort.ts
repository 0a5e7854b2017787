/**
 * Free loopback ports for local servers. The port is free when we look; another process can
 * take it before the server binds it, so the launchers retry with fresh ports when a server
 * reports "address already in use" (see `../process/internal/portRetry.ts`).
 */
import { createServer } from "node:net"
import { Effect } from "effect"

/** A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it). */
export const freePort: Effect.Effect<number> = Effect.callback<number>((resume) => {
  const server = createServer()
  server.unref()
  server.once("error", (error) => resume(Effect.die(error)))
  server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : undefined
    server.close(() =>
      port === undefined ? resume(Effect.die(new Error("listening socket has no port"))) : resume(Effect.succeed(port))
    )
  })
})

/** `count` distinct free ports. */
export const freePorts = Effect.fn("freePorts")(function*(count: number): Effect.fn.Return<ReadonlyArray<number>> {
  const ports = new Set<number>()
  while (ports.size < count) ports.add(yield* freePort)
  return [...ports]
})
