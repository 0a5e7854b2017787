/**
 * Changing the rules of a running 3-node bramble (docs/live-config.md), under a steady load
 * (1,000 readings/s through all three servers):
 *
 * - the cluster has version 1 (the first node published its file);
 * - a not-live change (the partition count) and an invalid file are refused by
 *   `bramble config apply`, and nothing is published; `--dry-run` shows the diff only;
 * - `config apply` publishes version 2 with a new threshold rule: every partition records the
 *   stream sequence from which it used version 2, every node reports version 2, and the alarms
 *   in ALARMS are exactly those the rule gives on the log from those positions on (an oracle
 *   running the same rule over READINGS, partition by partition);
 * - `config rollback 1` publishes version 3 (version 1's content): the rule's raised alarms are
 *   cleared as `rule removed`, and no alarm of it is raised from version 3's positions on;
 * - nothing lost, nothing doubled, windows equal the oracle's (cluster-harness.ts verify).
 */
import { assert, describe, it } from "@effect/vitest"
import { evaluateReading, type RulesState, type RuleSpec } from "@bramble/actor-aggregator"
import { startVictoriaMetrics } from "@bramble/deploy"
import { CHECKPOINT_BUCKET } from "@bramble/nats"
import { type Admin, Codec, Subjects } from "@bramble/protocol"
import { Kvm } from "@nats-io/kv"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { BRAMBLE_CLI, requestNodeStatus } from "../support/BrambleNode.js"
import { compareWindows, readStreamAlarms, readStreamReadings, readWindowResults, waitFor, type WindowRow } from "../support/index.js"
import { testDir } from "../support/SystemTest.js"
import { type FaultCluster, log, startFaultCluster, WAIT_MS, WINDOWS, withLogs } from "./cluster-harness.js"

const ALL = ["n1", "n2", "n3"]
/** Half the fault tests' load: the oracle reads every reading back; enough to raise hundreds of alarms. */
const RATE = 1_000
/** Generous for a 2-core machine shared with other runs (nothing here is a timing assertion). */
const TIMEOUT_MS = 900_000
const RULE = { kind: "threshold", name: "hot-load", metric: "temperature", above: 29.7 } as const

const cli = (args: ReadonlyArray<string>) =>
  promisify(execFile)(process.execPath, [BRAMBLE_CLI, ...args])
    .then((r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }))
    .catch((error: { stdout: string; stderr: string; code: number }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }))

interface Switch {
  readonly version: number
  readonly fromSeq: number
}


/** What both tests use on a running fault cluster. */
const tools = (fc: FaultCluster, dir: string) => {
  const checkpointed = () =>
    Effect.promise(async () => {
      const kv = await new Kvm(fc.nc).open(CHECKPOINT_BUCKET)
      const out = new Map<number, { readonly seq: number; readonly versions: ReadonlyArray<Switch> }>()
      for (let p = 0; p < fc.partitions; p++) {
        const entry = await kv.get(`part.${p}`)
        const value = entry === null || entry.length === 0 ? undefined : Codec.decode(entry.value) as { seq: number; versions?: ReadonlyArray<Switch> }
        out.set(p, { seq: value?.seq ?? 0, versions: value?.versions ?? [] })
      }
      return out
    })
  const url = fc.cluster.natsUrls[0]!
  const server = ["--server", url]
  const document = JSON.parse(readFileSync(fc.cluster.configFile, "utf8").replace(/^#.*\n/, "")) as Record<string, unknown>
  const write = (name: string, doc: Record<string, unknown>) => {
    const file = join(dir, name)
    writeFileSync(file, JSON.stringify(doc, null, 2))
    return file
  }
  const latestVersion = Effect.promise(async () => {
    const r = await cli(["config", "history", "--json", ...server])
    assert.strictEqual(r.code, 0, r.stderr)
    return (JSON.parse(r.stdout) as Array<{ version: number }>).at(-1)?.version
  })
  const switches = () => Effect.map(checkpointed(), (m) => new Map([...m].map(([p, c]) => [p, c.versions] as const)))
  const waitSwitched = (version: number) =>
    Effect.promise(() =>
      waitFor(() => Effect.runPromise(switches()), {
        until: (m) => [...m.values()].every((v) => v.some((s) => s.version === version)),
        timeoutMs: WAIT_MS,
        intervalMs: 500,
        show: (m) => [...m].map(([p, v]) => `${p}:${v.map((s) => `v${s.version}@${s.fromSeq}`).join(",")}`).join(" "),
        label: `every partition using version ${version}`
      })
    )
  const nodeVersions = () =>
    Effect.promise(async () => {
      const out: Record<string, number | undefined> = {}
      for (const node of ALL) {
        const status = await requestNodeStatus(url, node) as unknown as Admin.NodeStatus
        out[node] = status.config?.version
      }
      return out
    })

  return { url, server, document, write, latestVersion, checkpointed, switches, waitSwitched, nodeVersions }
}

describe("cluster - live config", () => {
  it.live("apply a rule under load: every partition switches at a recorded position, alarms match the log from there; rollback stops it; refusals change nothing", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-cluster-live-config-")
      const fc = yield* startFaultCluster({ dir })
      const { server, document, write, latestVersion, switches, waitSwitched, nodeVersions } = tools(fc, dir)
      yield* withLogs(fc, Effect.gen(function*() {
        yield* fc.waitBalanced(ALL, "start")
        assert.strictEqual(yield* latestVersion, 1, "the first node published its file as version 1")
        const load = yield* fc.startLoad({ ratePerSec: RATE })
        yield* Effect.sleep("4 seconds")

        // Refused: the partition count cannot change live; an invalid file is not published.
        const moreParts = yield* Effect.promise(() => cli(["config", "apply", write("parts.yaml", { ...document, cluster: { ...(document["cluster"] as object), partitions: 16 } }), ...server]))
        assert.strictEqual(moreParts.code, 1, moreParts.stdout + moreParts.stderr)
        assert.include(moreParts.stderr, "cluster: cannot change on a running cluster")
        assert.include(moreParts.stderr, "Nothing published")
        const invalid = yield* Effect.promise(() => cli(["config", "apply", write("typo.yaml", { ...document, rules: [{ ...RULE, abov: 3 }] }), ...server]))
        assert.strictEqual(invalid.code, 1, invalid.stdout + invalid.stderr)
        assert.include(invalid.stderr, "abov")
        const v2File = write("v2.yaml", { ...document, rules: [RULE] })
        const dry = yield* Effect.promise(() => cli(["config", "apply", "--dry-run", v2File, ...server]))
        assert.strictEqual(dry.code, 0, dry.stderr)
        assert.include(dry.stdout, "+  name: hot-load")
        assert.include(dry.stdout, "--dry-run: nothing published")
        assert.strictEqual(yield* latestVersion, 1, "nothing was published")

        // Version 2: the rule.
        const applied = yield* Effect.promise(() => cli(["config", "apply", v2File, ...server]))
        assert.strictEqual(applied.code, 0, applied.stderr)
        assert.include(applied.stdout, "Published version 2")
        yield* waitSwitched(2)
        yield* Effect.promise(() => waitFor(() => Effect.runPromise(nodeVersions()), { until: (v) => ALL.every((n) => v[n] === 2), timeoutMs: WAIT_MS, label: "every node on version 2" }))
        yield* log("every partition and node uses version 2")
        yield* Effect.sleep("8 seconds")

        // Version 3: back to version 1's content.
        const rolled = yield* Effect.promise(() => cli(["config", "rollback", "1", ...server]))
        assert.strictEqual(rolled.code, 0, rolled.stderr)
        assert.include(rolled.stdout, "Published version 3")
        yield* waitSwitched(3)
        yield* Effect.sleep("3 seconds")
        const summary = yield* fc.verify(load)
        yield* log(summary)

        // The alarms of the rule are exactly what it gives on the log between each
        // partition's version-2 and version-3 positions.
        const at = yield* switches()
        const from = (p: number, version: number) => at.get(p)!.find((s) => s.version === version)!.fromSeq
        const readings = yield* Effect.promise(() => readStreamReadings(fc.cluster.natsUrls, Subjects.Streams.readings))
        const rules: ReadonlyArray<RuleSpec> = [RULE]
        const states = new Map<string, RulesState>()
        const expected: Array<string> = []
        const raisedAtSwitch = new Set<string>()
        for (const r of [...readings].sort((a, b) => a.streamSeq - b.streamSeq)) {
          if (r.streamSeq < from(r.partition, 2)) continue
          const state = states.get(r.device) ?? {}
          states.set(r.device, state)
          if (r.streamSeq >= from(r.partition, 3)) {
            if (state[RULE.name]?.raised === true) raisedAtSwitch.add(r.device)
            delete state[RULE.name]
            continue
          }
          for (const e of evaluateReading(rules, state, r.device, r.values, r.ts, undefined)) expected.push(`${e.device} ${e.state} ${e.at} ${e.value}`)
        }
        // A device whose last reading before version 3 left the alarm raised and that sent
        // none since is cleared at the next watermark advance: counted as well.
        for (const [device, state] of states) if (state[RULE.name]?.raised === true) raisedAtSwitch.add(device)
        const alarms = (yield* Effect.promise(() => readStreamAlarms(fc.cluster.natsUrls))).filter((a) => a.rule === RULE.name)
        const removed = alarms.filter((a) => a.state === "cleared" && a.message.includes("rule removed"))
        const fromReadings = alarms.filter((a) => !a.message.includes("rule removed")).map((a) => `${a.device} ${a.state} ${a.at} ${a.value}`)
        assert.isAbove(expected.length, 0, "the rule raised alarms under the load")
        assert.deepStrictEqual([...fromReadings].sort(), [...expected].sort())
        assert.deepStrictEqual(removed.map((a) => a.device).sort(), [...raisedAtSwitch].sort())
        yield* log(`${expected.length} alarm events from the rule between the switches, ${removed.length} cleared as removed by the rollback`)
        assert.deepStrictEqual(yield* nodeVersions(), { n1: 3, n2: 3, n3: 3 })
      }))
    }), { timeout: TIMEOUT_MS })

  it.live("kill -9 a node during an apply: the survivors switch its partitions over, it runs the current version after its restart, nothing lost or doubled, windows equal the log's and a replay's into a second database", () =>
    Effect.gen(function*() {
      const dir = yield* testDir("bramble-cluster-live-config-kill-")
      const fc = yield* startFaultCluster({ dir })
      const { server, document, write, checkpointed, waitSwitched, nodeVersions } = tools(fc, dir)
      yield* withLogs(fc, Effect.gen(function*() {
        yield* fc.waitBalanced(ALL, "start")
        const load = yield* fc.startLoad({ ratePerSec: RATE })
        const loadFrom = Date.now()
        yield* Effect.sleep("4 seconds")
        const before = yield* checkpointed()

        // Publish version 2, and kill n2 as it switches over.
        const applied = yield* Effect.promise(() => cli(["config", "apply", write("v2.yaml", { ...document, rules: [RULE] }), ...server]))
        assert.strictEqual(applied.code, 0, applied.stderr)
        const killedAt = Date.now()
        yield* fc.cluster.node("n2")!.process.signal("SIGKILL")
        yield* fc.waitResumed(killedAt, "after SIGKILL of n2 during the apply", "n2")
        yield* waitSwitched(2)
        yield* log("every partition uses version 2, n2's moved ones included")

        // n2 comes back with its (older) file: it runs the cluster's version 2.
        yield* Effect.sleep("3 seconds")
        yield* fc.cluster.node("n2")!.process.start
        yield* fc.waitBalanced(ALL, "n2 restarted")
        yield* Effect.promise(() => waitFor(() => Effect.runPromise(nodeVersions()), { until: (v) => ALL.every((n) => v[n] === 2), timeoutMs: WAIT_MS, label: "every node on version 2 after n2's restart" }))
        yield* Effect.sleep("3 seconds")
        // Exactly once, and every window equal to the oracle's computation over the log (what
        // a replay computes), the partitions that moved during the apply included.
        yield* log(yield* fc.verify(load))

        // The rule fired, and never for a reading that was processed before the apply.
        const readings = yield* Effect.promise(() => readStreamReadings(fc.cluster.natsUrls, Subjects.Streams.readings))
        const seqOf = new Map(readings.map((r) => [`${r.device} ${r.ts}`, r] as const))
        const raised = (yield* Effect.promise(() => readStreamAlarms(fc.cluster.natsUrls))).filter((a) => a.rule === RULE.name && a.state === "raised")
        assert.isAbove(raised.length, 0, "the rule raised alarms")
        for (const a of raised) {
          const r = seqOf.get(`${a.device} ${a.at}`)
          assert.isDefined(r, `the reading that raised ${a.device} at ${a.at}`)
          assert.isAbove(r!.streamSeq, before.get(r!.partition)!.seq, `${a.device} at ${a.at}: raised by a reading checkpointed before the apply`)
        }
        yield* log(`${raised.length} raises of the new rule, none from before the apply`)

        // `bramble replay` of the range into a second database gives the windows stored live.
        const from = Math.ceil((loadFrom + 2_000) / 5_000) * 5_000
        const to = Math.floor((Date.now() - 5_000) / 5_000) * 5_000
        const second = yield* startVictoriaMetrics({ dir: join(dir, "replay-db") })
        const replayFile = write("replay.yaml", { ...document, sink: { ...(document["sink"] as object), url: second.url } })
        const replay = yield* Effect.promise(() => cli(["replay", "--config", replayFile, "--from", String(from), "--to", String(to), "--server", fc.cluster.natsUrls[0]!]))
        assert.strictEqual(replay.code, 0, replay.stdout + replay.stderr)
        const size = new Map<string, number>(WINDOWS.map((w) => [w.name, w.size]))
        const inRange = (w: WindowRow) => w.start >= from && w.start + size.get(w.window)! <= to
        const live = (yield* Effect.promise(() => readWindowResults({ kind: "victoria-metrics", url: fc.cluster.db.url }))).filter(inRange)
        assert.isAbove(live.length, 0)
        const replayed = yield* Effect.promise(() =>
          waitFor(() => readWindowResults({ kind: "victoria-metrics", url: second.url }), {
            until: (rows) => compareWindows(live, rows.filter(inRange)).ok,
            timeoutMs: WAIT_MS,
            intervalMs: 1_000,
            show: (rows) => compareWindows(live, rows.filter(inRange)).text.split("\n").slice(0, 6).join(" | "),
            label: "the replayed windows equal the live ones"
          })
        )
        yield* log(`replay of ${to - from} ms into a second database: ${replayed.filter(inRange).length} windows, equal to the ${live.length} stored live`)
      }))
    }), { timeout: TIMEOUT_MS })
})
