/**
 * @bramble/cluster — a Bramble node: partition workers, checkpoints, the admin actor, and
 * the `bramble` command line (src/bin/bramble.ts).
 */
export * from "./node/Admin.js"
export * from "./node/Node.js"
export * from "./partition/Checkpoints.js"
export * from "./partition/PartitionStats.js"
export * from "./partition/PartitionWorker.js"
export { VERSION } from "./Version.js"
