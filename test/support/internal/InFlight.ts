/**
 * A window of in-flight operations. Publishers issue many publishes without awaiting each
 * one (awaiting serially caps a JetStream publisher at one round trip per reading, a few
 * thousand per second); the window bounds how many acks can be outstanding, so a stalled
 * server slows the publisher down instead of growing memory without bound.
 */
export class InFlight {
  private count = 0
  private readonly slotWaiters: Array<() => void> = []
  private readonly idleWaiters: Array<() => void> = []

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`in-flight window must be a positive integer, got ${limit}`)
  }

  /** Operations started and not yet settled. */
  get size(): number {
    return this.count
  }

  /** True when another operation may start right now. */
  get hasRoom(): boolean {
    return this.count < this.limit
  }

  /** Resolves once a slot is free and takes it. */
  async acquire(): Promise<void> {
    while (this.count >= this.limit) await new Promise<void>((resolve) => this.slotWaiters.push(resolve))
    this.count++
  }

  /** Gives a slot back; call exactly once per `acquire`. */
  release(): void {
    this.count--
    this.slotWaiters.shift()?.()
    if (this.count === 0) for (const wake of this.idleWaiters.splice(0)) wake()
  }

  /** Runs `operation` in a slot (which must already be acquired) and releases it when it settles. */
  track<A>(operation: Promise<A>): Promise<A> {
    return operation.finally(() => this.release())
  }

  /** Resolves when nothing is in flight. */
  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.idleWaiters.push(resolve))
  }
}

/** A promise that rejects with `message` after `ms`, unless `promise` settles first. */
export const withTimeout = <A>(promise: Promise<A>, ms: number, message: string): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      }
    )
  })

/** A short readable form of any thrown value. */
export const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error)
