/**
 * Renders a node's `nats-server.conf`. NATS is Bramble's distributed engine (docs/design.md,
 * decision 1): clustering, JetStream and the MQTT listener are all nats-server's, so each
 * node's server is configured from one spec, and the partition of every reading is decided
 * by a subject mapping inside the server (docs/design.md, decision 2).
 *
 * The text is deterministic — fixed key order, mappings and routes in the order given by a
 * stable sort, no timestamps — so a re-render of an unchanged spec is byte-identical and a
 * changed file means a changed configuration.
 */
import { Subjects } from "@bramble/protocol"

/**
 * What goes into one node's nats-server configuration.
 *
 * Targets nats-server 2.9.10 (Debian 12, Raspberry Pi OS) and newer. Limits of 2.9 that
 * Bramble designs around:
 * - MQTT 3.1.1 only, QoS 0 and 1 (no QoS 2);
 * - no JetStream `sync_interval` (fsync timing cannot be configured);
 * - MQTT payloads above `max_payload` are not refused;
 * - a forbidden MQTT publish is PUBACKed and then dropped;
 * - a `.` inside an MQTT topic level is not escaped (so device ids must not contain dots);
 * - publish permissions are checked against the subject *after* the mappings, so a device
 *   allowed its ingest subject must also be allowed the readings subject it is mapped to;
 * - `allow: []` allows everything (this renderer writes `deny: [">"]` instead);
 * - QoS 1 MQTT subscriptions need subscribe permission on `$MQTT.sub.>` (implicit from 2.12).
 */
export interface NatsServerConfSpec {
  /** Unique per server; required for JetStream clustering and for MQTT. */
  readonly serverName: string
  /** Bind address of the client and MQTT listeners (and default for routes and monitoring). */
  readonly host: string
  /** Client port. */
  readonly port: number
  /** HTTP monitoring port (`/healthz`, `/varz`, `/jsz`). */
  readonly httpPort?: number
  /**
   * Bind address of the monitoring listener when not `host`. nats-server 2.9's monitoring
   * has no authentication and shows every connection, subscription and account, so a node's
   * server binds it to loopback (`natsSpecForNode`).
   */
  readonly httpHost?: string
  /** Enables the `mqtt {}` listener (needs `serverName` and JetStream, both always set). */
  readonly mqttPort?: number
  readonly jetstream: {
    readonly storeDir: string
    /** Bytes, or a size such as `"256MB"` (see `natsByteSize`). */
    readonly maxMemoryStore?: string | number
    /** Bytes, or a size such as `"8GB"` (see `natsByteSize`). */
    readonly maxFileStore?: string | number
  }
  readonly cluster?: {
    readonly name: string
    /** Route listener address; defaults to `host`. */
    readonly host?: string
    readonly port: number
    /** Seed routes, e.g. `"nats-route://127.0.0.1:6223"`; a server ignores its own. */
    readonly routes: ReadonlyArray<string>
    /** TLS between servers; with `verify`, routes authenticate each other by certificate. */
    readonly tls?: NatsTlsSpec
  }
  /** Subject mappings, source pattern to destination, e.g. `ingestPartitionMapping(8)`. */
  readonly mappings?: Readonly<Record<string, string>>
  /** Largest message in bytes (server default 1 MiB). */
  readonly maxPayload?: number
  /** e.g. `"10s"`. */
  readonly writeDeadline?: string
  readonly logFile?: string
  readonly pidFile?: string
  /** TLS on the client port. Clients prove who they are with a password, not a certificate. */
  readonly tls?: NatsTlsSpec
  /**
   * Replicas of the streams and consumers nats-server creates for MQTT (`$MQTT_sess`,
   * `$MQTT_msgs`, `$MQTT_rmsgs`, QoS 1 subscriptions). Left unset, 2.9.10 counts the
   * *routes* in the config (not the servers: 2 in a three-Pi cluster), and an R2 stream
   * stalls when either of its two servers is away — MQTT clients are then refused on every
   * node. Set it to min(3, servers) (docs/cluster-formation.md).
   */
  readonly mqttReplicas?: number
  /** TLS on the MQTT listener (needs `mqttPort`). */
  readonly mqttTls?: NatsTlsSpec
  /**
   * Users and what each may publish and subscribe to. With users, a connection without a
   * valid user and password (NATS or MQTT) is refused.
   */
  readonly authorization?: NatsAuthorizationSpec
}

/** A `tls {}` block: the server's certificate and key, and the CA that signs its peers. */
export interface NatsTlsSpec {
  readonly certFile: string
  readonly keyFile: string
  /** CA that client or route certificates must chain to (`verify`), and routes verify peers with. */
  readonly caFile?: string
  /** Require a certificate from the other side, signed by `caFile` (mutual TLS, used for routes). */
  readonly verify?: boolean
  /** Handshake timeout in seconds (server default 0.5; Pis are slow, so set it higher). */
  readonly timeoutSeconds?: number
}

/** Subjects a user may (`allow`) and may not (`deny`, which wins) use. */
export interface NatsSubjectRules {
  /** Empty or missing: nothing is allowed (rendered as `deny: [">"]`). */
  readonly allow?: ReadonlyArray<string>
  readonly deny?: ReadonlyArray<string>
}

/** Connection kinds nats-server can restrict a user to. */
export type NatsConnectionType = "STANDARD" | "MQTT" | "WEBSOCKET" | "LEAFNODE"

/** One user of the `authorization {}` block. */
export interface NatsUserSpec {
  readonly user: string
  /**
   * A bcrypt hash (`$2a$`/`$2b$`…). nats-server also takes a plain-text password; only tests
   * should render one.
   */
  readonly password: string
  readonly publish?: NatsSubjectRules
  readonly subscribe?: NatsSubjectRules
  /** Default: any connection type. */
  readonly allowedConnectionTypes?: ReadonlyArray<NatsConnectionType>
}

/** The `authorization {}` block. */
export interface NatsAuthorizationSpec {
  readonly users: ReadonlyArray<NatsUserSpec>
  /** Seconds a client has to authenticate (server default 2; bcrypt on a Pi takes a while). */
  readonly timeoutSeconds?: number
}

/** Source pattern of the ingest mapping: `ingest.<device>.<metric>` (MQTT `ingest/<device>/<metric>`). */
export const INGEST_SUBJECT_PATTERN = Subjects.INGEST_PATTERN

/**
 * The subject mapping that partitions ingest by device inside the server:
 * `ingest.<device>.<metric>` → `readings.<p>.<device>.<metric>` with `p` in `[0, partitions)`
 * chosen by a hash of the device token. It applies to MQTT and NATS publishes alike.
 */
export const ingestPartitionMapping = (partitions: number): Record<string, string> => {
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new RangeError(`partitions must be a positive integer, got ${partitions}`)
  }
  return Subjects.partitionMapping(partitions)
}

/**
 * A double-quoted string in nats-server's config syntax. Its lexer understands `\\`, `\"`,
 * `\t`, `\n`, `\r` and `\xHH`; quoted values are never subject to `$VARIABLE` expansion,
 * and braces and dots (as in mapping destinations) are literal.
 */
export const quoteNatsString = (value: string): string => {
  let out = "\""
  for (const char of value) {
    const code = char.codePointAt(0)!
    if (char === "\\") out += "\\\\"
    else if (char === "\"") out += "\\\""
    else if (char === "\t") out += "\\t"
    else if (char === "\n") out += "\\n"
    else if (char === "\r") out += "\\r"
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`
    else out += char
  }
  return `${out}"`
}

const SIZE_PATTERN = /^(\d+)\s*(?:([KMGT])(?:I?B)?|B)?$/i
const SIZE_SHIFT: Record<string, number> = { K: 10, M: 20, G: 30, T: 40 }

/**
 * A size in bytes from a number or a string such as `"64MB"`, `"1G"`, `"512KiB"`; like
 * nats-server, every unit is binary (K = 1024). Sizes are rendered as plain byte counts
 * because 2.9 reads a quoted size only with a one-letter unit (`"64M"`, not `"64MB"`).
 */
export const natsByteSize = (size: string | number): number => {
  if (typeof size === "number") {
    if (Number.isSafeInteger(size) && size >= 0) return size
    throw new RangeError(`a size must be a non-negative integer number of bytes, got ${size}`)
  }
  const match = SIZE_PATTERN.exec(size.trim())
  if (match === null) throw new RangeError(`not a size: "${size}" (expected e.g. 512MB, 8GB or 1048576)`)
  const unit = match[2]
  return Number(match[1]) * 2 ** (unit === undefined ? 0 : SIZE_SHIFT[unit.toUpperCase()]!)
}

const HEADER = [
  "# nats-server configuration rendered by Bramble (@bramble/deploy).",
  "# Rendered again from the cluster file on every start: edits here are overwritten.",
  "# Requires nats-server 2.9.10 or newer."
]

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Renders `nats-server.conf` for one server. Same spec, same text. */
export const renderNatsServerConf = (spec: NatsServerConfSpec): string => {
  const lines: Array<string> = [...HEADER, ""]
  const str = quoteNatsString
  const setting = (key: string, value: string, indent = "") => lines.push(`${indent}${key}: ${value}`)

  setting("server_name", str(spec.serverName))
  setting("host", str(spec.host))
  setting("port", String(spec.port))
  if (spec.httpPort !== undefined) {
    if (spec.httpHost === undefined) setting("http_port", String(spec.httpPort))
    else setting("http", str(`${spec.httpHost.includes(":") ? `[${spec.httpHost}]` : spec.httpHost}:${spec.httpPort}`))
  }
  if (spec.maxPayload !== undefined) setting("max_payload", String(spec.maxPayload))
  if (spec.writeDeadline !== undefined) setting("write_deadline", str(spec.writeDeadline))
  if (spec.logFile !== undefined) setting("log_file", str(spec.logFile))
  if (spec.pidFile !== undefined) setting("pid_file", str(spec.pidFile))

  lines.push("", "jetstream {")
  setting("store_dir", str(spec.jetstream.storeDir), "  ")
  if (spec.jetstream.maxMemoryStore !== undefined) {
    setting("max_memory_store", String(natsByteSize(spec.jetstream.maxMemoryStore)), "  ")
  }
  if (spec.jetstream.maxFileStore !== undefined) {
    setting("max_file_store", String(natsByteSize(spec.jetstream.maxFileStore)), "  ")
  }
  lines.push("}")

  if (spec.tls !== undefined) {
    lines.push("")
    tlsBlock(lines, spec.tls, "")
  }

  if (spec.mqttPort !== undefined) {
    lines.push("", "mqtt {")
    setting("host", str(spec.host), "  ")
    setting("port", String(spec.mqttPort), "  ")
    if (spec.mqttReplicas !== undefined) {
      if (!Number.isInteger(spec.mqttReplicas) || spec.mqttReplicas < 1 || spec.mqttReplicas > 5) {
        throw new RangeError(`mqtt replicas must be an integer from 1 to 5, got ${spec.mqttReplicas}`)
      }
      setting("stream_replicas", String(spec.mqttReplicas), "  ")
      setting("consumer_replicas", String(spec.mqttReplicas), "  ")
    }
    if (spec.mqttTls !== undefined) tlsBlock(lines, spec.mqttTls, "  ")
    lines.push("}")
  }

  if (spec.cluster !== undefined) {
    lines.push("", "cluster {")
    setting("name", str(spec.cluster.name), "  ")
    setting("host", str(spec.cluster.host ?? spec.host), "  ")
    setting("port", String(spec.cluster.port), "  ")
    const routes = [...spec.cluster.routes].sort(compareStrings)
    if (routes.length === 0) {
      setting("routes", "[]", "  ")
    } else {
      lines.push("  routes: [")
      for (const route of routes) lines.push(`    ${str(route)}`)
      lines.push("  ]")
    }
    if (spec.cluster.tls !== undefined) tlsBlock(lines, spec.cluster.tls, "  ")
    lines.push("}")
  }

  const mappings = Object.entries(spec.mappings ?? {}).sort(([a], [b]) => compareStrings(a, b))
  if (mappings.length > 0) {
    lines.push("", "mappings {")
    for (const [source, destination] of mappings) setting(str(source), str(destination), "  ")
    lines.push("}")
  }

  if (spec.authorization !== undefined) authorizationBlock(lines, spec.authorization)

  return `${lines.join("\n")}\n`
}

const stringList = (values: ReadonlyArray<string>): string => `[${values.map(quoteNatsString).join(", ")}]`

const tlsBlock = (lines: Array<string>, tls: NatsTlsSpec, indent: string) => {
  const inner = `${indent}  `
  lines.push(`${indent}tls {`)
  lines.push(`${inner}cert_file: ${quoteNatsString(tls.certFile)}`)
  lines.push(`${inner}key_file: ${quoteNatsString(tls.keyFile)}`)
  if (tls.caFile !== undefined) lines.push(`${inner}ca_file: ${quoteNatsString(tls.caFile)}`)
  if (tls.verify !== undefined) lines.push(`${inner}verify: ${tls.verify ? "true" : "false"}`)
  if (tls.timeoutSeconds !== undefined) lines.push(`${inner}timeout: ${seconds(tls.timeoutSeconds)}`)
  lines.push(`${indent}}`)
}

const seconds = (value: number): string => {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`a timeout must be a positive number of seconds, got ${value}`)
  return String(value)
}

// One subject per line, so a changed permission is a one-line diff.
const listSetting = (lines: Array<string>, indent: string, key: string, values: ReadonlyArray<string>) => {
  if (values.length <= 1) {
    lines.push(`${indent}${key}: ${stringList(values)}`)
    return
  }
  lines.push(`${indent}${key}: [`)
  for (const value of values) lines.push(`${indent}  ${quoteNatsString(value)}`)
  lines.push(`${indent}]`)
}

const rulesBlock = (lines: Array<string>, name: string, rules: NatsSubjectRules | undefined) => {
  // nats-server 2.9 reads `allow: []` as no allow list at all, which allows everything. So
  // an empty or missing allow list is written as denying every subject.
  const allow = rules?.allow ?? []
  const deny = allow.length === 0 ? [">"] : rules?.deny ?? []
  lines.push(`        ${name} {`)
  if (allow.length > 0) listSetting(lines, "          ", "allow", allow)
  if (deny.length > 0) listSetting(lines, "          ", "deny", deny)
  lines.push("        }")
}

const authorizationBlock = (lines: Array<string>, authorization: NatsAuthorizationSpec) => {
  const seen = new Set<string>()
  lines.push("", "authorization {")
  if (authorization.timeoutSeconds !== undefined) lines.push(`  timeout: ${seconds(authorization.timeoutSeconds)}`)
  lines.push("  users: [")
  for (const user of authorization.users) {
    if (user.user === "") throw new RangeError("a nats user needs a name")
    if (seen.has(user.user)) throw new RangeError(`nats user "${user.user}" is listed twice`)
    seen.add(user.user)
    lines.push("    {")
    lines.push(`      user: ${quoteNatsString(user.user)}`)
    lines.push(`      password: ${quoteNatsString(user.password)}`)
    if (user.allowedConnectionTypes !== undefined) {
      lines.push(`      allowed_connection_types: ${stringList(user.allowedConnectionTypes)}`)
    }
    lines.push("      permissions {")
    rulesBlock(lines, "publish", user.publish)
    rulesBlock(lines, "subscribe", user.subscribe)
    lines.push("      }")
    lines.push("    }")
  }
  lines.push("  ]")
  lines.push("}")
}
