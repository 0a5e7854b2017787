/**
 * The admin actor of a node, as the package exports it. The implementation lives in
 * `cluster/src/admin/` (service, queries, registry, membership view), the client that calls
 * it in `cluster/src/client/`, the dashboard and `/api/v1` in `cluster/src/http/`, `/metrics`
 * in `cluster/src/metrics/`; the protocol (Schemas, subjects) in `@bramble/protocol` `Admin`.
 */
export { type ActorRegistry, makeActorRegistry } from "../admin/ActorRegistry.js"
export {
  adminRequest,
  AdminRequestFailed,
  callCluster,
  callNode,
  decodeAdminReply,
  encodeAdminRequest
} from "../client/AdminClient.js"
export { type AdminService, type AdminServiceOptions, decodeAdminRequest, serveAdmin } from "../admin/AdminService.js"
export { fnv1a32, partitionOfDevice } from "../admin/DevicePartition.js"
export { type ClusterView, singleNodeView } from "../admin/ClusterView.js"
export { type AdminNode, nodeStatus } from "../admin/NodeStatus.js"
export { type Health, healthOf } from "../client/Health.js"
export { type ClusterOverview, clusterOverview } from "../http/dashboard/ClusterOverview.js"
export { type NodeHttpOptions, serveNodeHttp } from "../http/NodeHttp.js"
export { logFormat, logLevel, nodeLoggerLayer } from "../metrics/NodeLogger.js"
export { type MetricFamily, renderPrometheus } from "../metrics/Prometheus.js"
