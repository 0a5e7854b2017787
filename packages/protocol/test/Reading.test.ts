import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import { Codec, decodePayload, decodePayloadWithSchema, decodeReading, decodeReadings, encodeBatchRecord, encodeReadingPayload } from "@bramble/protocol"

const now = Date.UTC(2026, 10, 21)
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value))
const rejectionOf = (bytes: Uint8Array) => {
  const result = decodeReading(bytes, "dev-1", "env", now)
  assert.isTrue(Result.isFailure(result), "expected a rejection")
  return (result as Result.Failure<never, { reason: string; message: string }>).failure
}

describe("Reading", () => {
  it("tags - kept on the reading; device and sensor cannot be tags", () => {
    const ok = decodeReading(json({ ts: now, values: { t: 1 }, tags: { region: "north" } }), "dev-1", "env", now)
    assert.deepStrictEqual(Result.isSuccess(ok) ? ok.success : ok.failure, { device: "dev-1", sensor: "env", ts: now, values: { t: 1 }, tags: { region: "north" } })
    assert.strictEqual(rejectionOf(json({ values: { t: 1 }, tags: { device: "other" } })).reason, "SchemaMismatch")
    assert.strictEqual(rejectionOf(json({ values: { t: 1 }, tags: { region: 5 } })).reason, "SchemaMismatch")
  })

  it("batch record - each reading checked alone, the good ones kept, refusals say which item", () => {
    const bytes = encodeBatchRecord([{ ts: now - 2, values: { t: 1 } }, { ts: 5, values: { t: 2 } }, { ts: now - 1, values: { t: 3 }, tags: { region: "s" } }])
    const out = decodeReadings(bytes, "dev-1", "env", now)
    assert.deepStrictEqual(out.readings, [
      { device: "dev-1", sensor: "env", ts: now - 2, values: { t: 1 } },
      { device: "dev-1", sensor: "env", ts: now - 1, values: { t: 3 }, tags: { region: "s" } }
    ])
    assert.deepStrictEqual(out.refusals.map((r) => [r.reason, r.message.slice(0, 7)]), [["TimestampOutOfRange", "item 1:"]])
    // One reading is one reading; decodeReading refuses a batch record (its callers expect one).
    assert.lengthOf(decodeReadings(json({ values: { t: 1 } }), "dev-1", "env", now).readings, 1)
    assert.strictEqual(rejectionOf(bytes).reason, "SchemaMismatch")
    assert.deepStrictEqual(decodeReadings(json({ readings: [] }), "dev-1", "env", now).refusals.map((r) => r.reason), ["SchemaMismatch"])
    assert.deepStrictEqual(decodeReadings(json({ readings: [{ values: { t: 1 }, device: "dev-2" }] }), "dev-1", "env", now).refusals.map((r) => r.reason), ["DeviceMismatch"])
  })

  it("decode - JSON from MQTT with ms timestamp", () => {
    const result = decodeReading(json({ ts: now - 5, values: { temperature: 21.5, humidity: 40 } }), "dev-1", "env", now)
    assert.deepStrictEqual(Result.getOrThrow(result), {
      device: "dev-1",
      sensor: "env",
      ts: now - 5,
      values: { temperature: 21.5, humidity: 40 }
    })
  })

  it("decode - msgpack from NATS keeps the sequence", () => {
    const bytes = encodeReadingPayload({ device: "dev-1", ts: now, seq: 7, values: { t: -3 } })
    assert.deepStrictEqual(Result.getOrThrow(decodeReading(bytes, "dev-1", "env", now)), {
      device: "dev-1",
      sensor: "env",
      ts: now,
      seq: 7,
      values: { t: -3 }
    })
  })

  it("decode - a missing ts takes the time the log stored the message", () => {
    const reading = Result.getOrThrow(decodeReading(json({ values: { t: 1 } }), "dev-1", "env", now))
    assert.strictEqual(reading.ts, now)
  })

  it("decode - ISO-8601 timestamps are accepted", () => {
    const reading = Result.getOrThrow(decodeReading(json({ ts: "2026-11-20T10:00:00.250Z", values: { t: 1 } }), "dev-1", "env", now))
    assert.strictEqual(reading.ts, Date.UTC(2026, 10, 20, 10, 0, 0, 250))
  })

  it("reject - malformed JSON is MalformedJson", () => {
    assert.strictEqual(rejectionOf(new TextEncoder().encode("{\"values\": {")).reason, "MalformedJson")
  })

  it("reject - wrong types name the path", () => {
    const rejection = rejectionOf(json({ values: { temperature: "hot" } }))
    assert.strictEqual(rejection.reason, "SchemaMismatch")
    assert.include(rejection.message, "temperature")
  })

  it("reject - NaN and Infinity in msgpack are SchemaMismatch", () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      assert.strictEqual(rejectionOf(Codec.encode({ values: { t: bad } })).reason, "SchemaMismatch")
    }
  })

  it("reject - empty values, too many values, bad metric names", () => {
    assert.strictEqual(rejectionOf(json({ values: {} })).reason, "SchemaMismatch")
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`m${i}`, i]))
    assert.strictEqual(rejectionOf(json({ values: many })).reason, "SchemaMismatch")
    assert.strictEqual(rejectionOf(json({ values: { "a b": 1 } })).reason, "SchemaMismatch")
    assert.strictEqual(rejectionOf(json({ values: { "t,x=1": 1 } })).reason, "SchemaMismatch")
    assert.strictEqual(rejectionOf(json({ values: { __proto__x: 1, ["__proto__"]: 1 } })).reason, "SchemaMismatch")
  })

  it("reject - a payload naming another device is DeviceMismatch", () => {
    assert.strictEqual(rejectionOf(json({ device: "dev-2", values: { t: 1 } })).reason, "DeviceMismatch")
  })

  it("reject - seconds instead of milliseconds, and far-future times", () => {
    const seconds = rejectionOf(json({ ts: Math.floor(now / 1000), values: { t: 1 } }))
    assert.strictEqual(seconds.reason, "TimestampOutOfRange")
    assert.include(seconds.message, "seconds")
    assert.strictEqual(rejectionOf(json({ ts: now + 48 * 3600_000, values: { t: 1 } })).reason, "TimestampOutOfRange")
    assert.strictEqual(rejectionOf(json({ ts: "yesterday", values: { t: 1 } })).reason, "TimestampOutOfRange")
    assert.strictEqual(rejectionOf(json({ ts: 1.5e12 + 0.5, values: { t: 1 } })).reason, "TimestampOutOfRange")
  })

  it("reject - oversized payloads", () => {
    assert.strictEqual(rejectionOf(new Uint8Array(20_000).fill(0x20)).reason, "Oversized")
  })

  it("decode - arbitrary bytes never throw, they are accepted or rejected with a reason", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const result = decodeReading(bytes, "dev-1", "env", now)
        if (Result.isFailure(result)) assert.isString(result.failure.reason)
      }),
      { numRuns: 2000 }
    )
  })

  it("codec - msgpack round-trips valid payloads", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[a-z][a-z_]{0,11}$/), fc.double({ noNaN: true, noDefaultInfinity: true }), {
          minKeys: 1,
          maxKeys: 8
        }),
        fc.integer({ min: now - 1e10, max: now }),
        (values, ts) => {
          const reading = Result.getOrThrow(decodeReading(encodeReadingPayload({ ts, values }), "d", "s", now))
          // msgpack has no negative integer zero: -0 arrives as 0, which is the same reading.
          const normalised = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v === 0 ? 0 : v]))
          assert.deepStrictEqual(reading.values, normalised)
          assert.strictEqual(reading.ts, ts)
        }
      )
    )
  })

  it("decode - the fast path agrees with the Schema on every input (accepts the same, with the same value)", () => {
    // Near-valid payloads, so both the fast path and its fallbacks are exercised.
    const name = fc.oneof(fc.constantFrom("temperature", "humidity", "t", "a_b-1", "__proto__", "1x", "", "x y", "toString"), fc.string({ maxLength: 70 }))
    const number = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, 2 ** 60))
    const values = fc.oneof(
      fc.dictionary(name, fc.oneof(number, fc.constant(undefined), fc.string(), fc.constant(null)), { minKeys: 0, maxKeys: 40 }),
      fc.array(number),
      fc.constant(null)
    )
    const payload = fc.record(
      {
        device: fc.oneof(fc.constantFrom("dev-1", "dev 1", "", "a".repeat(65)), fc.string(), fc.constant(undefined), fc.integer()),
        ts: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(undefined), fc.constant(null)),
        seq: fc.oneof(fc.integer(), fc.double(), fc.constant(-1), fc.constant(2 ** 60), fc.constant(undefined), fc.string()),
        values,
        extra: fc.anything()
      },
      { requiredKeys: ["values"] }
    )
    const input = fc.oneof(payload, fc.anything())
    fc.assert(
      fc.property(input, (raw) => {
        const fast = decodePayload(raw)
        const reference = decodePayloadWithSchema(raw)
        assert.strictEqual(fast._tag, reference._tag, `fast ${fast._tag}, Schema ${reference._tag} for ${String(JSON.stringify(raw))}`)
        if (Result.isSuccess(fast) && Result.isSuccess(reference)) assert.deepStrictEqual({ ...fast.success }, { ...reference.success })
      }),
      { numRuns: 5_000 }
    )
    // And the common payloads really take it: a valid one decodes to the object it was given.
    const valid = { ts: now, seq: 3, values: { temperature: 21.5 } }
    assert.strictEqual(Result.getOrThrow(decodePayload(valid)), valid)
  })
})
