/**
 * Dead letters always fit in one NATS message, whatever they wrap (issue 15: nats-server 2.9
 * stores MQTT publishes of any size), and the ClockAhead refusal of readings stamped too far
 * ahead of the time the log stored them.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Result } from "effect"
import { DEAD_LETTER_PAYLOAD_LIMIT, deadLetterOf, decodeReading, encodeDeadLetter, readDeadLetter } from "@bramble/protocol"

const NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024
const HOUR = 3_600_000

describe("dead letter", () => {
  it("any payload - the entry stays far below max_payload; a payload over the limit is carried as its beginning, with its size", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 3 * 1024 * 1024 }), fc.nat({ max: 255 }), fc.string({ maxLength: 300 }), (size, fill, subject) => {
      const payload = new Uint8Array(size).fill(fill)
      payload[0] = 1
      const bytes = encodeDeadLetter(deadLetterOf({ reason: "Oversized", message: `payload is ${size} bytes`, subject, streamSeq: 7, at: 1 }, payload))
      assert.isBelow(bytes.length, DEAD_LETTER_PAYLOAD_LIMIT + 4096)
      assert.isBelow(bytes.length, NATS_DEFAULT_MAX_PAYLOAD)
      const entry = readDeadLetter(bytes)
      assert.strictEqual(entry.streamSeq, 7)
      if (size <= DEAD_LETTER_PAYLOAD_LIMIT) {
        assert.isUndefined(entry.truncated)
        assert.isTrue(Buffer.from(entry.payload).equals(Buffer.from(payload)))
      } else {
        assert.strictEqual(entry.truncated, size)
        assert.isTrue(Buffer.from(entry.payload).equals(Buffer.from(payload.subarray(0, DEAD_LETTER_PAYLOAD_LIMIT))))
      }
    }), { numRuns: 60 })
  })
})

describe("reading - a clock ahead", () => {
  const limits = { maxPayloadBytes: 16 * 1024, maxFutureSkewMs: 24 * HOUR, maxClockAheadMs: 60_000 }
  const payload = (ts: number) => new TextEncoder().encode(JSON.stringify({ ts, values: { t: 1 } }))

  it("ahead by more than maxClockAhead is ClockAhead (with the claimed time), by more than a day TimestampOutOfRange, else accepted", () => {
    fc.assert(fc.property(fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }), fc.integer({ min: -HOUR, max: 30 * HOUR }), (storedAt, ahead) => {
      const decoded = decodeReading(payload(storedAt + ahead), "d", "s", storedAt, limits)
      if (ahead > 24 * HOUR) {
        assert.isTrue(Result.isFailure(decoded) && decoded.failure.reason === "TimestampOutOfRange")
      } else if (ahead > 60_000) {
        assert.isTrue(Result.isFailure(decoded))
        if (Result.isFailure(decoded)) {
          assert.strictEqual(decoded.failure.reason, "ClockAhead")
          assert.strictEqual(decoded.failure.eventTime, storedAt + ahead)
          assert.include(decoded.failure.message, "ahead of the time the log stored")
        }
      } else {
        assert.isTrue(Result.isSuccess(decoded))
      }
    }))
  })

  it("without maxClockAhead, only the day limit applies", () => {
    const decoded = decodeReading(payload(1_800_000_000_000 + HOUR), "d", "s", 1_800_000_000_000, { maxPayloadBytes: 16 * 1024, maxFutureSkewMs: 24 * HOUR })
    assert.isTrue(Result.isSuccess(decoded))
  })
})
