import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { Ajv2020 } from "ajv/dist/2020.js"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { parse } from "yaml"
import { clusterConfigJsonSchema, clusterFileTemplate, parseClusterConfig } from "@bramble/config"
import { EVERYTHING, TYPO_FILE } from "./fixtures.js"

const root = join(import.meta.dirname, "../../..")

/** The cluster files the repository shows people: golden deploy files, complete README examples. */
const examples = (): Array<[string, string]> => {
  const files: Array<[string, string]> = ["three-node.cluster.yaml", "three-node-secure.cluster.yaml"].map((name) => {
    const file = join(root, "deploy/test/golden", name)
    return [file, readFileSync(file, "utf8")]
  })
  for (const doc of ["README.md", "deploy/README.md"]) {
    const text = readFileSync(join(root, doc), "utf8")
    for (const [i, block] of [...text.matchAll(/```ya?ml\n([\s\S]*?)```/g)].map((m) => m[1]!).entries()) {
      if (/^nodes:/m.test(block) && /^sink:/m.test(block)) files.push([`${doc} yaml block ${i}`, block])
    }
  }
  for (const nodes of [1, 3]) {
    for (const sink of ["influx-v2", "influx-v1"] as const) {
      files.push([`config init --nodes ${nodes} --sink ${sink}`, clusterFileTemplate({ nodes, sink, simulate: nodes === 1 })])
    }
  }
  files.push(["every section and kind", EVERYTHING])
  return files
}

describe("cluster file - JSON Schema for editors", () => {
  const ajv = new Ajv2020({ allErrors: true, strict: false })
  const validate = ajv.compile(clusterConfigJsonSchema())

  it("schema - accepts every example cluster file in the repository (which the loader accepts too)", () => {
    const all = examples()
    assert.isAtLeast(all.length, 7)
    for (const [name, text] of all) {
      assert.isTrue(Result.isSuccess(parseClusterConfig(text)), `${name} is valid for the loader`)
      assert.isTrue(validate(parse(text)), `${name}: ${JSON.stringify(validate.errors)}`)
    }
  })

  it("schema - refuses the typo file at the three unknown keys", () => {
    assert.isFalse(validate(parse(TYPO_FILE)))
    const unknown = (validate.errors ?? [])
      .filter((e) => e.keyword === "additionalProperties")
      .map((e) => `${e.instancePath}/${String(e.params["additionalProperty"])}`)
    assert.includeMembers(unknown, ["/rule", "/sensors/0/intervall", "/sink/tokn"])
  })

  it("template - config init writes a valid file for every option", () => {
    for (const nodes of [1, 2, 5]) {
      for (const sink of ["influx-v2", "influx-v1"] as const) {
        for (const simulate of [true, false]) {
          const result = parseClusterConfig(clusterFileTemplate({ nodes, sink, simulate }))
          assert.isTrue(Result.isSuccess(result), `${nodes} ${sink} ${simulate}: ${Result.isFailure(result) ? result.failure.message : ""}`)
          const config = Result.getOrThrow(result)
          assert.strictEqual(config.nodes.length, nodes)
          assert.strictEqual(config.sink.kind, sink)
          assert.isTrue(config.sensors.every((s) => s.kind === (simulate ? "simulated-dht22" : "dht22")))
        }
      }
    }
  })
})
