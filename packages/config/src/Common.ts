/**
 * Small schemas several sections of the cluster file share: names, ports, defaults written
 * as they would be in the file, and a sensor's outbox.
 */
import { Effect, Schema } from "effect"

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/
/** A name used as a subject token or key: `[A-Za-z0-9_-]{1,64}`. */
export const Name = Schema.String.check(
  Schema.isPattern(TOKEN, { message: "Expected 1-64 characters from A-Z a-z 0-9 _ -" })
)

export const Port = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 }))

/** An optional key whose default is written as it would be in the file. */
export const withDefault = <S extends Schema.Constraint>(schema: S, value: S["Encoded"]) =>
  Schema.withDecodingDefaultKey<S>(Effect.succeed(value))(schema)

/** The sensor's on-disk buffer of readings not yet acknowledged by JetStream. */
export const Outbox = Schema.Struct({
  /** Most readings kept while NATS is unreachable; beyond it the oldest are dropped (counted,
   * with an `outbox-overflow` alarm). 100,000 is 55 h of a DHT22 read every 2 s, about 4 MB. */
  maxReadings: withDefault(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000_000 })), 100_000)
})

/** `engineering = raw * scale + offset` (see @bramble/hardware `Calibration`). */
export const Calibration = Schema.Struct({
  offset: Schema.optionalKey(Schema.Finite),
  scale: Schema.optionalKey(
    Schema.Finite.check(Schema.makeFilter((scale: number) => scale !== 0 || "scale must not be 0: every reading would become the offset"))
  )
})
