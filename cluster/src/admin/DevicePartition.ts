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

const OFFSET_BASIS = 0x811c9dc5
const PRIME = 0x01000193
const utf8 = new TextEncoder()

/** FNV-1a, 32 bit, over the UTF-8 bytes of `text`. */
export const fnv1a32 = (text: string): number => {
  let hash = OFFSET_BASIS
  for (const byte of utf8.encode(text)) {
    hash ^= byte
    hash = Math.imul(hash, PRIME)
  }
  return hash >>> 0
}

/** The partition (0 … partitions-1) nats-server maps `device`'s readings to. */
export const partitionOfDevice = (device: string, partitions: number): number => fnv1a32(device) % partitions
