/**
 * The lab runs each node's rendered unit as systemd would (../support/net/SystemdService.ts):
 * the command line it starts must be the one systemd would start from the same files.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { renderNodeUnit } from "@bramble/deploy"
import { expandExecStart, parseEnvFile, readServiceUnit } from "../support/net/SystemdService.js"

describe("systemd unit, as the lab runs it", () => {
  it("expands ${VAR} inside a word and $VAR as words split on spaces, as systemd does", () => {
    const env = { CONFIG: "/etc/bramble/cluster.yaml", ARGS: "--simulate  --ownership-log /x.jsonl", EMPTY: "" }
    assert.deepStrictEqual(expandExecStart("/bin/bramble node --config ${CONFIG} $ARGS $EMPTY", env), [
      "/bin/bramble", "node", "--config", "/etc/bramble/cluster.yaml", "--simulate", "--ownership-log", "/x.jsonl"
    ])
  })

  it("reads the rendered bramble-node.service: env file values override the unit's, ExecStart and restart policy follow", () => {
    const dir = mkdtempSync(join(tmpdir(), "bramble-unit-"))
    const envPath = join(dir, "bramble.env")
    writeFileSync(envPath, "# comment\nBRAMBLE_NODE=pi-2\nINFLUX_TOKEN=\"secret\"\nBRAMBLE_NODE_ARGS=--simulate\n")
    const unit = readServiceUnit(renderNodeUnit({ node: "pi-1", binPath: "/opt/bramble", configPath: join(dir, "cluster.yaml"), envPath, dataDir: "/var/lib/bramble" }))
    assert.deepStrictEqual(unit.argv, ["/opt/bramble", "node", "--config", join(dir, "cluster.yaml"), "--node", "pi-2", "--simulate"])
    assert.strictEqual(unit.env["INFLUX_TOKEN"], "secret")
    assert.strictEqual(unit.env["NODE_OPTIONS"], "--max-old-space-size=768 --max-semi-space-size=4")
    assert.isTrue(unit.restartOnFailure)
    assert.strictEqual(unit.restartSecMs, 2_000)
    assert.strictEqual(unit.workingDirectory, "/var/lib/bramble")
  })

  it("an env file line without = is ignored, quotes are stripped, nothing is expanded", () => {
    assert.deepStrictEqual(parseEnvFile("A=1\nnot a line\nB='$A'\n"), { A: "1", B: "$A" })
  })
})
