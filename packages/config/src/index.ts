/**
 * @bramble/config — the cluster file: its Schema, the loader, and error messages that name
 * the path and the reason; its JSON Schema for editors and a commented starting file.
 */
export * from "./ClusterConfig.js"
export * from "./ConfigError.js"
export * from "./FieldInputs.js"
export * from "./IngestChecks.js"
export * from "./IngestRoute.js"
export * from "./JsonSchema.js"
export * from "./ExprRules.js"
export * from "./Loader.js"
export * from "./RoutePattern.js"
export * from "./RuleExpression.js"
export * from "./Template.js"
export * from "./Units.js"
/** Did-you-mean for a mistyped name, as the cluster file's errors use it (the CLI too). */
export { didYouMean } from "./internal/problems.js"
export * from "./LiveConfig.js"
