/**
 * Device actor crashes in a partition run (docs/design.md, decision 4: replay equals live).
 */
import { Cause, Data, Effect } from "effect"

/** A device actor of the partition crashed: the run stops, and the next replays the log. */
export class DeviceActorCrashed extends Data.TaggedError("DeviceActorCrashed")<{
  readonly partition: number
  readonly device: string
  readonly reason: string
}> {
  override get message(): string {
    return `partition ${this.partition}: device ${this.device} crashed (${this.reason}); restarting the partition from its checkpoint`
  }
}

/**
 * The first crash of a device actor in this run. A crashed device is restarted by its
 * supervisor from its checkpoint — without the readings it took since, which the partition
 * has read past: so the run must end before it reads on or saves a checkpoint, and the next
 * run replays the log from the partition's checkpoint (what the crashed device's windows
 * wrote meanwhile is rewritten by the replay: outputs are keyed, docs/design.md).
 */
export class DeviceCrashes {
  private first: DeviceActorCrashed | undefined
  constructor(readonly partition: number) {}

  record(device: string, cause: Cause.Cause<unknown>): Effect.Effect<void> {
    return Effect.sync(() => {
      const error = Cause.squash(cause)
      const reason = error instanceof Error ? error.message : String(error)
      this.first ??= new DeviceActorCrashed({ partition: this.partition, device, reason: reason.length > 300 ? `${reason.slice(0, 300)}…` : reason })
    })
  }

  /** Fails with the first crash, if there was one. */
  get check(): Effect.Effect<void, DeviceActorCrashed> {
    return Effect.suspend(() => (this.first === undefined ? Effect.void : Effect.fail(this.first)))
  }
}
