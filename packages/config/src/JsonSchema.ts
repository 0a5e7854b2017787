/**
 * The cluster file as a JSON Schema (draft 2020-12), generated from the same Effect Schema
 * that decodes it, so an editor (the YAML language server's
 * `# yaml-language-server: $schema=…`) completes keys and flags typos as they are typed.
 * It is a first check only: units, cross-field rules and patterns are the loader's.
 */
import { Schema } from "effect"
import { ClusterConfig } from "./ClusterConfig.js"

/** The JSON Schema of a cluster file; unknown keys are refused, as the loader refuses them. */
export const clusterConfigJsonSchema = (): Record<string, unknown> => {
  const document = Schema.toJsonSchemaDocument(ClusterConfig, { onExcessProperty: "error" })
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "Bramble cluster file",
    description: "Every node, sensor, window, rule and sink of a bramble. Check it with `bramble config validate FILE`.",
    ...document.schema,
    ...(Object.keys(document.definitions).length > 0 ? { $defs: document.definitions } : {})
  }
}
