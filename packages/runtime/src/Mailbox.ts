/**
 * The bounded queue an actor drains.
 *
 * One policy only: when the mailbox is full the sender suspends until the
 * actor takes a message (backpressure). Nothing is ever dropped or slid out; a
 * message leaves the mailbox only by being taken, or by the mailbox being
 * closed, which hands the undelivered messages back to whoever closed it.
 *
 * The mailbox belongs to the actor, not to one run of it: a supervisor
 * restarting a crashed actor keeps the mailbox, so messages queued before the
 * crash are delivered after the restart.
 *
 * It is a small hand-written queue rather than Effect's `Queue` because a node
 * holds one per device: an empty mailbox is one object and an empty array
 * (Effect's queue carries three `Set`s and a list), and an idle actor need not
 * keep a fibre waiting on it — it *parks* a waker that the next `offer` runs
 * (see `parkUnsafe`), so the actor's fibre can end while its state lives on.
 */
import { Cause, Data, Effect } from "effect"

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
  /** @internal the variance marker; use the functions of this module. */
  readonly _M: (m: M) => M
}

/**
 * What a parked consumer leaves in its mailbox: the next offer (or `close`)
 * runs `wake()`, once, in the sender's fibre. The sender has taken the waker
 * by then, so the offer runs it uninterruptibly: a wake-up lost to an
 * interruption would leave the message with nobody to take it.
 */
export interface Waker {
  wake(): Effect.Effect<void>
}

/** A sender suspended on a full mailbox, with what it still has to deliver. */
interface Sender<M> {
  readonly messages: ReadonlyArray<M>
  offset: number
  readonly resume: (effect: Effect.Effect<Array<M>>) => void
}

class MailboxImpl<in out M> implements Mailbox<M> {
  declare readonly _M: (m: M) => M
  /** Messages from `head` on; the slots before `head` are already taken. */
  items: Array<M> = []
  head = 0
  closed = false
  /** Senders suspended on a full mailbox, oldest first (created when first needed). */
  senders: Array<Sender<M>> | undefined = undefined
  /** Fibres in `take`/`awaitMessage` waiting for a message (created when first needed). */
  takers: Array<() => void> | undefined = undefined
  /** A parked consumer, woken by the next offer. */
  waker: Waker | undefined = undefined
  constructor(readonly capacity: number) {}
}

const impl = <M>(self: Mailbox<M>): MailboxImpl<M> => self as MailboxImpl<M>

const sizeOf = <M>(self: MailboxImpl<M>): number => self.items.length - self.head

const push = <M>(self: MailboxImpl<M>, message: M): void => {
  self.items.push(message)
}

const resumeTakers = <M>(self: MailboxImpl<M>): void => {
  const takers = self.takers
  if (takers === undefined) return
  self.takers = undefined
  for (const resume of takers) resume()
}

// After a message arrived in an empty mailbox: the waiting consumer, if any,
// may go on. Takers are resumed here; a parked consumer's waker is returned for
// the sender to run.
const arrived = <M>(self: MailboxImpl<M>): Effect.Effect<void> => {
  resumeTakers(self)
  const waker = self.waker
  if (waker === undefined) return Effect.void
  self.waker = undefined
  return waker.wake()
}

// Whether a sender may put a message in right now: room, and nobody already
// waiting ahead of it (so suspended senders keep their turn).
const hasRoom = <M>(self: MailboxImpl<M>): boolean =>
  sizeOf(self) < self.capacity && (self.senders === undefined || self.senders.length === 0)

const closed = (): Effect.Effect<never, MailboxClosed> => Effect.fail(new MailboxClosed())

/**
 * Creates an open mailbox holding at most `capacity` messages.
 *
 * A capacity below 1 (or not an integer) is a programming error and dies.
 */
export const make = <M>(capacity: number): Effect.Effect<Mailbox<M>> =>
  Number.isInteger(capacity) && capacity >= 1
    ? Effect.sync(() => new MailboxImpl<M>(capacity))
    : Effect.die(new Cause.IllegalArgumentError(`Mailbox capacity must be a positive integer, got ${capacity}`))

/**
 * Synchronous `make`; the capacity must be a positive integer.
 */
export const makeUnsafe = <M>(capacity: number): Mailbox<M> => new MailboxImpl<M>(capacity)

// Delivers `messages[offset..]`, suspending the sender while the mailbox is
// full; resumes with [] once all are in, or with what did not get in when the
// mailbox closes. Checking for room and registering are one step, so no take
// can free room in between unnoticed.
const waitToOffer = <M>(self: MailboxImpl<M>, messages: ReadonlyArray<M>, offset: number): Effect.Effect<Array<M>> =>
  Effect.callback<Array<M>>((resume) => {
    if (self.closed) return resume(Effect.succeed(messages.slice(offset)))
    const wasEmpty = sizeOf(self) === 0
    let i = offset
    while (i < messages.length && hasRoom(self)) push(self, messages[i++]!)
    if (wasEmpty && i > offset) {
      // The consumer may be parked: wake it before waiting for room.
      const woke = Effect.uninterruptible(arrived(self))
      return resume(i === messages.length ? Effect.as(woke, []) : Effect.andThen(woke, waitToOffer(self, messages, i)))
    }
    if (i === messages.length) return resume(Effect.succeed([]))
    const sender: Sender<M> = { messages, offset: i, resume }
    ;(self.senders ??= []).push(sender)
    return Effect.sync(() => {
      const senders = self.senders
      const at = senders === undefined ? -1 : senders.indexOf(sender)
      if (at >= 0) senders!.splice(at, 1)
    })
  })

/**
 * Puts a message in the mailbox, suspending while it is full. Fails with
 * `MailboxClosed` if the mailbox is (or becomes, while waiting) closed.
 */
export const offer = <M>(self: Mailbox<M>, message: M): Effect.Effect<void, MailboxClosed> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      const mailbox = impl(self)
      if (mailbox.closed) return closed()
      if (hasRoom(mailbox)) {
        push(mailbox, message)
        return sizeOf(mailbox) === 1 ? arrived(mailbox) : Effect.void
      }
      return Effect.flatMap(restore(waitToOffer(mailbox, [message], 0)), (rest) => rest.length === 0 ? Effect.void : closed())
    })
  )

/**
 * Like `offerAll`, but when the mailbox closes part-way returns the messages
 * that did not get in (in order) instead of failing, so the caller can send
 * exactly those elsewhere. Returns an empty array when all were delivered.
 */
export const offerAllPartial = <M>(self: Mailbox<M>, messages: Iterable<M>): Effect.Effect<Array<M>> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      const mailbox = impl(self)
      const all = Array.isArray(messages) ? messages as ReadonlyArray<M> : Array.from(messages)
      if (mailbox.closed) return Effect.succeed(all.slice())
      if (all.length === 0) return Effect.succeed([])
      if (!hasRoom(mailbox) || all.length > mailbox.capacity - sizeOf(mailbox)) return restore(waitToOffer(mailbox, all, 0))
      const wasEmpty = sizeOf(mailbox) === 0
      for (const message of all) push(mailbox, message)
      return wasEmpty ? Effect.as(arrived(mailbox), []) : Effect.succeed([])
    })
  )

/**
 * Puts messages in the mailbox in order, suspending whenever it is full, so a
 * batch larger than the capacity is delivered as the actor makes room.
 */
export const offerAll = <M>(self: Mailbox<M>, messages: Iterable<M>): Effect.Effect<void, MailboxClosed> =>
  Effect.flatMap(offerAllPartial(self, messages), (rest) => rest.length === 0 ? Effect.void : closed())

/**
 * Marker returned by `pollUnsafe` for a closed mailbox.
 */
export const Closed: unique symbol = Symbol.for("@bramble/runtime/Mailbox/Closed")

/**
 * Marker returned by `pollUnsafe` for an empty (open) mailbox.
 */
export const Empty: unique symbol = Symbol.for("@bramble/runtime/Mailbox/Empty")

// Lets suspended senders in, oldest first, while there is room. Senders whose
// messages are all in are resumed after the mailbox is consistent again: a
// resumed sender runs at once and may offer, take or close.
const admitSenders = <M>(self: MailboxImpl<M>): void => {
  const senders = self.senders
  if (senders === undefined || senders.length === 0) return
  const wasEmpty = sizeOf(self) === 0
  let done: Array<Sender<M>> | undefined
  while (senders.length > 0 && sizeOf(self) < self.capacity) {
    const sender = senders[0]!
    while (sender.offset < sender.messages.length && sizeOf(self) < self.capacity) {
      push(self, sender.messages[sender.offset++]!)
    }
    if (sender.offset < sender.messages.length) break
    senders.shift()
    ;(done ??= []).push(sender)
  }
  if (done !== undefined) for (const sender of done) sender.resume(Effect.succeed([]))
  // Only `take` can get here with an empty mailbox and other takers waiting.
  if (wasEmpty && sizeOf(self) > 0) resumeTakers(self)
}

/**
 * Takes the oldest message if there is one, without waiting. Returns `Empty`
 * when the mailbox is empty and `Closed` when it is closed. A waiting sender,
 * if any, is let in at once.
 */
export const pollUnsafe = <M>(self: Mailbox<M>): M | typeof Empty | typeof Closed => {
  const mailbox = impl(self)
  if (mailbox.closed) return Closed
  const items = mailbox.items
  if (mailbox.head === items.length) return Empty
  const message = items[mailbox.head]!
  ;(items as Array<M | undefined>)[mailbox.head] = undefined
  mailbox.head++
  if (mailbox.head === items.length) {
    items.length = 0
    mailbox.head = 0
  } else if (mailbox.head >= 1024 && mailbox.head * 2 >= items.length) {
    items.splice(0, mailbox.head)
    mailbox.head = 0
  }
  admitSenders(mailbox)
  return message
}

// Resumes when the mailbox holds a message or is closed (or spuriously: the
// caller checks again).
const awaitArrival = <M>(self: MailboxImpl<M>): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (self.closed || sizeOf(self) > 0) return resume(Effect.void)
    const taker = () => resume(Effect.void)
    ;(self.takers ??= []).push(taker)
    return Effect.sync(() => {
      const takers = self.takers
      const i = takers === undefined ? -1 : takers.indexOf(taker)
      if (i >= 0) takers!.splice(i, 1)
    })
  })

/**
 * Takes the oldest message, waiting for one if the mailbox is empty.
 */
export const take = <M>(self: Mailbox<M>): Effect.Effect<M, MailboxClosed> =>
  Effect.suspend(() => {
    const polled = pollUnsafe(self)
    if (polled === Closed) return closed()
    if (polled === Empty) return Effect.andThen(awaitArrival(impl(self)), take(self))
    return Effect.succeed(polled)
  })

/**
 * Waits until the mailbox holds at least one message, without taking it.
 * Interrupting the wait loses nothing, which makes it safe to race against a
 * timer.
 */
export const awaitMessage = <M>(self: Mailbox<M>): Effect.Effect<void, MailboxClosed> =>
  Effect.suspend(() => {
    const mailbox = impl(self)
    if (mailbox.closed) return closed()
    if (sizeOf(mailbox) > 0) return Effect.void
    return Effect.andThen(awaitArrival(mailbox), awaitMessage(self))
  })

/**
 * Parks the mailbox's consumer: if the mailbox is open and empty, `waker.wake()`
 * is run (once) by the next `offer`, in the sender's fibre, and `true` is
 * returned; otherwise nothing is registered and `false` is returned (there is
 * a message to take, or the mailbox is closed). A consumer parks instead of
 * waiting in a fibre, so an idle actor holds no fibre at all.
 */
export const parkUnsafe = <M>(self: Mailbox<M>, waker: Waker): boolean => {
  const mailbox = impl(self)
  if (mailbox.closed || sizeOf(mailbox) > 0) return false
  mailbox.waker = waker
  return true
}

/**
 * Whether a consumer is parked on the mailbox (it is then open and empty).
 */
export const isParkedUnsafe = <M>(self: Mailbox<M>): boolean => impl(self).waker !== undefined

/**
 * Takes back a parked waker without running it; returns it, if one was parked.
 */
export const unparkUnsafe = <M>(self: Mailbox<M>): Waker | undefined => {
  const mailbox = impl(self)
  const waker = mailbox.waker
  mailbox.waker = undefined
  return waker
}

/**
 * Number of messages waiting (not counting senders suspended on a full
 * mailbox).
 */
export const size = <M>(self: Mailbox<M>): Effect.Effect<number> => Effect.sync(() => sizeUnsafe(self))

/**
 * Synchronous `size`.
 */
export const sizeUnsafe = <M>(self: Mailbox<M>): number => sizeOf(impl(self))

/**
 * Whether the next sender would suspend.
 */
export const isFull = <M>(self: Mailbox<M>): Effect.Effect<boolean> => Effect.sync(() => !hasRoom(impl(self)))

/**
 * Whether the mailbox has been closed.
 */
export const isClosedUnsafe = <M>(self: Mailbox<M>): boolean => impl(self).closed

/**
 * Closes the mailbox and returns the messages it still held, including those
 * of senders that were suspended on it (in order; the senders succeed, their
 * messages having been handed over). Later offers fail with `MailboxClosed`.
 * Closing twice returns nothing the second time. A parked consumer is not
 * woken (its waker is dropped); `close` wakes it.
 */
export const closeUnsafe = <M>(self: Mailbox<M>): Array<M> => {
  const mailbox = impl(self)
  if (mailbox.closed) return []
  mailbox.closed = true
  mailbox.waker = undefined
  const undelivered = mailbox.items.slice(mailbox.head)
  mailbox.items = []
  mailbox.head = 0
  const senders = mailbox.senders
  mailbox.senders = undefined
  if (senders !== undefined) {
    for (const sender of senders) {
      for (let i = sender.offset; i < sender.messages.length; i++) undelivered.push(sender.messages[i]!)
    }
    for (const sender of senders) sender.resume(Effect.succeed([]))
  }
  resumeTakers(mailbox)
  return undelivered
}

/**
 * Effectful `closeUnsafe`; also wakes a parked consumer, so that it sees the
 * mailbox closed.
 */
export const close = <M>(self: Mailbox<M>): Effect.Effect<Array<M>> =>
  Effect.uninterruptible(Effect.suspend(() => {
    const waker = impl(self).waker
    const undelivered = closeUnsafe(self)
    return waker === undefined ? Effect.succeed(undelivered) : Effect.as(waker.wake(), undelivered)
  }))
