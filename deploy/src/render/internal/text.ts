/**
 * Small text helpers shared by the renderers. YAML is written as text rather than through a
 * YAML library because the files carry comments meant for the person installing them, and
 * because @bramble/deploy does not depend on a YAML package.
 */

/**
 * A YAML double-quoted scalar. YAML 1.2 is a superset of JSON, so a JSON string is a valid
 * double-quoted YAML scalar with the same value.
 */
export const yamlString = (value: string): string => JSON.stringify(value)

/** Characters that would need quoting in a systemd unit, an env file or a compose file. */
const UNSAFE_PATH = /[\s"'\\$%`]/

/**
 * Checks a path that is written unquoted into units, env files and READMEs: it must be
 * absolute and free of whitespace, quotes, `\`, `$`, `%` and backticks (systemd would expand
 * or split them).
 */
export const checkInstallPath = (what: string, path: string): string => {
  if (!path.startsWith("/")) throw new RangeError(`${what} must be an absolute path, got "${path}"`)
  if (UNSAFE_PATH.test(path)) {
    throw new RangeError(`${what} must not contain whitespace, quotes, \\, $, % or backticks, got "${path}"`)
  }
  return path.length > 1 ? path.replace(/\/+$/, "") : path
}

/** Joins lines and ends the text with exactly one newline. */
export const lines = (...parts: ReadonlyArray<string | ReadonlyArray<string>>): string =>
  `${parts.flat().join("\n").replace(/\n+$/, "")}\n`
