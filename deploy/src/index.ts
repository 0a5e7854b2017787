/**
 * @bramble/deploy — how Bramble's servers are configured and run: nats-server config
 * rendering, supervised child processes, and launchers for real servers on loopback
 * (nats-server, VictoriaMetrics, InfluxDB 1.x) used by the node, `bramble demo`, the
 * system tests and the benchmarks.
 */
export {
  INGEST_SUBJECT_PATTERN,
  ingestPartitionMapping,
  natsByteSize,
  type NatsServerConfSpec,
  quoteNatsString,
  renderNatsServerConf
} from "./nats/NatsServerConf.js"
export {
  type NatsAuthorizationSpec,
  type NatsConnectionType,
  type NatsSubjectRules,
  type NatsTlsSpec,
  type NatsUserSpec
} from "./nats/NatsServerConf.js"
export {
  NATS_AUTH_TIMEOUT_SECONDS,
  NATS_MAX_PAYLOAD,
  NATS_TLS_TIMEOUT_SECONDS,
  natsSpecForNode,
  type NatsSpecOptions,
  natsUrlForNode,
  nodeDataDir
} from "./nats/NodeNatsSpec.js"
export * from "./security/index.js"

export {
  describeExit,
  type ManagedProcess,
  type ManagedProcessOptions,
  makeManagedProcess,
  type ProcessExit,
  type ProcessStatus,
  type Readiness,
  restartDelay,
  type RestartPolicy,
  START_MARKER
} from "./process/ManagedProcess.js"
export { ProcessError, type ProcessErrorReason } from "./process/ProcessError.js"
export { isProcessAlive } from "./process/internal/platform.js"

export { freePort, freePorts } from "./local/freePort.js"
export { scopedTempDir } from "./local/TempDir.js"
export {
  type RunningNatsServer,
  type NatsHealthCheck,
  startNatsServer,
  type StartNatsServerOptions
} from "./nats/NatsServerProcess.js"
export * from "./local/LeafSite.js"
export {
  type LocalVictoriaMetrics,
  startVictoriaMetrics,
  type StartVictoriaMetricsOptions
} from "./local/LocalVictoriaMetrics.js"
export {
  DEV_CLUSTER_STATE,
  type DevCluster,
  type DevClusterOptions,
  type DevClusterState,
  type DevNode,
  type DevNodeInfo,
  type DevServer,
  readDevClusterState,
  startDevCluster,
  startNatsCluster,
  stopDevCluster
} from "./local/DevCluster.js"
export {
  type InfluxDb1ConfSpec,
  type LocalInfluxDb1,
  renderInfluxDb1Conf,
  startInfluxDb1,
  type StartInfluxDb1Options
} from "./local/LocalInfluxDb1.js"
export * from "./render/index.js"
