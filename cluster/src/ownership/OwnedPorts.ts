/**
 * What a partition worker is given while its node owns the partition: the checkpoint
 * store, the storage actor and the NATS client, each refusing to write once the
 * partition's fence is shut. The worker itself is unchanged; fencing lives at its edges.
 *
 * - Checkpoints are compare-and-set on the KV revision this owner last read or wrote. A new
 *   owner's first act is to rewrite `part.<p>` (stamped with its lease's claim revision, the
 *   fencing token), so a stale owner's later checkpoint write fails on the server even if
 *   that owner was stopped between its fence check and the write. Device checkpoints are
 *   compare-and-set the same way; a conflict fails the worker, which restarts from the
 *   checkpoint it can then read.
 * - Publishes (AGGREGATES, DEADLETTER) and storage writes check the fence when they are made.
 * - Delivery from the partition consumer stops when the fence shuts, and the delivery
 *   sequence is checked to be gap-free: a gap means messages went to someone else (a stale
 *   process pulling from the recreated consumer) or were lost with a broken connection, and
 *   acknowledging past them (AckPolicy.All) would skip them for good. On a gap the worker
 *   ends and restarts from its checkpoint, re-reading what it did not see. Pulls expire
 *   after 5 s, so one lost with a server or a moved consumer leader is re-issued in seconds.
 *
 * What remains (./README.md): a database write or publish that passed the check and then
 * sat in a stopped process (the storage actor's batch, a socket buffer) lands after the
 * fence shut. Those writes are idempotent by key (raw points by device and event time,
 * window results by window) and carry what the new owner computes from the same log.
 */
import { Watermark } from "@bramble/actor-aggregator"
import type { DeviceSnapshot } from "@bramble/actor-aggregator"
import { type ConsumerMessages, deliverySequenceOf, type JsMsg, replyOf, type KV, NatsClient, NatsError, natsError } from "@bramble/nats"
import { Codec } from "@bramble/protocol"
import { Effect } from "effect"
import { type Checkpoints, deviceKey, listDeviceKeys, type PartitionCheckpoint, partitionKey } from "../partition/Checkpoints.js"
import type { StoragePort } from "../partition/Ports.js"
import type { Fence } from "./Fence.js"

/** Who wrote a partition checkpoint: stored with it, so ownership changes are auditable. */
export interface CheckpointOwner {
  readonly node: string
  readonly incarnation: string
  /** Revision of the lease claim: grows with every new ownership of the partition. */
  readonly lease: number
}

/** A partition checkpoint as this module stores it (the worker ignores `owner`). */
export interface OwnedPartitionCheckpoint extends PartitionCheckpoint {
  readonly owner?: CheckpointOwner
}

const refused = (fence: Fence, what: string) => {
  const out = fence.check()
  return out === undefined ? undefined : new NatsError({ reason: "KeyValue", message: `${what}: ${out.message}`, cause: out })
}

/**
 * Checkpoints of one ownership of one partition, compare-and-set on the revisions this
 * owner has seen. Create a fresh one for every worker start (it tracks revisions).
 */
export const fencedCheckpoints = (kv: KV, fence: Fence, owner: CheckpointOwner): Checkpoints => {
  const revisions = new Map<string, number>()
  const write = (key: string, value: unknown) =>
    Effect.suspend(() => {
      const no = refused(fence, `cannot write checkpoint ${key}`)
      if (no !== undefined) return Effect.fail(no)
      const revision = revisions.get(key) ?? 0
      const bytes = Codec.encode(value)
      return Effect.tryPromise({
        try: () => (revision > 0 ? kv.update(key, bytes, revision) : kv.create(key, bytes)),
        catch: natsError("KeyValue", `cannot write checkpoint ${key} (another owner may have written it)`)
      }).pipe(Effect.tap((next) => Effect.sync(() => revisions.set(key, next))))
    })
  const read = <A>(key: string) =>
    Effect.tryPromise({
      try: async () => {
        const entry = await kv.get(key)
        revisions.set(key, entry?.revision ?? 0)
        return entry === null || entry.operation !== "PUT" || entry.length === 0 ? undefined : Codec.decode(entry.value) as A
      },
      catch: natsError("KeyValue", `cannot read checkpoint ${key}`)
    })
  return {
    loadPartition: (partition) =>
      Effect.gen(function*() {
        const found = yield* read<OwnedPartitionCheckpoint>(partitionKey(partition))
        // Take over: the same position, stamped with this ownership. From here on a stale
        // owner's compare-and-set on `part.<p>` fails.
        const checkpoint: PartitionCheckpoint = found === undefined
          ? { seq: 0, watermark: Watermark.initial }
          : { seq: found.seq, watermark: found.watermark, ...(found.versions === undefined ? {} : { versions: found.versions }) }
        yield* write(partitionKey(partition), { ...checkpoint, owner } satisfies OwnedPartitionCheckpoint)
        return found === undefined ? undefined : checkpoint
      }),
    loadDevice: (partition, device) => read<DeviceSnapshot>(deviceKey(partition, device)),
    saveDevices: (partition, devices) =>
      Effect.forEach(devices, ([device, snapshot]) => write(deviceKey(partition, device), snapshot), {
        concurrency: 64,
        discard: true
      }),
    savePartition: (partition, checkpoint) =>
      write(partitionKey(partition), { ...checkpoint, owner } satisfies OwnedPartitionCheckpoint).pipe(
        Effect.tap(() => Effect.sync(() => fence.checkpointSaved()))
      ),
    listDevices: (partition) => listDeviceKeys(kv, partition),
    saveAwaited: () => fence.drainRequested
  }
}

/** The storage actor, refusing writes once the fence is shut. */
export const fencedStorage = (storage: StoragePort, fence: Fence): StoragePort => {
  const guard = <A>(effect: Effect.Effect<A>) =>
    Effect.suspend(() => {
      const out = fence.check()
      return out === undefined ? effect : Effect.die(out)
    })
  return {
    writeReadings: (readings) => guard(storage.writeReadings(readings)),
    writeWindows: (results) => guard(storage.writeWindows(results)),
    writeAlarms: (alarms) => guard(storage.writeAlarms(alarms)),
    writeForecasts: (forecasts) => guard(storage.writeForecasts(forecasts)),
    flush: storage.flush
  }
}

/** How long one pull of an owned consumer waits (see `fencedNats`). */
export const OWNED_PULL_EXPIRES_MS = 5_000

/** The delivery-sequence gap that made an owned consumer stop (for logs and tests). */
export interface DeliveryGap {
  readonly partition: number
  readonly expected: number
  readonly got: number
}

const bindAll = <T extends object>(target: T, overrides: Partial<Record<PropertyKey, unknown>>): T =>
  new Proxy(target, {
    get(t, key) {
      if (Object.prototype.hasOwnProperty.call(overrides, key)) return overrides[key]
      const value = Reflect.get(t, key, t)
      return typeof value === "function" ? value.bind(t) : value
    }
  })

/** Messages of the owned consumer: end when the fence shuts or the delivery sequence skips. */
const ownedMessages = (messages: ConsumerMessages, fence: Fence, onGap: (gap: DeliveryGap) => void): ConsumerMessages => {
  let inner: AsyncIterator<JsMsg> | undefined
  let draining = false
  // nats.js runs a consumer's `stop` as a queued step of its iterator, so `close()` (the
  // worker's release) would wait forever on an iterator nobody takes from any more — which
  // is the case once delivery ended here, or once the worker was interrupted between two
  // reads. So from then on, take from it in the background and discard: the worker restarts
  // from its checkpoint and re-reads whatever is dropped here.
  const drain = () => {
    if (draining || inner === undefined) return
    draining = true
    const it = inner
    void (async () => {
      try {
        while (!(await it.next()).done) {
          // discarded
        }
      } catch {
        // the consumer failed: nothing left to drain
      }
    })()
  }
  const iterate = (): AsyncIterator<JsMsg> => {
    const source = messages[Symbol.asyncIterator]()
    inner = source
    // A freshly created consumer (the worker recreates it at every start) delivers 1 first.
    let expected = 1
    let ended = false
    const end = (): IteratorResult<JsMsg> => {
      ended = true
      drain()
      return { done: true, value: undefined }
    }
    return {
      next: async () => {
        if (ended || !fence.holds()) return end()
        const result = await source.next()
        if (result.done === true) return end()
        if (!fence.holds()) return end()
        const got = result.value.info.deliverySequence
        if (got !== expected) {
          onGap({ partition: fence.partition, expected, got })
          return end()
        }
        expected = got + 1
        return result
      },
      return: async () => end()
    }
  }
  return bindAll(messages, {
    [Symbol.asyncIterator]: iterate,
    close: () => {
      const closed = messages.close()
      drain()
      return closed
    },
    stop: (error?: Error) => {
      messages.stop(error)
      drain()
    }
  })
}

/**
 * The same rules for a consumer in callback mode (the partition worker's): a message is
 * passed on only while the fence holds and the delivery sequence has no gap; otherwise the
 * consumer is stopped (its `closed()` resolves) and nothing after is passed on.
 */
const ownedCallback = (callback: (message: JsMsg) => void, fence: Fence, onGap: (gap: DeliveryGap) => void) => {
  // A freshly created consumer (the worker recreates it at every start) delivers 1 first.
  let expected = 1
  let ended = false
  let messages: ConsumerMessages | undefined
  const end = () => {
    ended = true
    messages?.stop()
  }
  return {
    attach: (m: ConsumerMessages) => {
      messages = m
      if (ended) m.stop()
    },
    deliver: (message: JsMsg) => {
      if (ended) return
      if (!fence.holds()) return end()
      // From the reply subject in place: `message.info` would build the delivery info object.
      const got = deliverySequenceOf(replyOf(message))
      if (got !== expected) {
        onGap({ partition: fence.partition, expected, got })
        return end()
      }
      expected = got + 1
      callback(message)
    }
  }
}

/** The node's NATS client as one partition worker sees it while the partition is owned. */
export const fencedNats = (client: NatsClient["Service"], fence: Fence, onGap: (gap: DeliveryGap) => void): NatsClient["Service"] => {
  const js = client.js
  const publish: typeof js.publish = (subject, payload, options) => {
    const out = fence.check()
    return out === undefined ? js.publish(subject, payload, options) : Promise.reject(out)
  }
  const consumers = bindAll(js.consumers, {
    get: async (...args: Parameters<typeof js.consumers.get>) => {
      const consumer = await js.consumers.get(...args)
      return bindAll(consumer, {
        // Pulls expire after 5 s (heartbeats every 2.5 s) unless the worker says otherwise:
        // a pull lost with a dead server or a consumer leader that moved is then noticed and
        // re-issued within seconds; with nats.js' default (30 s) the partition stalls that long.
        consume: async (options?: Parameters<typeof consumer.consume>[0]) => {
          const callback = options?.callback
          if (callback === undefined) {
            return ownedMessages(await consumer.consume({ expires: OWNED_PULL_EXPIRES_MS, ...options } as Parameters<typeof consumer.consume>[0]), fence, onGap)
          }
          const owned = ownedCallback(callback, fence, onGap)
          const messages = await consumer.consume({ expires: OWNED_PULL_EXPIRES_MS, ...options, callback: owned.deliver } as Parameters<typeof consumer.consume>[0])
          owned.attach(messages)
          return messages
        }
      })
    }
  })
  const publisher = {
    publish: (subject: string, data: Uint8Array, msgID: string) => {
      const out = fence.check()
      return out === undefined ? client.publisher.publish(subject, data, msgID) : Promise.reject(out)
    }
  }
  return { ...client, js: bindAll(js, { publish, consumers }), publisher }
}
