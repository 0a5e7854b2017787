/**
 * The admin protocol: what operators (the `bramble` CLI, the dashboard, the `nats` CLI) ask a
 * running bramble over NATS request-reply, and what it answers.
 *
 * Every request and reply is a Schema. Unlike the data path (msgpack), admin traffic is
 * encoded as JSON: it is small and rare, and humans debug it with
 * `nats req bramble.admin.n1.status ''` — a JSON reply is readable there as-is. An empty
 * request body means `{}`, so parameterless calls need no payload at all.
 *
 * A request that cannot be answered gets an `AdminError` reply (with the NATS micro-services
 * error headers set), never silence: a bad request, an unknown device or actor, a node that
 * does not own the partition asked about, or a node that cannot reach what it needs.
 *
 * Subjects: every node answers `bramble.admin.<node>.<call>`; calls about the cluster as a
 * whole (a device, the device list, alarms, members, partitions) are also answered on
 * `bramble.admin.<call>` by whichever node the request reaches (a queue group), which
 * forwards to the node that owns the data when it is not itself. This file is the one home
 * of the admin protocol: `bramble members` / `bramble partitions`, `bramble status`, the
 * dashboard and the HTTP API all ask these calls (docs/design.md, decision 13).
 */
import { Schema } from "effect"
import { Alarm } from "./Alarm.js"
import { Forecast } from "./Forecast.js"
import { Reading, Token } from "./Reading.js"
import { WindowResult } from "./WindowResult.js"

// ---------------------------------------------------------------------------------------
// Errors

/** Why an admin request was not answered. */
export const AdminErrorReason = Schema.Literals([
  /** The request did not decode (wrong JSON, missing or invalid fields). */
  "BadRequest",
  /** The device, actor or endpoint asked about does not exist. */
  "NotFound",
  /** The node asked does not own the partition the request is about. */
  "NotOwner",
  /** The node cannot answer right now (NATS, JetStream or the owner unreachable; rebalancing). */
  "Unavailable",
  /** A bug on the answering node; its log has the details. */
  "Internal",
  /** The node is up but its cluster has not formed yet (no JetStream quorum): the message
   * says what it waits for (cluster/src/node/Formation.ts). */
  "Forming"
])
export type AdminErrorReason = typeof AdminErrorReason.Type

/** The error reply of every admin call. */
export class AdminError extends Schema.TaggedError<AdminError>()("AdminError", {
  reason: AdminErrorReason,
  message: Schema.String
}) {}

/** The `Nats-Service-Error-Code` of each reason (HTTP-like, as NATS micro-services use). */
export const adminErrorCode = (reason: AdminErrorReason): number => {
  switch (reason) {
    case "BadRequest":
      return 400
    case "NotFound":
      return 404
    case "NotOwner":
      return 409
    case "Unavailable":
    case "Forming":
      return 503
    case "Internal":
      return 500
  }
}

// ---------------------------------------------------------------------------------------
// Requests

/** The request of calls that take no parameters (an empty body decodes to it). */
export const NoParams = Schema.Struct({})
export type NoParams = typeof NoParams.Type

/** `device`: the state of one device. */
export const DeviceRequest = Schema.Struct({ device: Token })
export type DeviceRequest = typeof DeviceRequest.Type

/** `alarms`: the alarms raised now, optionally of one device. */
export const AlarmsRequest = Schema.Struct({
  device: Schema.optionalKey(Token),
  /** Also list rules whose latest event cleared the alarm. */
  all: Schema.optionalKey(Schema.Boolean)
})
export type AlarmsRequest = typeof AlarmsRequest.Type

/** `ack`: acknowledge the raised alarm of a rule on a device, with an optional note. */
export const AckRequest = Schema.Struct({
  device: Token,
  rule: Token,
  note: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(500)))
})
export type AckRequest = typeof AckRequest.Type

/**
 * Someone acknowledged a raised alarm: it stays raised (the rule clears it), but people know
 * it is being dealt with. An acknowledgement is of one raise (`raisedAt`, the raised event's
 * time): raised again later, the alarm is unacknowledged again. Kept in the replicated KV
 * bucket `bramble_alarm_acks`, so restarts and partition moves do not lose it.
 */
export const AlarmAck = Schema.Struct({
  /** When it was acknowledged (ms since the epoch, wall clock). */
  at: Schema.Int,
  /** Event time of the raise it acknowledges. */
  raisedAt: Schema.Int,
  note: Schema.optionalKey(Schema.String)
})
export type AlarmAck = typeof AlarmAck.Type

/** `restart`: restart one actor by the name `actors` lists (e.g. `partition-3`). */
export const RestartRequest = Schema.Struct({ actor: Schema.NonEmptyString })
export type RestartRequest = typeof RestartRequest.Type

/** `config-validate`: check a cluster file's text as this node's loader would. */
export const ConfigValidateRequest = Schema.Struct({
  text: Schema.String,
  /** Named in error messages (default "cluster.yaml"). */
  file: Schema.optionalKey(Schema.String)
})
export type ConfigValidateRequest = typeof ConfigValidateRequest.Type

// ---------------------------------------------------------------------------------------
// Replies

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** What is running where. */
export const Versions = Schema.Struct({
  bramble: Schema.String,
  node: Schema.String,
  /** The version of the nats-server this node is connected to. */
  natsServer: Schema.String
})
export type Versions = typeof Versions.Type

/** Where a partition's durable consumer stands: what the node still has to process. */
export const ConsumerLag = Schema.Struct({
  /** Messages of the partition not yet delivered to the node. */
  pending: Count,
  /** Delivered but not yet acknowledged (acks follow checkpoints). */
  ackPending: Count
})
export type ConsumerLag = typeof ConsumerLag.Type

/**
 * Readings missing from the log, found through the per-device `seq` readings carry
 * (cluster/src/partition/SequenceGaps.ts, docs/delivery-guarantees.md "Gap detection").
 */
export const SequenceStatus = Schema.Struct({
  /** Gaps reported: one `Gap` dead letter each. */
  gaps: Count,
  /** Readings inside those gaps when they were reported (the dead letters' counts summed). */
  gapReadings: Count,
  /** Of those, arrived later (reordered, e.g. an MQTT publish from a sensor's outbox): not lost. */
  lateFilled: Count,
  /** Still missing: `gapReadings - lateFilled`. */
  missing: Count,
  /** Big backward jumps of a device's seq, taken as the device restarting its count. */
  restarts: Count,
  /** Readings whose seq had been seen before (not gaps). */
  duplicates: Count,
  /** MQTT readings nats-server PUBACKed but never copied into READINGS, put back from its
   * `$MQTT_msgs` stream (cluster/src/partition/MqttRecovery.ts); each also fills a gap. */
  recovered: Schema.optionalKey(Count)
})
export type SequenceStatus = typeof SequenceStatus.Type

/** Why and where a partition keeps failing: its worker fails and restarts from its
 * checkpoint, and has not checkpointed past the point of failure since. */
export const PartitionFailing = Schema.Struct({
  /** The first failure of this streak (ms since the epoch). */
  since: Count,
  /** The latest. */
  at: Count,
  /** Failed runs in this streak. */
  failures: Count,
  reason: Schema.String,
  /** The READINGS sequence the failure is tied to, when known. */
  seq: Schema.optionalKey(Count),
  /** The last good checkpoint: each restart replays from the message after it. */
  checkpointedSeq: Count
})
export type PartitionFailing = typeof PartitionFailing.Type

/** A device whose clock looks wrong: readings refused for their time (issue 15). */
export const DeviceClock = Schema.Struct({
  device: Schema.String,
  partition: Count,
  /** Estimated skew: the time JetStream stored its latest refused reading minus the
   * reading's event time (ms). Negative: the device's clock runs ahead. */
  skewMs: Schema.Finite,
  /** Readings refused for their time since the device was listed. */
  refused: Count,
  reason: Schema.Literals(["ClockAhead", "TooLate"]),
  /** When the latest was refused. */
  at: Count
})
export type DeviceClock = typeof DeviceClock.Type

/** Whether the node's own clock is synchronized (the time JetStream stamps on what it stores). */
export const NodeClock = Schema.Struct({
  /** Absent when it cannot be told (no timedatectl, not systemd). */
  synchronized: Schema.optionalKey(Schema.Boolean),
  detail: Schema.String
})
export type NodeClock = typeof NodeClock.Type

/** The version of the cluster file a node runs (docs/live-config.md). */
export const NodeConfigVersion = Schema.Struct({
  /** The version whose live sections (rules) it uses; absent before it read one. */
  version: Schema.optionalKey(Count),
  /** The newest version it saw published. */
  latest: Schema.optionalKey(Count),
  /** Why it does not run `latest` (it keeps `version`): the cluster is degraded. */
  error: Schema.optionalKey(Schema.String)
})
export type NodeConfigVersion = typeof NodeConfigVersion.Type

/** One owned partition's counters. */
export const PartitionStatus = Schema.Struct({
  partition: Count,
  received: Count,
  accepted: Count,
  rejected: Count,
  tooLate: Count,
  windowsEmitted: Count,
  checkpointedSeq: Count,
  lastCheckpointAt: Count,
  /** Absent when JetStream could not be asked. */
  lag: Schema.optionalKey(ConsumerLag),
  /** Absent from nodes older than gap detection. */
  sequence: Schema.optionalKey(SequenceStatus),
  /** Readings not counted again in windows (same device, sensor, metric and event time). */
  duplicates: Schema.optionalKey(Count),
  /** Readings refused as `ClockAhead` (included in `rejected`). */
  clockAhead: Schema.optionalKey(Count),
  /** Runs of the partition's worker that failed, in all. */
  failures: Schema.optionalKey(Count),
  /** Non-empty batches taken from the log, and the device-actor messages they made (one per
   * device per batch). Absent from older nodes. */
  batches: Schema.optionalKey(Count),
  deviceMessages: Schema.optionalKey(Count),
  /** Present while the partition keeps failing. */
  failing: Schema.optionalKey(PartitionFailing)
})
export type PartitionStatus = typeof PartitionStatus.Type

/** One sensor actor's counters. */
export const SensorStatus = Schema.Struct({
  device: Schema.String,
  reads: Count,
  readFailures: Count,
  consecutiveFailures: Count,
  published: Count,
  dropped: Count,
  buffered: Count
})
export type SensorStatus = typeof SensorStatus.Type

/** The storage actor: writes to the database. */
export const StorageStatus = Schema.Struct({
  pointsWritten: Count,
  readingsWritten: Count,
  writes: Count,
  writeFailures: Count,
  pointsRejected: Count,
  /** Duration of the last successful write. */
  lastWriteMs: Schema.Finite,
  /** Set while the database is unreachable (ms since the epoch of the first failure). */
  unavailableSince: Schema.optionalKey(Schema.Finite),
  lastError: Schema.optionalKey(Schema.String),
  /** Event time → durable in the database, over every raw reading written (ms, bucket bounds). */
  storedLag: Schema.optionalKey(Schema.Struct({ count: Count, p50: Schema.Finite, p99: Schema.Finite, max: Schema.Finite }))
})
export type StorageStatus = typeof StorageStatus.Type

/** A forward target's forwarder on this node (ThingsBoard, webhook). Counters are this
 * node's; `lag` is the target's consumer as a whole (every node pulls from it). */
export const ForwarderStatus = Schema.Struct({
  name: Schema.String,
  /** `thingsboard` or `webhook`. */
  kind: Schema.String,
  /** `raw`, `windows` or `alarms`. */
  source: Schema.String,
  /** Items the receiver accepted. */
  sent: Count,
  batches: Count,
  /** Failed attempts, retried (receiver down, 5xx, timeouts). */
  failures: Count,
  /** Items refused with a 4xx and dead-lettered (ForwardRejected). */
  deadLettered: Count,
  /** Items not sent: no ThingsBoard token for the device, or not decodable. */
  skipped: Count,
  /** Alarm events held back by their rule's notifyEvery (a flapping alarm); absent from older nodes. */
  heldBack: Schema.optionalKey(Count),
  /** Messages not yet delivered from the target's consumer (absent until known). */
  lag: Schema.optionalKey(Count),
  /** Set while the receiver is unreachable (ms since the epoch of the first failure). */
  unavailableSince: Schema.optionalKey(Schema.Finite),
  lastError: Schema.optionalKey(Schema.String)
})
export type ForwarderStatus = typeof ForwarderStatus.Type

/** Per-second rates over the last few seconds, computed from the counters. */
export const Rates = Schema.Struct({
  /** Readings taken from the log by this node's partitions. */
  readingsIn: Schema.Finite,
  /** Raw readings written to the database. */
  readingsOut: Schema.Finite,
  /** Window results closed and emitted. */
  windowsOut: Schema.Finite,
  /** The period the rates cover. */
  overSeconds: Schema.Finite
})
export type Rates = typeof Rates.Type

/** `status`: one node. */
/** What the ingest router did (cluster/src/ingest): routed messages, the readings they gave,
 * the parts refused, and the messages no route takes (`NoRoute`, MQTT QoS 1 included). */
export const IngestStatus = Schema.Struct({
  messages: Count,
  readings: Count,
  refused: Count,
  noRoute: Count
})
export type IngestStatus = typeof IngestStatus.Type

export const NodeStatus = Schema.Struct({
  node: Schema.String,
  versions: Versions,
  startedAt: Count,
  uptimeMs: Count,
  nats: Schema.String,
  mqtt: Schema.optionalKey(Schema.String),
  /** The node's dashboard and `/metrics` (absent when disabled). */
  http: Schema.optionalKey(Schema.String),
  partitions: Schema.Array(PartitionStatus),
  sensors: Schema.Array(SensorStatus),
  storage: StorageStatus,
  totals: Schema.Struct({
    received: Count,
    accepted: Count,
    rejected: Count,
    tooLate: Count,
    windowsEmitted: Count,
    pointsWritten: Count,
    /** Summed over `partitions` (absent from nodes older than gap detection). */
    sequence: Schema.optionalKey(SequenceStatus)
  }),
  rates: Rates,
  /** Sum over the owned partitions (absent when JetStream could not be asked). */
  lag: Schema.optionalKey(ConsumerLag),
  /** The forward targets' forwarders (absent when the cluster file has none). */
  forwarders: Schema.optionalKey(Schema.Array(ForwarderStatus)),
  /** The ingest router's counts on this node (absent from older nodes; they move on the node
   * that owns partition 0, docs/ingest-routes.md). */
  ingest: Schema.optionalKey(IngestStatus),
  /** Devices of the node's partitions whose clock looks wrong, latest first (at most 50). */
  clocks: Schema.optionalKey(Schema.Array(DeviceClock)),
  /** The node's own clock. */
  clock: Schema.optionalKey(NodeClock),
  /** The version of the cluster file it runs (absent from older nodes). */
  config: Schema.optionalKey(NodeConfigVersion)
})
export type NodeStatus = typeof NodeStatus.Type

export const ActorState = Schema.Literals(["starting", "running", "restarting", "stopped", "failed"])

/** One actor (or supervisor, or partition worker) on a node. */
export const ActorInfo = Schema.Struct({
  /** Unique on the node; what `restart` takes. */
  name: Schema.String,
  /** "partition", "aggregator", "storage", "sensor", "supervisor" … */
  kind: Schema.String,
  state: ActorState,
  mailboxSize: Count,
  mailboxCapacity: Count,
  processed: Count,
  restarts: Count,
  lastFailure: Schema.optionalKey(Schema.String),
  /** Whether `restart` accepts it. */
  restartable: Schema.Boolean
})
export type ActorInfo = typeof ActorInfo.Type

/** `actors`: every actor on one node. */
export const ActorsReply = Schema.Struct({
  node: Schema.String,
  actors: Schema.Array(ActorInfo)
})
export type ActorsReply = typeof ActorsReply.Type

/** An alarm event as stored in ALARMS (`alarms.<device>.<rule>`): the latest event of a rule
 * says whether its alarm is raised now. */
export const AlarmEvent = Schema.Struct({
  ...Alarm.fields,
  /** Its ALARMS stream sequence. */
  seq: Count,
  /** When JetStream stored it (ms since the epoch); `at` is the event time. */
  storedAt: Count,
  /** Its acknowledgement, when the alarm is raised and someone acknowledged this raise. */
  ack: Schema.optionalKey(AlarmAck)
})
export type AlarmEvent = typeof AlarmEvent.Type

/** `ack`: the alarm as it is now, acknowledged. */
export const AckReply = Schema.Struct({ alarm: AlarmEvent })
export type AckReply = typeof AckReply.Type

/** `device`: everything a node knows about one device. */
export const DeviceState = Schema.Struct({
  device: Schema.String,
  partition: Count,
  /** The node that owns the partition and answered. */
  owner: Schema.String,
  /** The latest reading of each of the device's sensors. */
  latest: Schema.Array(Reading),
  /** Windows still open in the device's aggregator actor. */
  openWindows: Schema.Array(WindowResult),
  /** The last closed window of each (sensor, metric, window). */
  recentWindows: Schema.Array(WindowResult),
  /** The device's alarms raised now, with the event that raised each. */
  alarms: Schema.Array(AlarmEvent),
  /** The predicted mean of each metric's next window. */
  forecasts: Schema.Array(Forecast),
  /** Whether the aggregator actor is in memory (false: passivated or never seen since start). */
  live: Schema.Boolean,
  /** How the device's clock compares with the log's: the time JetStream stored its latest
   * reading minus that reading's event time (ms). A little above 0: transit. Negative: its
   * clock runs ahead. Large: it runs behind, or the reading waited in a buffer. */
  clockSkewMs: Schema.optionalKey(Schema.Finite)
})
export type DeviceState = typeof DeviceState.Type

/** One (device, sensor) the log has readings of. */
export const DeviceSummary = Schema.Struct({
  device: Schema.String,
  sensor: Schema.String,
  partition: Count,
  owner: Schema.NullOr(Schema.String),
  /** Event time of the latest reading. */
  ts: Schema.Finite,
  values: Schema.Record(Schema.String, Schema.Finite)
})
export type DeviceSummary = typeof DeviceSummary.Type

/** `devices`: every device in READINGS with its latest reading. */
export const DevicesReply = Schema.Struct({ devices: Schema.Array(DeviceSummary) })
export type DevicesReply = typeof DevicesReply.Type

/** `alarms`: the latest event of each (device, rule), raised ones only unless `all`. */
export const AlarmsReply = Schema.Struct({ alarms: Schema.Array(AlarmEvent) })
export type AlarmsReply = typeof AlarmsReply.Type

/** `restart`. */
export const RestartReply = Schema.Struct({
  node: Schema.String,
  actor: Schema.String,
  message: Schema.String
})
export type RestartReply = typeof RestartReply.Type

/** `config-show`: the cluster file this node runs, as decoded (secrets are only ever
 * referenced by environment variable or file name, never held in it). */
export const ConfigShowReply = Schema.Struct({
  node: Schema.String,
  config: Schema.Unknown
})
export type ConfigShowReply = typeof ConfigShowReply.Type

/** `config-validate`. */
export const ConfigValidateReply = Schema.Struct({
  valid: Schema.Boolean,
  /** A summary when valid; every problem with its path and line when not. */
  message: Schema.String
})
export type ConfigValidateReply = typeof ConfigValidateReply.Type

export const MemberState = Schema.Literals(["alive", "suspect", "down"])

/**
 * One node of the cluster as membership sees it. The fields after `partitions` are what
 * operators watch during a failover (`bramble members`); a view without membership (a node
 * alone, without leases) and nodes older than them leave them out.
 */
export const MemberInfo = Schema.Struct({
  node: Schema.String,
  state: MemberState,
  /** Last heartbeat seen (ms since the epoch); absent when never seen. */
  lastSeen: Schema.optionalKey(Schema.Finite),
  /** The node's dashboard and `/metrics`, when it serves them. */
  http: Schema.optionalKey(Schema.String),
  /** Partitions it holds leases for. */
  partitions: Schema.Array(Count),
  /** Unique per process start: tells a restarted node from its previous life. */
  incarnation: Schema.optionalKey(Schema.String),
  /** When that process started (ms since the epoch). */
  startedAt: Schema.optionalKey(Schema.Finite),
  /** Since its last heartbeat arrived at the answering node (ms). */
  heartbeatAgeMs: Schema.optionalKey(Schema.Finite),
  natsUrl: Schema.optionalKey(Schema.String),
  mqttUrl: Schema.optionalKey(Schema.String)
})
export type MemberInfo = typeof MemberInfo.Type

/** `members`: every member, as the answering node sees them. */
export const MembersReply = Schema.Struct({
  members: Schema.Array(MemberInfo),
  /** The node that answered. */
  answeredBy: Schema.optionalKey(Schema.String),
  /** When it answered (ms since the epoch). */
  at: Schema.optionalKey(Schema.Finite),
  /** Whether the answering node's view is fresh enough to move partitions on (it sees its
   * own heartbeats come back); partitions do not move on a stale view. */
  fresh: Schema.optionalKey(Schema.Boolean)
})
export type MembersReply = typeof MembersReply.Type

/**
 * One partition's lease. The fields after `expiresAt` are what the `partitions` call adds to
 * the lease for operators (`bramble partitions`): absent in the dashboard's partition map and
 * from a view without leases.
 */
export const PartitionOwner = Schema.Struct({
  partition: Count,
  /** The lease holder; null while unowned (rebalancing, or its owner died). */
  owner: Schema.NullOr(Schema.String),
  /** Lease revision in the KV bucket, when leases are in use. */
  revision: Schema.optionalKey(Count),
  /** When the lease expires unless renewed. */
  expiresAt: Schema.optionalKey(Schema.Finite),
  /** The holder's incarnation (a restarted node is a new one). */
  incarnation: Schema.optionalKey(Schema.String),
  /** Since the holder claimed it (the holder's clock). */
  leaseAgeMs: Schema.optionalKey(Schema.Finite),
  /** Since the last renewal was stored (the server's clock). */
  renewedAgoMs: Schema.optionalKey(Schema.Finite),
  /** Who should own it by the answering node's view of the members; null when nobody. */
  target: Schema.optionalKey(Schema.NullOr(Schema.String)),
  /** Messages of the partition not yet delivered to its owner. */
  pending: Schema.optionalKey(Count),
  /** Delivered, not yet checkpointed and acknowledged. */
  ackPending: Schema.optionalKey(Count)
})
export type PartitionOwner = typeof PartitionOwner.Type

/** `partitions`: the lease of every partition, in partition order. */
export const PartitionsReply = Schema.Struct({
  partitions: Count,
  owners: Schema.Array(PartitionOwner),
  /** The node that answered. */
  answeredBy: Schema.optionalKey(Schema.String),
  /** When it answered (ms since the epoch). */
  at: Schema.optionalKey(Schema.Finite)
})
export type PartitionsReply = typeof PartitionsReply.Type

// ---------------------------------------------------------------------------------------
// Calls and subjects

/** One admin call: its endpoint name and the Schemas of its request and reply. */
export interface AdminCall<Req, Rep> {
  /** Endpoint name: the last subject token. */
  readonly name: string
  readonly request: Schema.Codec<Req, unknown>
  readonly reply: Schema.Codec<Rep, unknown>
  /** Also answered cluster-wide on `bramble.admin.<name>` by any node. */
  readonly clusterWide: boolean
}

const call = <Req, Rep>(
  name: string,
  request: Schema.Codec<Req, unknown>,
  reply: Schema.Codec<Rep, unknown>,
  clusterWide = false
): AdminCall<Req, Rep> => ({ name, request, reply, clusterWide })

/** Every admin call. */
export const AdminCalls = {
  status: call("status", NoParams, NodeStatus),
  actors: call("actors", NoParams, ActorsReply),
  restart: call("restart", RestartRequest, RestartReply),
  configShow: call("config-show", NoParams, ConfigShowReply),
  configValidate: call("config-validate", ConfigValidateRequest, ConfigValidateReply),
  device: call("device", DeviceRequest, DeviceState, true),
  devices: call("devices", NoParams, DevicesReply, true),
  alarms: call("alarms", AlarmsRequest, AlarmsReply, true),
  ack: call("ack", AckRequest, AckReply, true),
  members: call("members", NoParams, MembersReply, true),
  partitions: call("partitions", NoParams, PartitionsReply, true)
} as const

/** The NATS micro-service every node registers (`nats micro ls` lists it). */
export const ADMIN_SERVICE = "bramble"

/** Prefix of every admin subject. */
export const ADMIN_PREFIX = "bramble.admin"

/** One node's endpoint: `bramble.admin.<node>.<call>`. */
export const adminNodeSubject = (node: string, callName: string): string => `${ADMIN_PREFIX}.${node}.${callName}`

/** The cluster-wide endpoint, answered by any node: `bramble.admin.<call>`. */
export const adminClusterSubject = (callName: string): string => `${ADMIN_PREFIX}.${callName}`

/** Queue group of the cluster-wide endpoints: one node answers each request. */
export const ADMIN_QUEUE = "bramble-admin"

/** Every subject of the NATS micro-services API (`nats micro`: ping, info, stats). */
export const SERVICE_API_SUBJECTS = "$SRV.>"

/** The discovery subjects of the admin service: `$SRV.PING.bramble` and `$SRV.PING.bramble.<id>`. */
export const ADMIN_DISCOVERY_SUBJECTS = [`$SRV.PING.${ADMIN_SERVICE}`, `$SRV.PING.${ADMIN_SERVICE}.*`] as const
