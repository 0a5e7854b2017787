/**
 * The client of a running cluster: what `bramble`'s commands use to ask the nodes (the admin
 * calls over NATS request-reply), to read a node's health from its status, and to read
 * readings back from the log. The CLI reaches a node only through this module; the node uses
 * it too, to ask its peers.
 */
export { adminRequest, AdminRequestFailed, callCluster, callNode, decodeAdminReply, encodeAdminRequest } from "./AdminClient.js"
export { failingText, type Health, healthOf, LAG_DEGRADED } from "./Health.js"
export { type StoredMessage, storedReading, storedReadings } from "./StoredReading.js"
