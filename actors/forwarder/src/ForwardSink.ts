/**
 * A forward target's sink: the `BatchSink` contract of the storage actor over forward items,
 * so a forward target inherits the same retry, isolation and dead-letter behaviour
 * (actors/storage `writeDurably`), plus the items it does not take at all.
 */
import type { BatchSink } from "@bramble/actor-storage"
import type { ForwardItem } from "./ForwardItem.js"

export interface ForwardSink extends BatchSink<ForwardItem> {
  /**
   * Why this target does not take `item` (it is skipped and counted, and acknowledged with
   * its batch), or undefined to send it.
   */
  readonly skip?: (item: ForwardItem) => string | undefined
}
