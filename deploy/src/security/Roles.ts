/**
 * Who may do what on a secured bramble. Every user the cluster file implies — one per node,
 * one per external device, an admin and a dashboard — gets exactly the subjects its role
 * needs, as nats-server permissions. They apply to NATS and MQTT connections alike (an MQTT
 * topic `a/b/c` is the subject `a.b.c`).
 *
 * | role | publish | subscribe |
 * |---|---|---|
 * | node | everything | everything |
 * | admin | `bramble.admin.>`, `$SRV.>`, read-only JetStream API, new versions of the cluster file (`$KV.bramble_config.>`) | inbox, readings, aggregates, alarms, dead letters |
 * | dashboard | read-only admin queries (status, devices, alarms, members, partitions) | its inbox, readings, aggregates, alarms |
 * | device `d` | its own readings only (and routed topics: `routedPublishSubjects`) | its own alarms and commands |
 *
 * Two facts of nats-server 2.9 shape the device rules (checked against 2.9.10 in
 * test/e2e/security-authz.test.ts):
 *
 * - Publish permissions are checked on the subject *after* the ingest mapping. A device's
 *   `ingest.d.s` is checked as `readings.<p>.d.s`, so the device is allowed exactly that: the
 *   readings subjects of its own partition (and `ingest.d.*`, for servers that check before
 *   mapping). It cannot place its readings in another partition or under another device.
 * - An MQTT QoS 1 subscription is delivered through an internal `$MQTT.sub.<id>` subject the
 *   client must be allowed to subscribe to. Only MQTT connections get that (an MQTT client
 *   cannot subscribe to `$MQTT.sub` itself); a NATS connection with it could read every
 *   device's deliveries, so each device credential is for one transport.
 */
import type { ClusterConfig, IngestRoute, SecureDevice } from "@bramble/config"
import { Admin, Subjects } from "@bramble/protocol"
import type { NatsConnectionType, NatsSubjectRules, NatsUserSpec } from "../nats/NatsServerConf.js"
import { UserNames } from "./CredentialLayout.js"

/** A role and whom it is for. */
export type Role =
  | { readonly kind: "node"; readonly node: string }
  | { readonly kind: "admin" }
  | { readonly kind: "dashboard" }
  | { readonly kind: "device"; readonly device: string; readonly transport: SecureDevice["transport"] }

/** What a role may do. */
export interface RolePermissions {
  readonly publish: NatsSubjectRules
  readonly subscribe: NatsSubjectRules
  readonly allowedConnectionTypes: ReadonlyArray<NatsConnectionType>
}

/** The partition nats-server's `{{partition(n,1)}}` puts `device` in. */
export const devicePartition = Subjects.partitionOfDevice

/**
 * The inbox prefix a role's NATS client must use (nats.js `inboxPrefix`), so its replies
 * arrive where it may subscribe. Nodes and the admin use the default `_INBOX`.
 * (A nats.js inbox is `_INBOX.<22-character nuid>…`, so `_INBOX.device…` and
 * `_INBOX.dashboard…` can never be another client's.)
 */
export const inboxPrefixFor = (role: Role): string | undefined => {
  switch (role.kind) {
    case "device":
      return `_INBOX.device.${role.device}`
    case "dashboard":
      return "_INBOX.dashboard"
    default:
      return undefined
  }
}

/** The user name of a role. */
export const userNameOf = (role: Role): string => {
  switch (role.kind) {
    case "node":
      return UserNames.node(role.node)
    case "admin":
      return UserNames.admin
    case "dashboard":
      return UserNames.dashboard
    case "device":
      return UserNames.device(role.device)
  }
}

/** The admin queries that change nothing, which the dashboard may ask. */
const READ_ONLY_CALLS = [
  Admin.AdminCalls.status,
  Admin.AdminCalls.devices,
  Admin.AdminCalls.device,
  Admin.AdminCalls.alarms,
  Admin.AdminCalls.members,
  Admin.AdminCalls.partitions
]

/**
 * The JetStream API calls that only read: account and stream info, stored messages, and
 * consumers to read streams with (ephemeral or ordered ones, which expire on their own).
 * Stream create/update/delete/purge and message delete are not among them.
 */
const READ_ONLY_JETSTREAM = [
  "$JS.API.INFO",
  "$JS.API.STREAM.NAMES",
  "$JS.API.STREAM.LIST",
  "$JS.API.STREAM.INFO.*",
  "$JS.API.STREAM.MSG.GET.*",
  "$JS.API.DIRECT.GET.>",
  "$JS.API.CONSUMER.CREATE.*",
  "$JS.API.CONSUMER.CREATE.*.>",
  "$JS.API.CONSUMER.INFO.*.*",
  "$JS.API.CONSUMER.NAMES.*",
  "$JS.API.CONSUMER.LIST.*",
  "$JS.API.CONSUMER.MSG.NEXT.*.*",
  "$JS.ACK.>",
  "$JS.FC.>"
]

/**
 * The subjects of ingest routes device `device` may publish on (docs/ingest-routes.md,
 * "Security"): every topic of a route that lists it in `publishers`; else, where the route
 * takes the device id from one topic wildcard (`dht/+device`, or `device: "{room}"`), the
 * topics with that wildcard set to its own id — so it cannot publish as another device, as
 * on `ingest/<id>/…`. A route whose device id is in the payload (`deviceField`, `deviceTag`)
 * or built from several wildcards is the nodes' only, unless it lists publishers.
 */
export const routedPublishSubjects = (routes: ReadonlyArray<IngestRoute>, device: string): Array<string> =>
  routes.flatMap((route) => {
    const levels = route.topic.split("/")
    const listed = route.publishers?.includes(device) === true
    let own: string | undefined
    if (!listed) {
      if (route.deviceField !== undefined || route.deviceTag !== undefined) return []
      const template = route.device ?? "{device}"
      own = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(template)?.[1]
      if (own === undefined || !levels.includes(`+${own}`)) return []
    }
    const subject = levels.map((l) => (l === `+${own}` ? device : l.startsWith("+") ? "*" : l.startsWith("#") ? ">" : l))
    // MQTT's `a/#` also matches `a` itself.
    return subject.at(-1) === ">" ? [subject.join("."), subject.slice(0, -1).join(".")] : [subject.join(".")]
  })

/** The subjects `role` may publish and subscribe to, in a cluster of `partitions` with these
 * ingest routes. */
export const permissionsOf = (role: Role, partitions: number, routes: ReadonlyArray<IngestRoute> = []): RolePermissions => {
  switch (role.kind) {
    case "node":
      return { publish: { allow: [">"] }, subscribe: { allow: [">"] }, allowedConnectionTypes: ["STANDARD"] }
    case "admin":
      return {
        // `bramble config apply` publishes a version as a create of `$KV.bramble_config.v.<N>`
        // (packages/nats ConfigStore.ts; the bucket name is spelled out: deploy does not depend
        // on @bramble/nats). Reading versions needs only the read-only API above.
        publish: { allow: [`${Admin.ADMIN_PREFIX}.>`, Admin.SERVICE_API_SUBJECTS, ...READ_ONLY_JETSTREAM, "$KV.bramble_config.>"] },
        subscribe: {
          allow: ["_INBOX.>", Subjects.StreamWildcards.readings, Subjects.StreamWildcards.aggregates, Subjects.StreamWildcards.alarms, Subjects.StreamWildcards.deadLetter]
        },
        allowedConnectionTypes: ["STANDARD"]
      }
    case "dashboard":
      return {
        publish: {
          allow: [
            ...READ_ONLY_CALLS.flatMap((call) => [
              Admin.adminNodeSubject("*", call.name),
              ...(call.clusterWide ? [Admin.adminClusterSubject(call.name)] : [])
            ]),
            ...Admin.ADMIN_DISCOVERY_SUBJECTS
          ]
        },
        subscribe: { allow: [`${inboxPrefixFor(role)}.>`, Subjects.StreamWildcards.readings, Subjects.StreamWildcards.aggregates, Subjects.StreamWildcards.alarms] },
        allowedConnectionTypes: ["STANDARD"]
      }
    case "device": {
      const d = role.device
      // `alarms.<d>` itself too: an MQTT `alarms/<d>/#` subscribes to the parent level as well.
      const alarms = Subjects.alarmsSubject(d, ">")
      const own = [alarms.slice(0, -2), alarms, Subjects.commandsSubject(d), `${Subjects.commandsSubject(d)}.>`]
      return {
        publish: {
          allow: [
            Subjects.ingestSubject(d, "*"),
            Subjects.readingsSubject(devicePartition(d, partitions), d, "*"),
            ...routedPublishSubjects(routes, d)
          ]
        },
        subscribe: {
          allow: role.transport === "mqtt" ? [...own, Subjects.Mqtt.qos1Deliveries] : [...own, `${inboxPrefixFor(role)}.>`]
        },
        allowedConnectionTypes: [role.transport === "mqtt" ? "MQTT" : "STANDARD"]
      }
    }
  }
}


/** Every role the cluster file implies, nodes first, in file order. */
export const clusterRoles = (config: ClusterConfig): ReadonlyArray<Role> => [
  ...config.nodes.map((n): Role => ({ kind: "node", node: n.name })),
  { kind: "admin" },
  { kind: "dashboard" },
  ...(config.security?.devices ?? []).map((d): Role => ({ kind: "device", device: d.id, transport: d.transport }))
]

/**
 * The `authorization {}` users of a secured cluster, with the password hashes of `hashes`.
 * Throws a `RangeError` naming every user whose hash is missing.
 */
export const natsUsersFor = (config: ClusterConfig, hashes: ReadonlyMap<string, string>): ReadonlyArray<NatsUserSpec> => {
  const roles = clusterRoles(config)
  const missing = roles.map(userNameOf).filter((user) => !hashes.has(user))
  if (missing.length > 0) {
    throw new RangeError(`no password hash for ${missing.map((u) => `"${u}"`).join(", ")}: run \`bramble deploy creds\` again to add them`)
  }
  return roles.map((role) => {
    const permissions = permissionsOf(role, config.cluster.partitions, config.ingest?.routes ?? [])
    return {
      user: userNameOf(role),
      password: hashes.get(userNameOf(role))!,
      publish: permissions.publish,
      subscribe: permissions.subscribe,
      allowedConnectionTypes: permissions.allowedConnectionTypes
    }
  })
}
