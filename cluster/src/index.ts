/**
 * @bramble/cluster — a Bramble node: membership, partition leases and fencing, partition
 * workers, checkpoints, the admin actor, and the `bramble` command line (src/bin/bramble.ts).
 */
export * from "./node/Admin.js"
export * from "./node/Node.js"
export * from "./membership/Membership.js"
export * from "./ownership/Assignment.js"
export * from "./ownership/Fence.js"
export * from "./ownership/LeaseKeeper.js"
export * from "./ownership/LeaseTiming.js"
export * from "./ownership/OwnedPorts.js"
export * from "./ownership/Ownership.js"
export * from "./ownership/OwnershipLog.js"
export * from "./partition/Checkpoints.js"
export * from "./partition/PartitionStats.js"
export * from "./partition/PartitionWorker.js"
export { VERSION } from "@bramble/protocol"
