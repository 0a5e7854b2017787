/**
 * The bounded queue an actor drains.
 *
 * A thin layer over Effect's `Queue` with the one policy Bramble allows: when
 * the mailbox is full the sender suspends until the actor takes a message
 * (backpressure). Nothing is ever dropped or slid out; a message leaves the
 * mailbox only by being taken, or by the mailbox being closed, which hands the
 * undelivered messages back to whoever closed it.
 *
 * The mailbox belongs to the actor, not to one run of it: a supervisor
 * restarting a crashed actor keeps the mailbox, so messages queued before the
 * crash are delivered after the restart.
 */
import { Cause, Data, Effect, Queue } from "effect"

/**
 * A message was offered to (or awaited from) a mailbox that has been closed.
 */
export class MailboxClosed extends Data.TaggedError("MailboxClosed")<{}> {}

/**
 * A bounded, backpressuring mailbox of messages `M`.
 */
export interface Mailbox<in out M> {
  /** Most messages that wait in the mailbox before senders suspend. */
  readonly capacity: number
  /** @internal the underlying queue; use the functions of this module. */
  readonly queue: Queue.Queue<M>
}

/**
 * Creates an open mailbox holding at most `capacity` messages.
 *
 * A capacity below 1 (or not an integer) is a programming error and dies.
 */
export const make = <M>(capacity: number): Effect.Effect<Mailbox<M>> =>
  Number.isInteger(capacity) && capacity >= 1
    ? Effect.map(Queue.bounded<M>(capacity), (queue) => ({ capacity, queue }))
    : Effect.die(new Cause.IllegalArgumentError(`Mailbox capacity must be a positive integer, got ${capacity}`))

const closed = (): Effect.Effect<never, MailboxClosed> => Effect.fail(new MailboxClosed())

/**
 * Puts a message in the mailbox, suspending while it is full. Fails with
 * `MailboxClosed` if the mailbox is (or becomes, while waiting) closed.
 */
export const offer = <M>(self: Mailbox<M>, message: M): Effect.Effect<void, MailboxClosed> =>
  Effect.flatMap(Queue.offer(self.queue, message), (accepted) => accepted ? Effect.void : closed())

/**
 * Puts messages in the mailbox in order, suspending whenever it is full, so a
 * batch larger than the capacity is delivered as the actor makes room.
 */
export const offerAll = <M>(self: Mailbox<M>, messages: Iterable<M>): Effect.Effect<void, MailboxClosed> =>
  Effect.flatMap(
    Queue.offerAll(self.queue, messages),
    (rejected) => rejected.length === 0 ? Effect.void : closed()
  )

/**
 * Like `offerAll`, but when the mailbox closes part-way returns the messages
 * that did not get in (in order) instead of failing, so the caller can send
 * exactly those elsewhere. Returns an empty array when all were delivered.
 */
export const offerAllPartial = <M>(self: Mailbox<M>, messages: Iterable<M>): Effect.Effect<Array<M>> =>
  Queue.offerAll(self.queue, messages)

/**
 * Takes the oldest message, waiting for one if the mailbox is empty.
 */
export const take = <M>(self: Mailbox<M>): Effect.Effect<M, MailboxClosed> =>
  Effect.catchCause(Queue.take(self.queue), (cause) => isClosedUnsafe(self) ? closed() : Effect.failCause(cause))

/**
 * Marker returned by `pollUnsafe` for a closed mailbox.
 */
export const Closed: unique symbol = Symbol.for("@bramble/runtime/Mailbox/Closed")

/**
 * Takes the oldest message if there is one, without waiting. Returns
 * `undefined` when the mailbox is empty and `Closed` when it is closed. A
 * waiting sender, if any, is let in at once.
 */
export const pollUnsafe = <M>(self: Mailbox<M>): { readonly value: M } | undefined | typeof Closed => {
  const exit = Queue.takeUnsafe(self.queue)
  return exit === undefined ? undefined : exit._tag === "Success" ? exit : Closed
}

/**
 * Waits until the mailbox holds at least one message, without taking it.
 * Interrupting the wait loses nothing, which makes it safe to race against a
 * timer.
 */
export const awaitMessage = <M>(self: Mailbox<M>): Effect.Effect<void, MailboxClosed> =>
  Effect.catchCause(
    Effect.asVoid(Queue.peek(self.queue)),
    (cause) => isClosedUnsafe(self) ? closed() : Effect.failCause(cause)
  )

/**
 * Number of messages waiting (not counting senders suspended on a full
 * mailbox).
 */
export const size = <M>(self: Mailbox<M>): Effect.Effect<number> => Effect.sync(() => sizeUnsafe(self))

/**
 * Synchronous `size`.
 */
export const sizeUnsafe = <M>(self: Mailbox<M>): number => Queue.sizeUnsafe(self.queue)

/**
 * Whether the next sender would suspend.
 */
export const isFull = <M>(self: Mailbox<M>): Effect.Effect<boolean> =>
  Effect.sync(() => Queue.sizeUnsafe(self.queue) >= self.capacity)

/**
 * Whether the mailbox has been closed.
 */
export const isClosedUnsafe = <M>(self: Mailbox<M>): boolean => self.queue.state._tag !== "Open"

/**
 * Closes the mailbox and returns the messages it still held, including those
 * of senders that were suspended on it (in order). Later offers fail with
 * `MailboxClosed`. Closing twice returns nothing the second time.
 */
export const closeUnsafe = <M>(self: Mailbox<M>): Array<M> => {
  const undelivered: Array<M> = []
  // Taking one at a time lets suspended senders in behind, so their messages
  // are handed back too instead of being silently rejected.
  for (;;) {
    const exit = Queue.takeUnsafe(self.queue)
    if (exit === undefined || exit._tag === "Failure") break
    undelivered.push(exit.value)
  }
  Queue.shutdownUnsafe(self.queue)
  return undelivered
}

/**
 * Effectful `closeUnsafe`.
 */
export const close = <M>(self: Mailbox<M>): Effect.Effect<Array<M>> => Effect.sync(() => closeUnsafe(self))
