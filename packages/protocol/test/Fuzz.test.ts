/**
 * Property-based fuzzing of every decoder a hostile device or client can reach: readings
 * (JSON and msgpack, arbitrary bytes, hostile ids and metric names, huge numbers,
 * NaN/Infinity, absurd timestamps), stored subjects, dead letters, window results, alarms,
 * forecasts and the admin requests and replies.
 *
 * The properties: no decoder ever crashes (the result-returning ones never throw; the
 * throwing ones throw an `Error` with a message, never anything else); every refusal carries
 * a reason from the documented set and a message; and whatever a decoder accepts satisfies
 * its Schema, with ids in the allowed set (`[A-Za-z0-9_-]{1,64}`, metric names starting with
 * a letter), finite values and an in-range event time — which is what makes the line-protocol
 * path safe (packages/influx/test/Fuzz.test.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import fc from "fast-check"
import {
  Admin,
  Alarm,
  Codec,
  DeadLetter,
  decodeReading,
  Forecast,
  MAX_VALUES,
  METRIC_PATTERN,
  MIN_TIMESTAMP_MS,
  parseAlarm,
  readAlarm,
  readDeadLetter,
  readForecast,
  Reading,
  RejectionReason,
  readWindowResult,
  Subjects,
  WindowResult
} from "@bramble/protocol"

const NOW = Date.UTC(2026, 10, 21, 12)
const DAY = 24 * 3600_000
const REASONS = new Set<string>(RejectionReason.literals)
const encoder = new TextEncoder()

// ---------------------------------------------------------------------------------------
// Generators

/** Characters that break subjects, MQTT topics, line protocol, terminals and JSON. */
const nastyChar = fc.constantFrom(
  " ", ",", "=", "\n", "\r", "\t", "\\", "\"", "'", "#", ".", "*", ">", "/", "+", "$", "{", "}",
  "é", "温", "🌡", "\uD800", "\uDC00", "\u0000", "\u202E", "\u00A0", "a", "Z", "0", "_", "-"
)
const hostileString = fc.oneof(
  fc.string({ unit: nastyChar, minLength: 0, maxLength: 70 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.constantFrom("", "__proto__", "constructor", "prototype", "toString", "a".repeat(64), "a".repeat(65), "temp erature", "t,x=1", "t\nmeasurement f=1 1")
)
const validToken = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/)
const validMetric = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/)
const idLike = fc.oneof({ weight: 2, arbitrary: validToken }, { weight: 1, arbitrary: hostileString })
const metricLike = fc.oneof({ weight: 3, arbitrary: validMetric }, { weight: 1, arbitrary: hostileString })

/** Numbers, and things that are almost numbers. */
const numberLike: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.double() }, // includes NaN, ±Infinity, -0, subnormals
  { weight: 2, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom(Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, NaN, Infinity, -Infinity, -0) },
  { weight: 1, arbitrary: fc.constantFrom("NaN", "Infinity", "1e3", "", null, true, [], {}, [1]) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }) } // msgpack int64/uint64
)

/** Event times: in range, out of range either way, fractional, ISO strings good and bad. */
const tsLike: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: MIN_TIMESTAMP_MS, max: NOW + DAY }) },
  { weight: 1, arbitrary: fc.integer({ min: -1e15, max: MIN_TIMESTAMP_MS - 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: NOW + DAY + 1, max: 8.64e15 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1_600_000_000, max: 1_800_000_000 }) }, // seconds, not ms
  { weight: 1, arbitrary: fc.double({ min: MIN_TIMESTAMP_MS, max: NOW }) },
  { weight: 1, arbitrary: fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toISOString()) },
  { weight: 1, arbitrary: fc.constantFrom("yesterday", "2026-13-45T00:00:00Z", "", "0", "1e12", NaN, Infinity, null, -0, 1e300) }
)

/** A payload object shaped like a reading, with hostile parts. */
const payloadLike: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    device: idLike,
    ts: tsLike,
    seq: fc.oneof(fc.nat(), fc.constantFrom(-1, 1.5, 2 ** 60, "7", null)),
    values: fc.oneof(
      { weight: 6, arbitrary: fc.dictionary(metricLike, numberLike, { minKeys: 0, maxKeys: MAX_VALUES + 3 }) },
      { weight: 1, arbitrary: fc.anything() }
    ),
    extra: fc.anything()
  },
  { requiredKeys: [] }
)

/** A payload that should be accepted (device matching the subject's, or absent). */
const validPayload = (device: string) =>
  fc.record(
    {
      device: fc.constant(device),
      ts: fc.oneof(fc.integer({ min: MIN_TIMESTAMP_MS, max: NOW - DAY }), fc.date({ min: new Date(MIN_TIMESTAMP_MS), max: new Date(NOW - DAY), noInvalidDate: true }).map((d) => d.toISOString())),
      seq: fc.nat(),
      values: fc.dictionary(validMetric, fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -0)), { minKeys: 1, maxKeys: MAX_VALUES })
    },
    { requiredKeys: ["values"] }
  )

/** Bytes a device might send: encodings of payloads, raw JSON text with NaN, garbage, huge. */
const bytesLike: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: validPayload("dev-1").map((p) => Codec.encode(p)) },
  { weight: 2, arbitrary: validPayload("dev-1").map((p) => encoder.encode(JSON.stringify(p))) },
  { weight: 4, arbitrary: payloadLike.map((p) => encoder.encode(JSON.stringify(p, (_k, v) => (typeof v === "bigint" ? Number(v) : v)))) },
  { weight: 4, arbitrary: payloadLike.map((p) => Codec.encode(p)) },
  { weight: 1, arbitrary: fc.tuple(validMetric, fc.constantFrom("NaN", "Infinity", "-Infinity", "1e999", "0x10", "01")).map(([m, v]) => encoder.encode(`{"values": {"${m}": ${v}}}`)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: payloadLike.chain((p) => { const full = Codec.encode(p); return fc.nat({ max: full.length }).map((n) => full.slice(0, n)) }) },
  { weight: 1, arbitrary: fc.constantFrom(
    encoder.encode("{".repeat(5000)),
    encoder.encode(`{"values": ${"[".repeat(3000)}${"]".repeat(3000)}}`),
    encoder.encode(`  \n{"values": {"t": 1}}`),
    new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), // "{", invalid UTF-8, "}"
    new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]), // msgpack array32 claiming 4 billion items
    new Uint8Array([0xdf, 0xff, 0xff, 0xff, 0xff]), // map32 likewise
    new Uint8Array([0xc6, 0xff, 0xff, 0xff, 0xff]), // bin32 likewise
    encoder.encode(JSON.stringify({ values: { t: 1 }, pad: "x".repeat(20_000) })) // oversized
  ) }
)

/** Bytes for the other decoders: their own shape with hostile parts, anything msgpack can hold, garbage. */
const recordBytes = (shape: fc.Arbitrary<unknown>): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 3, arbitrary: shape.map((v) => Codec.encode(v)) },
    { weight: 1, arbitrary: shape.map((v) => encoder.encode(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x instanceof Uint8Array ? [...x] : x)))) },
    { weight: 2, arbitrary: fc.anything().map((v) => Codec.encode(v)) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }) }
  )

/** Mostly-valid records: a valid one, the same with one field made hostile or removed, or one made of hostile parts. */
const nearly = <A extends Record<string, unknown>>(valid: fc.Arbitrary<A>, hostile: fc.Arbitrary<Partial<Record<keyof A, unknown>>>): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 2, arbitrary: valid },
    {
      weight: 3,
      arbitrary: fc.tuple(valid, fc.anything(), fc.oneof(numberLike, hostileString, tsLike), fc.boolean()).chain(([record, _junk, replacement, remove]) =>
        fc.constantFrom(...Object.keys(record)).map((key) => {
          const copy: Record<string, unknown> = { ...record }
          if (remove) delete copy[key]
          else copy[key] = replacement
          return copy
        })
      )
    },
    { weight: 1, arbitrary: hostile }
  )

const finite = fc.double({ noNaN: true, noDefaultInfinity: true })
const inRange = fc.integer({ min: MIN_TIMESTAMP_MS, max: NOW })

const windowLike = nearly(
  fc.record({ device: validToken, sensor: validToken, metric: validMetric, window: validToken, start: inRange, end: inRange, count: fc.nat(), mean: finite, min: finite, max: finite, first: finite, last: finite, stddev: finite }),
  fc.record({ device: idLike, sensor: idLike, metric: idLike, window: idLike, start: tsLike, end: tsLike, count: numberLike, mean: numberLike, min: numberLike, max: numberLike, first: numberLike, last: numberLike, stddev: numberLike }, { requiredKeys: [] })
)
const alarmLike = nearly(
  fc.record({ device: validToken, rule: validToken, state: fc.constantFrom("raised", "cleared"), value: finite, message: fc.string(), at: inRange }),
  fc.record({ device: idLike, rule: idLike, state: fc.oneof(fc.constantFrom("raised", "cleared"), hostileString), value: numberLike, message: fc.oneof(hostileString, fc.anything()), at: tsLike }, { requiredKeys: [] })
)
const forecastLike = nearly(
  fc.record({ device: validToken, sensor: validToken, metric: validMetric, window: validToken, start: inRange, mean: finite, basedOn: fc.nat() }),
  fc.record({ device: idLike, sensor: idLike, metric: idLike, window: idLike, start: tsLike, mean: numberLike, basedOn: numberLike }, { requiredKeys: [] })
)
const deadLetterLike = nearly(
  fc.record({ reason: fc.constantFrom(...RejectionReason.literals), message: fc.string(), subject: fc.string(), streamSeq: fc.nat(), at: inRange, payload: fc.uint8Array({ maxLength: 50 }) }),
  fc.record({
    reason: fc.oneof(fc.constantFrom(...RejectionReason.literals), hostileString),
    message: fc.oneof(hostileString, fc.anything()),
    subject: fc.oneof(hostileString, fc.anything()),
    streamSeq: numberLike,
    at: tsLike,
    payload: fc.oneof(fc.uint8Array({ maxLength: 50 }), fc.anything())
  }, { requiredKeys: [] })
)

// ---------------------------------------------------------------------------------------
// Checks

const RUNS = { numRuns: 3_000 }

/** Runs a decoder that signals refusal by throwing: it returns a value its Schema accepts, or throws an Error with a message. */
const throwsOrValid = <A>(decode: (bytes: Uint8Array) => A, is: (u: unknown) => boolean) => (bytes: Uint8Array): "accepted" | "refused" => {
  let value: A
  try {
    value = decode(bytes)
  } catch (error) {
    assert.instanceOf(error, Error, `threw a non-Error: ${String(error)}`)
    assert.isAbove((error as Error).message.length, 0, "an error without a message")
    return "refused"
  }
  assert.isTrue(is(value), `accepted something its Schema refuses: ${String(JSON.stringify(value))}`)
  return "accepted"
}

const isToken = (s: unknown) => typeof s === "string" && Subjects.TOKEN_PATTERN.test(s)

describe("fuzz - readings", () => {
  it("decodeReading never throws; every refusal has a documented reason and a message; every acceptance is a valid, in-range reading", () => {
    let accepted = 0
    const reasons = new Set<string>()
    fc.assert(
      fc.property(bytesLike, fc.oneof(fc.constant("dev-1"), validToken), validToken, fc.integer({ min: NOW - 365 * DAY, max: NOW }), (bytes, device, sensor, storedAt) => {
        let result: ReturnType<typeof decodeReading>
        try {
          result = decodeReading(bytes, device, sensor, storedAt)
        } catch (error) {
          assert.fail(`decodeReading threw: ${String(error)}`)
        }
        if (Result.isFailure(result)) {
          const rejection = result.failure
          assert.isTrue(REASONS.has(rejection.reason), `unknown reason ${rejection.reason}`)
          assert.isString(rejection.message)
          assert.isAbove(rejection.message.length, 0)
          reasons.add(rejection.reason)
          return
        }
        accepted++
        const r = result.success
        assert.isTrue(Schema.is(Reading)(r))
        assert.strictEqual(r.device, device)
        assert.strictEqual(r.sensor, sensor)
        assert.isTrue(Number.isSafeInteger(r.ts) && r.ts >= MIN_TIMESTAMP_MS && r.ts <= storedAt + DAY, `ts ${r.ts}`)
        const metrics = Object.keys(r.values)
        assert.isTrue(metrics.length >= 1 && metrics.length <= MAX_VALUES)
        for (const metric of metrics) {
          assert.match(metric, METRIC_PATTERN)
          assert.isTrue(Number.isFinite(r.values[metric]), `${metric} = ${r.values[metric]}`)
        }
        assert.isTrue(r.seq === undefined || (Number.isSafeInteger(r.seq) && r.seq >= 0))
      }),
      RUNS
    )
    // The generators must reach both sides, and most refusal reasons, or the property says little.
    assert.isAbove(accepted, 200, "accepted readings")
    for (const reason of ["MalformedJson", "MalformedMsgpack", "SchemaMismatch", "DeviceMismatch", "TimestampOutOfRange", "Oversized"]) {
      assert.isTrue(reasons.has(reason), `no input was refused as ${reason} (saw ${[...reasons]})`)
    }
  })

  it("a payload naming another device is always refused: as DeviceMismatch when nothing else is wrong", () => {
    fc.assert(
      fc.property(validToken, validToken, fc.boolean(), fc.oneof(payloadLike, validPayload("x")), (device, other, json, payload) => {
        fc.pre(device !== other)
        const named = { ...payload, device: other }
        const bytes = json ? encoder.encode(JSON.stringify(named, (_k, v) => (typeof v === "bigint" ? Number(v) : v))) : Codec.encode(named)
        const result = decodeReading(bytes, device, "env", NOW)
        if (Result.isSuccess(result)) assert.fail(`accepted a payload naming ${other} on ${device}'s subject`)
        const valid = Result.isSuccess(decodeReading(bytes, other, "env", NOW))
        if (valid) assert.strictEqual(result.failure.reason, "DeviceMismatch")
      }),
      { numRuns: 2_000 }
    )
  })

  it("valid readings round-trip through msgpack and JSON unchanged", () => {
    fc.assert(
      fc.property(
        validToken,
        fc.dictionary(validMetric, fc.double({ noNaN: true, noDefaultInfinity: true }), { minKeys: 1, maxKeys: MAX_VALUES }),
        fc.integer({ min: MIN_TIMESTAMP_MS, max: NOW }),
        fc.option(fc.nat(), { nil: undefined }),
        (device, values, ts, seq) => {
          const payload = seq === undefined ? { ts, values } : { ts, seq, values }
          for (const bytes of [Codec.encode(payload), encoder.encode(JSON.stringify(payload))]) {
            const r = Result.getOrThrow(decodeReading(bytes, device, "env", NOW))
            assert.strictEqual(r.ts, ts)
            assert.strictEqual(r.seq, seq)
            // JSON has no -0: it comes back as 0.
            assert.deepStrictEqual(Object.entries(r.values).map(([k, v]) => [k, v === 0 ? 0 : v]), Object.entries(values).map(([k, v]) => [k, v === 0 ? 0 : v]))
          }
        }
      ),
      { numRuns: 1_000 }
    )
  })

  it("parseReadingsSubject never throws and accepts only well-formed stored subjects with safe tokens", () => {
    const subjectLike = fc.oneof(
      fc.tuple(fc.oneof(fc.nat(), hostileString), idLike, idLike).map(([p, d, s]) => `readings.${p}.${d}.${s}`),
      hostileString,
      fc.array(hostileString, { maxLength: 6 }).map((parts) => parts.join("."))
    )
    let accepted = 0
    fc.assert(
      fc.property(subjectLike, (subject) => {
        const parsed = Subjects.parseReadingsSubject(subject)
        if (parsed === undefined) return
        accepted++
        assert.isTrue(Number.isSafeInteger(parsed.partition) && parsed.partition >= 0)
        assert.isTrue(isToken(parsed.device) && isToken(parsed.sensor))
        // The partition token is read with Number(), so "", " 1", "1e0" and "0x1" pass as
        // numbers. Harmless (a consumer's filter `readings.<p>.*.*` never matches them, and a
        // device may publish only its canonical partition), but only canonical ones round-trip.
        if (/^(0|[1-9][0-9]*)$/.test(subject.split(".")[1]!)) {
          assert.strictEqual(Subjects.readingsSubject(parsed.partition, parsed.device, parsed.sensor), subject)
        }
      }),
      RUNS
    )
    assert.isAbove(accepted, 100)
  })
})

describe("fuzz - stored records and admin messages", () => {
  const cases: ReadonlyArray<[string, (bytes: Uint8Array) => unknown, (u: unknown) => boolean, fc.Arbitrary<Uint8Array>]> = [
    ["readDeadLetter", readDeadLetter, Schema.is(DeadLetter), recordBytes(deadLetterLike)],
    ["readWindowResult", readWindowResult, Schema.is(WindowResult), recordBytes(windowLike)],
    ["readAlarm", readAlarm, Schema.is(Alarm), recordBytes(alarmLike)],
    ["readForecast", readForecast, Schema.is(Forecast), recordBytes(forecastLike)]
  ]
  for (const [name, decode, is, bytes] of cases) {
    it(`${name} returns a valid record or throws an Error with a message, for any bytes`, () => {
      const outcomes = { accepted: 0, refused: 0 }
      const check = throwsOrValid(decode, is)
      fc.assert(fc.property(bytes, (b) => void outcomes[check(b)]++), RUNS)
      assert.isAbove(outcomes.refused, 100)
      assert.isAbove(outcomes.accepted, 0, "nothing was accepted: the generator never made a valid record")
    })
  }

  it("records accepted by the decoders carry only safe ids and finite numbers", () => {
    fc.assert(
      fc.property(recordBytes(windowLike), recordBytes(alarmLike), (w, a) => {
        for (const [decode, ids] of [[readWindowResult, ["device", "sensor", "metric", "window"]], [readAlarm, ["device", "rule"]]] as const) {
          let value: Record<string, unknown>
          try {
            value = (decode as (b: Uint8Array) => Record<string, unknown>)(decode === readWindowResult ? w : a)
          } catch {
            continue
          }
          for (const key of ids) assert.isTrue(isToken(value[key]), `${key} = ${JSON.stringify(value[key])}`)
          for (const v of Object.values(value)) if (typeof v === "number") assert.isTrue(Number.isFinite(v))
        }
      }),
      RUNS
    )
  })

  it("parseAlarm never throws; its refusals are Malformed or SchemaMismatch, with a message", () => {
    fc.assert(
      fc.property(recordBytes(alarmLike), (bytes) => {
        let result: ReturnType<typeof parseAlarm>
        try {
          result = parseAlarm(bytes)
        } catch (error) {
          assert.fail(`parseAlarm threw: ${String(error)}`)
        }
        if (Result.isFailure(result)) {
          assert.include(["Malformed", "SchemaMismatch"], result.failure.reason)
          assert.isAbove(result.failure.message.length, 0)
        } else {
          assert.isTrue(Schema.is(Alarm)(result.success))
        }
      }),
      RUNS
    )
  })

  it("every admin request and reply Schema decodes any JSON without throwing, and accepts only what it describes", () => {
    const jsonLike = fc.oneof(
      fc.jsonValue(),
      fc.record({ device: idLike, actor: hostileString, all: fc.anything(), text: hostileString, limit: numberLike }, { requiredKeys: [] }),
      fc.constantFrom({}, { device: "__proto__" }, { device: "a".repeat(65) }, { actor: "" }, JSON.parse("{\"__proto__\": {\"polluted\": 1}}"))
    )
    for (const call of Object.values(Admin.AdminCalls)) {
      for (const schema of [call.request, call.reply] as ReadonlyArray<Schema.Codec<unknown, unknown>>) {
        const decode = Schema.decodeUnknownResult(schema)
        fc.assert(
          fc.property(jsonLike, (input) => {
            let result: ReturnType<typeof decode>
            try {
              result = decode(input)
            } catch (error) {
              assert.fail(`${call.name}: decoding threw: ${String(error)}`)
            }
            if (Result.isSuccess(result)) assert.isTrue(Schema.is(schema)(result.success), call.name)
            else assert.isAbove(result.failure.message.length, 0)
          }),
          { numRuns: 300 }
        )
      }
    }
    // Nothing above may have polluted Object.prototype.
    assert.isUndefined(({} as Record<string, unknown>)["polluted"])
  })
})
