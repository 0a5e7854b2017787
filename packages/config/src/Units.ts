/**
 * Units in the cluster file. Durations: "500ms", "2s", "30m", "7d", compounds such as
 * "1d12h" or "1h30m" (or Effect's long form, "30 minutes"); sizes: "512MB", "1GiB". Both
 * decode to plain numbers (ms, bytes) because that is what every consumer wants, and both
 * also accept a bare number. The command line takes durations in the same grammar, and
 * `formatMillis` writes them back in it, so what Bramble prints can be pasted into the file.
 */
import { ByteSize, Duration, Effect, Option, Schema, SchemaGetter, SchemaIssue } from "effect"

const PART = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const

/** `"90s"`, `"1h30m"`, `"1d12h"`, `"500ms"`, `"0"` → milliseconds; undefined when it is not one of these. */
const parseShort = (text: string): number | undefined => {
  if (text === "0") return 0
  let rest = text
  let total = 0
  while (rest.length > 0) {
    const match = PART.exec(rest)
    if (match === null) return undefined
    total += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
    rest = rest.slice(match[0].length).trimStart()
  }
  return text.length > 0 ? total : undefined
}

/** Parse a duration string to milliseconds ("2s", "1d12h", "30 minutes"); undefined when it is not one. */
export const parseMillis = (text: string): number | undefined => {
  const short = parseShort(text.trim())
  if (short !== undefined) return short
  const long = Duration.fromInput(text as Duration.Input)
  return Option.isSome(long) ? Duration.toMillis(long.value) : undefined
}

/** A duration as the cluster file writes it: `7d`, `1d12h`, `1h30m`, `1500ms`; `parseMillis` reads it back. */
export const formatMillis = (ms: number): string => {
  if (ms <= 0) return "0"
  const parts: Array<string> = []
  let rest = Math.round(ms)
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1_000]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`)
      rest %= size
    }
  }
  if (rest > 0) parts.push(`${rest}ms`)
  return parts.join("")
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
export const Millis = unit(parseMillis, `"500ms", "2s", "30m", "1h30m", "7d"`, (ms) => `${ms}ms`)

/** A size, decoded to bytes. */
export const Bytes = unit(parseBytes, `"512MB", "1GiB"`, (bytes) => `${bytes} B`)
