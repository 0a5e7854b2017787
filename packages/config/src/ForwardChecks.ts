/**
 * Cross-field checks of `forward:` (ThingsBoard and webhook targets): what a per-field
 * Schema cannot say. Each problem names its path, so `bramble config validate` points at
 * the line, and a target that could never deliver anything is refused before the node starts.
 */
import type { ClusterConfig } from "./ClusterConfig.js"

type Problem = { path: Array<PropertyKey>; message: string }

/** Headers Bramble sets itself; a configured value would break the request or its signature. */
const RESERVED_HEADERS = new Set(["content-type", "content-length", "host", "x-bramble-signature", "transfer-encoding", "connection"])

export const forwardCrossCheck = (config: ClusterConfig): Array<Problem> => {
  const problems: Array<Problem> = []
  const targets = config.forward ?? []
  const names = new Map<string, number>()
  targets.forEach((target, i) => {
    const at = (...path: Array<PropertyKey>) => ["forward", i, ...path]
    const first = names.get(target.name)
    if (first === undefined) names.set(target.name, i)
    else problems.push({ path: at("name"), message: `forward target name "${target.name}" is already used at index ${first}` })

    if (target.kind === "thingsboard") {
      if (target.devices.length === 0 && target.tokensFile === undefined) {
        problems.push({ path: at("devices"), message: "a thingsboard target needs device access tokens: list `devices` (with tokenEnv or tokenFile) or name a `tokensFile`" })
      }
      const devices = new Map<string, number>()
      target.devices.forEach((d, j) => {
        const seen = devices.get(d.device)
        if (seen === undefined) devices.set(d.device, j)
        else problems.push({ path: at("devices", j, "device"), message: `device "${d.device}" is already listed at index ${seen}` })
        if ((d.tokenEnv === undefined) === (d.tokenFile === undefined)) {
          problems.push({ path: at("devices", j), message: `device "${d.device}" needs exactly one of tokenEnv or tokenFile (its ThingsBoard access token)` })
        }
      })
      return
    }

    if (target.secretEnv !== undefined && target.secretFile !== undefined) {
      problems.push({ path: at("secretFile"), message: "secretEnv and secretFile are alternatives: name one" })
    }
    const lower = new Map<string, string>()
    for (const [field, headers] of [["headers", target.headers], ["headersEnv", target.headersEnv ?? {}]] as const) {
      for (const header of Object.keys(headers)) {
        const key = header.toLowerCase()
        if (RESERVED_HEADERS.has(key)) {
          problems.push({ path: at(field, header), message: `${header} is set by Bramble and cannot be configured` })
          continue
        }
        const other = lower.get(key)
        if (other !== undefined) problems.push({ path: at(field, header), message: `header ${header} is already set in ${other}` })
        else lower.set(key, field)
      }
    }
  })
  return problems
}
