/**
 * Which devices of a partition hold window state that no durable checkpoint has yet: what
 * they took since their last saved snapshot. Such a device must not be passivated: its
 * next incarnation restores from the checkpoint store, and would come back without those
 * readings — the partition reads on past them, so its windows would be written short
 * (docs/design.md, decision 4: replay equals live).
 *
 * Passivating is normally safe because a partition checkpoints every interval and a device
 * is idle for minutes before it goes. It is not when checkpoints stall longer than the idle
 * time: a database outage of more than `passivateAfter` holds a checkpoint (and the loop's
 * writes) in flight while the devices wait, idle.
 */
export class UnsavedDevices {
  /** Per device, a counter of its changes since its last saved snapshot. */
  private readonly changes = new Map<string, number>()

  /** The device took readings or closed windows: its state moved past its saved snapshot. */
  changed(device: string): void {
    this.changes.set(device, (this.changes.get(device) ?? 0) + 1)
  }

  /** A snapshot of the device is being taken: the mark to give `saved` once it is durable. */
  mark(device: string): number {
    return this.changes.get(device) ?? 0
  }

  /** The snapshot taken at `mark` is durable: the device is saved unless it changed since. */
  saved(device: string, mark: number): void {
    if (this.changes.get(device) === mark) this.changes.delete(device)
  }

  /** Whether the device may be passivated (everything it holds is in the store). */
  isSaved(device: string): boolean {
    return !this.changes.has(device)
  }
}
