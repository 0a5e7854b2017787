/**
 * Which partition a device's readings go to, computed the way nats-server computes it.
 *
 * The ingest mapping (`{{partition(N,1)}}` on the device token, Subjects.partitionMapping)
 * decides the partition inside the server: FNV-1a (32 bit) over the token's bytes, modulo N
 * (nats-server `subject_transform.go`, `getHashPartition`). The admin actor needs the same
 * answer without publishing anything, to send a device query to the partition's owner. A
 * test checks it against a real nats-server, so a server that changed its hash would be
 * noticed.
 */

import { Subjects } from "@bramble/protocol"

export const fnv1a32 = Subjects.fnv1a32
export const partitionOfDevice = Subjects.partitionOfDevice
