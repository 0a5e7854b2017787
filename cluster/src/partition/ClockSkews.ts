/**
 * The devices of a partition whose clock looks wrong, for `bramble status`: each with its
 * estimated skew — the time JetStream stored its latest refused reading minus that
 * reading's event time (negative: the device's clock runs ahead) — and how many of its
 * readings were refused for it. A device is listed when a reading of it is refused as
 * `ClockAhead` or `TooLate`, and dropped when it is not refused for `FORGET_AFTER_MS` (or,
 * listed as ahead, sends a reading with a plausible time). Bounded: a flood of devices cannot grow it.
 */

export type ClockReason = "ClockAhead" | "TooLate"

export interface ClockSkew {
  readonly device: string
  /** Stored time minus event time of the latest refused reading (ms). */
  readonly skewMs: number
  /** Readings refused for their time since the device was listed. */
  readonly refused: number
  readonly reason: ClockReason
  /** When the latest was refused (ms). */
  readonly at: number
}

/** Devices remembered per partition. */
export const MAX_DEVICES = 1_000
/** A device not refused for this long is no longer listed. */
export const FORGET_AFTER_MS = 10 * 60_000

export class ClockSkews {
  private readonly devices = new Map<string, ClockSkew>()

  get size(): number {
    return this.devices.size
  }

  /** A reading of `device` stored at `storedAt` with event time `ts` was refused for `reason`. */
  refused(device: string, reason: ClockReason, storedAt: number, ts: number, now: number): void {
    const previous = this.devices.get(device)
    if (previous === undefined && this.devices.size >= MAX_DEVICES) {
      // Forget the one refused longest ago (maps iterate in insertion order, and an update re-inserts).
      const oldest = this.devices.keys().next()
      if (oldest.done !== true) this.devices.delete(oldest.value)
    }
    this.devices.delete(device)
    this.devices.set(device, {
      device,
      skewMs: storedAt - ts,
      refused: (previous?.refused ?? 0) + 1,
      reason,
      at: now
    })
  }

  /** A reading of `device` decoded with a time not ahead of the log: a clock listed as
   * ahead looks right again. (One listed for `TooLate` stays until it is forgotten: whether
   * a reading is late is decided later, by its device's windows.) */
  accepted(device: string): void {
    if (this.devices.size > 0 && this.devices.get(device)?.reason === "ClockAhead") this.devices.delete(device)
  }

  /** The devices refused within `FORGET_AFTER_MS` of `now`, latest first. */
  list(now: number): Array<ClockSkew> {
    const out: Array<ClockSkew> = []
    for (const skew of this.devices.values()) if (now - skew.at < FORGET_AFTER_MS) out.push(skew)
    return out.reverse()
  }
}
