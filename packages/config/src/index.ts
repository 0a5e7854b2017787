/**
 * @bramble/config — the cluster file: its Schema, the loader, and error messages that name
 * the path and the reason.
 */
export * from "./ClusterConfig.js"
export * from "./ConfigError.js"
export * from "./Loader.js"
export * from "./Units.js"
