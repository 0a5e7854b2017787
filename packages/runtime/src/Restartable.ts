/**
 * Work that runs under a name an operator can list and restart: what a node's actor
 * registry (cluster/src/admin/ActorRegistry.ts) offers, and all that the workers outside
 * cluster/ (the forwarders) need of it, so they depend on this interface and not on the node.
 */
import type { Effect } from "effect"

export interface Restartable {
  /**
   * Runs `effect` as the worker `name`: listed by `actors`, and restarted (interrupted and run
   * again at once) by `restart name`. Failures pass through to the caller, whose retry
   * policy decides when it runs again; every run after the first counts as a restart.
   */
  readonly restartable: <A, E, R>(
    name: string,
    kind: string,
    effect: Effect.Effect<A, E, R>,
    options?: { readonly processed?: () => number }
  ) => Effect.Effect<A, E, R>
}
