/**
 * Units in the cluster file. Durations: "500ms", "2s", "30m", "7d" (or Effect's long form,
 * "30 minutes"); sizes: "512MB", "1GiB". Both decode to plain numbers (ms, bytes) because
 * that is what every consumer wants, and both also accept a bare number.
 */
import { ByteSize, Duration, Effect, Option, Schema, SchemaGetter, SchemaIssue } from "effect"

const SHORT = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const

/** Parse a duration string to milliseconds; undefined when it is not one. */
export const parseMillis = (text: string): number | undefined => {
  const short = SHORT.exec(text.trim())
  if (short) return Number(short[1]) * UNIT_MS[short[2] as keyof typeof UNIT_MS]
  const long = Duration.fromInput(text as Duration.Input)
  return Option.isSome(long) ? Duration.toMillis(long.value) : undefined
}

/** Parse a size string ("512MB", "1 GiB") to bytes; undefined when it is not one. */
export const parseBytes = (text: string): number | undefined =>
  Option.getOrUndefined(Option.map(ByteSize.fromString(text.trim()), ByteSize.toNumberUnsafe))

const unit = (parse: (text: string) => number | undefined, example: string, encode: (n: number) => string) =>
  Schema.Union([Schema.String, Schema.Finite]).pipe(
    Schema.decodeTo(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)), {
      decode: SchemaGetter.transformEffect((input: string | number) => {
        const value = typeof input === "number" ? input : parse(input)
        return value === undefined
          ? Effect.fail(new SchemaIssue.InvalidValue({ message: `"${input}" is not valid here; write e.g. ${example}` }, input))
          : Effect.succeed(value)
      }),
      encode: SchemaGetter.transform(encode)
    })
  )

/** A duration, decoded to milliseconds. */
export const Millis = unit(parseMillis, `"500ms", "2s", "30m", "7d"`, (ms) => `${ms}ms`)

/** A size, decoded to bytes. */
export const Bytes = unit(parseBytes, `"512MB", "1GiB"`, (bytes) => `${bytes} B`)
