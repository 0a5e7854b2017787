/**
 * The secrets of forward targets — ThingsBoard device access tokens, webhook signing
 * secrets and secret headers — read at start from environment variables or files the
 * cluster file names, never from the cluster file itself. They stay `Redacted`, so they
 * cannot reach a log line; a missing one stops the node before anything starts, with the
 * path of the setting that names it.
 */
import type { ForwardTarget } from "@bramble/config"
import { Subjects } from "@bramble/protocol"
import { Data, Effect, Redacted } from "effect"
import { readFileSync } from "node:fs"

export class ForwardSecretUnavailable extends Data.TaggedError("ForwardSecretUnavailable")<{ readonly message: string }> {}

type ThingsBoardTarget = Extract<ForwardTarget, { kind: "thingsboard" }>
type WebhookTarget = Extract<ForwardTarget, { kind: "webhook" }>

const fromEnv = (variable: string, where: string): Redacted.Redacted<string> => {
  const value = process.env[variable]
  if (value === undefined || value === "") throw new Error(`environment variable ${variable} (named by ${where}) is not set`)
  return Redacted.make(value)
}

const fromFile = (file: string, where: string): Redacted.Redacted<string> => {
  let text: string
  try {
    text = readFileSync(file, "utf8").trim()
  } catch (error) {
    throw new Error(`cannot read ${file} (named by ${where}): ${(error as Error).message}`)
  }
  if (text === "") throw new Error(`${file} (named by ${where}) is empty`)
  return Redacted.make(text)
}

const attempt = <A>(target: ForwardTarget, read: () => A) =>
  Effect.try({
    try: read,
    catch: (error) => new ForwardSecretUnavailable({ message: `forward target ${target.name}: ${(error as Error).message}` })
  })

/** A `tokensFile`: a JSON object from device id to access token. */
const tokensFromFile = (file: string, where: string): Map<string, Redacted.Redacted<string>> => {
  const raw = fromFile(file, where)
  let parsed: unknown
  try {
    parsed = JSON.parse(Redacted.value(raw))
  } catch {
    // The parser's message would quote the file, tokens and all.
    throw new Error(`${file} (named by ${where}) is not JSON: expected { "<device>": "<access token>", … }`)
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${file} (named by ${where}) must hold a JSON object { "<device>": "<access token>", … }`)
  }
  const tokens = new Map<string, Redacted.Redacted<string>>()
  for (const [device, token] of Object.entries(parsed)) {
    if (!Subjects.isToken(device)) throw new Error(`${file} (named by ${where}): "${device}" is not a device id`)
    if (typeof token !== "string" || token === "") throw new Error(`${file} (named by ${where}): the token of ${device} is not a non-empty string`)
    tokens.set(device, Redacted.make(token))
  }
  return tokens
}

/** Every device's access token of a ThingsBoard target; `devices` entries override the tokens file. */
export const thingsBoardTokens = (target: ThingsBoardTarget, index: number) =>
  attempt(target, () => {
    const at = `forward[${index}]`
    const tokens = target.tokensFile === undefined ? new Map<string, Redacted.Redacted<string>>() : tokensFromFile(target.tokensFile, `${at}.tokensFile`)
    target.devices.forEach((d, j) => {
      const where = `${at}.devices[${j}]`
      if (d.tokenEnv !== undefined) tokens.set(d.device, fromEnv(d.tokenEnv, `${where}.tokenEnv`))
      else if (d.tokenFile !== undefined) tokens.set(d.device, fromFile(d.tokenFile, `${where}.tokenFile`))
    })
    return tokens as ReadonlyMap<string, Redacted.Redacted<string>>
  })

/** A webhook target's signing secret (undefined: requests are not signed) and headers. */
export const webhookSecrets = (target: WebhookTarget, index: number) =>
  attempt(target, () => {
    const at = `forward[${index}]`
    const secret = target.secretEnv !== undefined
      ? fromEnv(target.secretEnv, `${at}.secretEnv`)
      : target.secretFile !== undefined
      ? fromFile(target.secretFile, `${at}.secretFile`)
      : undefined
    const headers: Record<string, Redacted.Redacted<string> | string> = { ...target.headers }
    for (const [header, variable] of Object.entries(target.headersEnv ?? {})) headers[header] = fromEnv(variable, `${at}.headersEnv.${header}`)
    return { secret, headers }
  })

/**
 * Where the cluster file sets `device`'s access token (for messages: names and paths,
 * never the token), e.g. `forward[0].devices[1].tokenEnv (TB_TOKEN_GREENHOUSE_1)`.
 */
export const thingsBoardTokenSetting = (target: ThingsBoardTarget, index: number, device: string): string => {
  const j = target.devices.findIndex((d) => d.device === device && (d.tokenEnv !== undefined || d.tokenFile !== undefined))
  const entry = target.devices[j]
  if (entry?.tokenEnv !== undefined) return `forward[${index}].devices[${j}].tokenEnv (${entry.tokenEnv})`
  if (entry?.tokenFile !== undefined) return `forward[${index}].devices[${j}].tokenFile (${entry.tokenFile})`
  return target.tokensFile === undefined ? `forward[${index}].devices` : `forward[${index}].tokensFile (${target.tokensFile}, key "${device}")`
}

/** The settings that make a webhook target's credentials, for a message saying what to check. */
export const webhookCredentialSettings = (target: WebhookTarget, index: number): string => {
  const at = `forward[${index}]`
  const settings = [
    ...Object.entries(target.headersEnv ?? {}).map(([header, variable]) => `${at}.headersEnv.${header} (${variable})`),
    ...(target.secretEnv === undefined ? [] : [`${at}.secretEnv (${target.secretEnv}, signs each request)`]),
    ...(target.secretFile === undefined ? [] : [`${at}.secretFile (${target.secretFile}, signs each request)`]),
    ...Object.keys(target.headers).map((header) => `${at}.headers.${header}`)
  ]
  return settings.length === 0
    ? `${at}: it sends no credentials; the receiver wants some (headersEnv for an Authorization header, or secretEnv/secretFile to sign)`
    : settings.join(", ")
}
