/**
 * A PUBACKed MQTT reading whose READINGS copy never arrived is put back from nats-server's own
 * `$MQTT_msgs` stream (cluster/src/partition/MqttRecovery.ts), against a real `bramble node`.
 *
 * The loss is made the way a broken route makes it, deterministically: READINGS stops taking
 * the device's partition for a while (its subjects updated to leave that partition out), so a
 * QoS 1 publish is stored in `$MQTT_msgs` and PUBACKed while its routed copy finds no stream —
 * exactly nats-server 2.9's behaviour when the route to the READINGS leader is down. Then
 * READINGS takes the partition again and the device goes on publishing.
 *
 * Expected: every PUBACKed reading in the database exactly once, the gap reported and then
 * filled, the recovery counted in `bramble status`; windows as if nothing was lost.
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { assert, describe, it } from "@effect/vitest"
import { Subjects } from "@bramble/protocol"
import { Effect } from "effect"
import { checkExactlyOnce, makeReadings, publishMqtt, readRawPoints, waitFor } from "../support/index.js"
import { readDeadLetters } from "../support/DeadLetters.js"
import { promise, startNodeOnVictoria, WAIT_MS, withNodeLog } from "../support/SystemTest.js"

const DEVICE = "recover-me"

describe("MQTT recovery - bramble node", () => {
  it.live("readings nats-server PUBACKed but never copied into READINGS are recovered from $MQTT_msgs, stored once, and counted", () =>
    Effect.gen(function*() {
      const { node, db } = yield* startNodeOnVictoria("bramble-mqtt-recovery-")
      yield* withNodeLog(node, Effect.gen(function*() {
        const partition = Subjects.partitionOfDevice(DEVICE, node.partitions)
        const readings = makeReadings({ devices: [DEVICE], perDevice: 30, startMs: Date.now() - 60_000, stepMs: 1_000, seqStart: 1 })
        const [before, lost, after] = [readings.slice(0, 10), readings.slice(10, 20), readings.slice(20)]

        const first = yield* promise(() => publishMqtt(node.mqttUrl, before, { qos: 1 }))
        assert.strictEqual(first.acknowledged.length, before.length)
        // The partition's recovery consumer exists once the worker saw MQTT's stream.
        const nc = yield* Effect.acquireRelease(promise(() => connect({ servers: node.natsUrl })), (c) => promise(() => c.close()))
        const jsm = yield* promise(() => jetstreamManager(nc))
        yield* promise(() =>
          waitFor(() => jsm.consumers.info("$MQTT_msgs", `bramble-mqtt-p${partition}`).then(() => true, () => false), {
            until: (ok) => ok,
            timeoutMs: WAIT_MS,
            label: `consumer bramble-mqtt-p${partition} on $MQTT_msgs`
          })
        )

        // READINGS stops taking the device's partition: its copies find no stream.
        const info = yield* promise(() => jsm.streams.info(Subjects.Streams.readings))
        const others = Array.from({ length: node.partitions }, (_, p) => p).filter((p) => p !== partition).map(Subjects.partitionFilter)
        yield* promise(() => jsm.streams.update(Subjects.Streams.readings, { ...info.config, subjects: others }))
        const during = yield* promise(() => publishMqtt(node.mqttUrl, lost, { qos: 1 }))
        assert.strictEqual(during.acknowledged.length, lost.length, "nats-server PUBACKs what it stored in $MQTT_msgs")
        yield* promise(() => jsm.streams.update(Subjects.Streams.readings, { ...info.config, subjects: [...Subjects.READINGS_SUBJECTS] }))
        const last = yield* promise(() => publishMqtt(node.mqttUrl, after, { qos: 1 }))
        assert.strictEqual(last.acknowledged.length, after.length)

        const stored = yield* promise(() =>
          waitFor(async () => (await readRawPoints(db)).filter((p) => p.device === DEVICE), {
            until: (points) => points.length >= readings.length,
            timeoutMs: WAIT_MS,
            intervalMs: 500,
            show: (points) => `${points.length}/${readings.length}`,
            label: "every PUBACKed reading stored"
          })
        )
        const check = checkExactlyOnce(readings, stored)
        assert.isTrue(check.ok, check.text)

        const gaps = (yield* promise(() => readDeadLetters(node.natsUrl))).flatMap((d) => (d.entry.gap === undefined ? [] : [d.entry.gap]))
        assert.deepStrictEqual(gaps.map((g) => `${g.device} ${g.first}..${g.last}`), [`${DEVICE} 11..20`])
        const status = yield* promise(() =>
          waitFor(() => node.status(), {
            until: (s) => (s.totals as { sequence?: { recovered?: number } }).sequence?.recovered === lost.length,
            timeoutMs: WAIT_MS,
            show: (s) => JSON.stringify((s.totals as { sequence?: unknown }).sequence),
            label: "status counts the recovered readings"
          })
        )
        const sequence = (status.totals as { sequence?: { missing?: number; lateFilled?: number } }).sequence
        assert.strictEqual(sequence?.missing, 0, JSON.stringify(sequence))
        assert.strictEqual(sequence?.lateFilled, lost.length, JSON.stringify(sequence))
      }))
    }).pipe(Effect.scoped), 300_000)
})
